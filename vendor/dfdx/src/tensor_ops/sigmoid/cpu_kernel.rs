use crate::tensor_ops::cpu_kernels::UnaryDerivative;

impl<F: num_traits::Float + 'static> UnaryDerivative<F> for super::SigmoidKernelOp {
    const DF_USES_FX: bool = true;
    const HAS_CONST_DF: bool = false;
    #[inline(always)]
    fn f(&self, x: &F) -> F {
        F::one() / (F::one() + x.neg().exp())
    }
    /// Patch (ebm): a vectorised loop for `f32`.
    #[inline(always)]
    fn f_slice(&self, xs: &mut [F]) {
        match crate::tensor_ops::utilities::cpu_fast::as_f32_mut(xs) {
            Some(xs) => crate::tensor_ops::utilities::cpu_fast::sigmoid_f32_slice(xs),
            None => {
                for x in xs.iter_mut() {
                    *x = self.f(x);
                }
            }
        }
    }
    #[inline(always)]
    fn df(&self, &fx: &F) -> F {
        fx * (F::one() - fx)
    }
}
