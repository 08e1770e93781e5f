use crate::tensor_ops::cpu_kernels::UnaryDerivative;
use num_traits::Float;

impl<F: Float + 'static> UnaryDerivative<F> for super::LnKernelOp {
    const DF_USES_FX: bool = false;
    const HAS_CONST_DF: bool = false;
    #[inline(always)]
    fn f(&self, x: &F) -> F {
        x.ln()
    }
    /// Patch (ebm): a vectorised loop for `f64`.
    #[inline(always)]
    fn f_slice(&self, xs: &mut [F]) {
        use crate::tensor_ops::utilities::cpu_fast as fast;
        match fast::as_f64_mut(xs) {
            Some(xs) => fast::ln_f64_slice(xs),
            None => {
                for x in xs.iter_mut() {
                    *x = self.f(x);
                }
            }
        }
    }
    #[inline(always)]
    fn df(&self, x: &F) -> F {
        x.recip()
    }
}
