//! The floating-point element types the library works with.

use dfdx::dtypes::Dtype;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point element type usable in energies and samplers: `f32` or `f64`.
///
/// The trait is sealed; it collects what the library needs from a dtype in one bound:
/// dfdx's [`Dtype`], the [`num_traits::Float`] functions, conversion from and to `f64`,
/// and standard normal draws.
///
/// ```
/// use ebm_core::Real;
/// fn half<E: Real>(x: E) -> E {
///     x * E::of(0.5)
/// }
/// assert_eq!(half(3.0f32), 1.5);
/// assert_eq!(half(3.0f64), 1.5);
/// ```
pub trait Real:
    Dtype
    + num_traits::Float
    + std::fmt::Display
    + std::fmt::LowerExp
    + std::iter::Sum
    + Into<f64>
    + Send
    + Sync
    + sealed::Sealed
    + ebm_kernels::Element
{
    /// A short name of the type, `"f32"` or `"f64"`.
    const NAME: &'static str;

    /// Converts an `f64` to this type (rounding to nearest for `f32`).
    fn of(value: f64) -> Self;

    /// Converts to `f64` exactly.
    fn as_f64(self) -> f64;

    /// Replaces every element of `xs` by its hyperbolic tangent (see
    /// [`crate::activation::tanh_in_place`]).
    fn tanh_slice(xs: &mut [Self]);

    /// Draws one standard normal variate with `rng`: for `f32` by a fast 32-bit ziggurat
    /// ([`crate::normal`]), for `f64` by `rand_distr`'s `StandardNormal`.
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self;
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    #[inline]
    fn of(value: f64) -> Self {
        value as f32
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn tanh_slice(xs: &mut [Self]) {
        crate::activation::tanh_f32_slice(xs)
    }
    /// By the 32-bit ziggurat of [`crate::normal`].
    #[inline]
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
        crate::normal::standard_normal_f32(rng)
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    #[inline]
    fn of(value: f64) -> Self {
        value
    }
    #[inline]
    fn as_f64(self) -> f64 {
        self
    }
    fn tanh_slice(xs: &mut [Self]) {
        xs.iter_mut().for_each(|v| *v = v.tanh())
    }
    /// By `rand_distr`'s `StandardNormal`.
    #[inline]
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
        <StandardNormal as Distribution<f64>>::sample(&StandardNormal, rng)
    }
}
