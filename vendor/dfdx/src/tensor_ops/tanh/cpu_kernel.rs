use crate::tensor_ops::cpu_kernels::UnaryDerivative;

impl<F: num_traits::Float + 'static> UnaryDerivative<F> for super::TanhKernelOp {
    const DF_USES_FX: bool = true;
    const HAS_CONST_DF: bool = false;
    #[inline(always)]
    fn f(&self, x: &F) -> F {
        x.tanh()
    }
    /// Patch (ebm): a vectorised loop for `f32`.
    #[inline(always)]
    fn f_slice(&self, xs: &mut [F]) {
        match crate::tensor_ops::utilities::cpu_fast::as_f32_mut(xs) {
            Some(xs) => crate::tensor_ops::utilities::cpu_fast::tanh_f32_slice(xs),
            None => {
                for x in xs.iter_mut() {
                    *x = self.f(x);
                }
            }
        }
    }
    #[inline(always)]
    fn df(&self, fx: &F) -> F {
        F::one() - fx.powi(2)
    }
}
