use crate::tensor_ops::cpu_kernels::UnaryDerivative;
use num_traits::Float;

impl<F: Float + 'static> UnaryDerivative<F> for super::ExpKernelOp {
    const DF_USES_FX: bool = true;
    const HAS_CONST_DF: bool = false;
    #[inline(always)]
    fn f(&self, x: &F) -> F {
        x.exp()
    }
    /// Patch (ebm): vectorised loops for `f32` and `f64`.
    #[inline(always)]
    fn f_slice(&self, xs: &mut [F]) {
        use crate::tensor_ops::utilities::cpu_fast as fast;
        if let Some(xs) = fast::as_f64_mut(xs) {
            return fast::exp_f64_slice(xs);
        }
        match fast::as_f32_mut(xs) {
            Some(xs) => fast::exp_f32_slice(xs),
            None => {
                for x in xs.iter_mut() {
                    *x = self.f(x);
                }
            }
        }
    }
    #[inline(always)]
    fn df(&self, &fx: &F) -> F {
        fx
    }
}
