//! The usual analytic test landscapes, each with a closed-form gradient.

use ebm_core::check;
use ebm_core::energy::{host_rows, rows_closed_form};
use ebm_core::ops::{column, columns};
use ebm_core::prelude::*;

fn row_sum<E: Real, Dev: Device<E>, T: Tape<E, Dev>, const D: usize>(
    t: Batch<D, E, Dev, T>,
) -> Energies<E, Dev, T> {
    t.sum::<(usize,), Axis<1>>()
}

/// The isotropic harmonic well `E(x) = k |x|^2 / 2`: a Gaussian with covariance `I / k` at temperature 1.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.tensor_from_vec(vec![1.0, 2.0], (1, Const::<2>));
/// let (e, g) = Harmonic::new(2.0)?.energy_and_gradient(&x);
/// assert_eq!(e.as_vec(), vec![5.0]);
/// assert_eq!(g.as_vec(), vec![2.0, 4.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Harmonic<E = f32> {
    k: E,
}

impl<E: Real> Harmonic<E> {
    /// A harmonic well with spring constant `k`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `k` is finite and greater than 0.
    pub fn new(k: E) -> Result<Self> {
        check::positive("k", k.as_f64())?;
        Ok(Self { k })
    }

    /// The spring constant `k`.
    pub fn k(&self) -> E {
        self.k
    }
}

impl<E: Real> Default for Harmonic<E> {
    /// `k = 1`: the standard normal at temperature 1.
    fn default() -> Self {
        Self { k: E::one() }
    }
}

impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Harmonic<E> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        row_sum(x.square()) * (self.k * E::of(0.5))
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        (self.energy(x.clone()), self.gradient(x))
    }

    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        x.clone() * self.k
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let (k, half) = (self.k, E::of(0.5));
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
            let mut e = E::zero();
            for (gi, &v) in g.iter_mut().zip(p) {
                *gi = k * v;
                e += v * v;
            }
            half * k * e
        });
        true
    }
}

/// The double well `E(x) = h * sum_i (x_i^2 - b^2)^2`: minima at `x_i = +-b`, a barrier of height `h b^4`
/// per coordinate at `x_i = 0`.
///
/// [`Default`] is `h = 2`, `b = 1`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::DoubleWell;
/// let dev = Cpu::default();
/// let x: Batch<1, f64> = dev.tensor_from_vec(vec![1.0, 0.0], (2, Const::<1>));
/// let (e, g) = DoubleWell::default().energy_and_gradient(&x);
/// assert_eq!(e.as_vec(), vec![0.0, 2.0]);
/// assert_eq!(g.as_vec(), vec![0.0, 0.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoubleWell<E = f32> {
    h: E,
    b: E,
}

impl<E: Real> DoubleWell<E> {
    /// A double well with scale `h` and minima at `+-b`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `h` is finite and greater than 0 and `b` is finite and at
    /// least 0.
    pub fn new(h: E, b: E) -> Result<Self> {
        check::positive("h", h.as_f64())?;
        check::non_negative("b", b.as_f64())?;
        Ok(Self { h, b })
    }

    /// The scale `h`.
    pub fn h(&self) -> E {
        self.h
    }

    /// The position `b` of the minima.
    pub fn b(&self) -> E {
        self.b
    }
}

impl<E: Real> Default for DoubleWell<E> {
    fn default() -> Self {
        Self {
            h: E::of(2.0),
            b: E::one(),
        }
    }
}

impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for DoubleWell<E> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        row_sum((x.square() - self.b * self.b).square()) * self.h
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        let well = x.clone().square() - self.b * self.b;
        let energy = row_sum(well.clone().square()) * self.h;
        (energy, x.clone() * well * (E::of(4.0) * self.h))
    }

    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        self.energy_and_gradient(x).1
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let (h, b2, four) = (self.h, self.b * self.b, E::of(4.0));
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
            let mut e = E::zero();
            for (gi, &v) in g.iter_mut().zip(p) {
                let well = v * v - b2;
                *gi = four * h * v * well;
                e += well * well;
            }
            h * e
        });
        true
    }
}

/// The Rastrigin function `E(x) = a D + sum_i (x_i^2 - a cos(2 pi x_i))`: a bowl covered in a regular
/// grid of local minima, global minimum 0 at the origin.
///
/// [`Default`] is `a = 10`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Rastrigin;
/// let dev = Cpu::default();
/// let x: Batch<3, f64> = dev.zeros_like(&(1, Const::<3>));
/// assert_eq!(Rastrigin::default().energy(x).as_vec(), vec![0.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rastrigin<E = f32> {
    a: E,
}

impl<E: Real> Rastrigin<E> {
    /// A Rastrigin landscape with ripple amplitude `a`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `a` is finite and at least 0.
    pub fn new(a: E) -> Result<Self> {
        check::non_negative("a", a.as_f64())?;
        Ok(Self { a })
    }

    /// The ripple amplitude `a`.
    pub fn a(&self) -> E {
        self.a
    }
}

impl<E: Real> Default for Rastrigin<E> {
    fn default() -> Self {
        Self { a: E::of(10.0) }
    }
}

impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Rastrigin<E> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        let two_pi = E::of(std::f64::consts::TAU);
        let ripple = (x.retaped::<T>() * two_pi).cos() * self.a;
        row_sum(x.square() - ripple) + self.a * E::of(D as f64)
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        let two_pi = E::of(std::f64::consts::TAU);
        let phase = x.clone() * two_pi;
        let energy =
            row_sum(x.clone().square() - phase.clone().cos() * self.a) + self.a * E::of(D as f64);
        let grad = x.clone() * E::of(2.0) + phase.sin() * (two_pi * self.a);
        (energy, grad)
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let (a, two_pi, two) = (self.a, E::of(std::f64::consts::TAU), E::of(2.0));
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| {
            let mut e = a * E::of(D as f64);
            for (gi, &v) in g.iter_mut().zip(p) {
                let phase = two_pi * v;
                *gi = two * v + two_pi * a * phase.sin();
                e += v * v - a * phase.cos();
            }
            e
        });
        true
    }
}

/// The Rosenbrock function `E(x) = sum_{i < D-1} (a - x_i)^2 + b (x_{i+1} - x_i^2)^2`: a curved, narrow
/// valley with its minimum 0 at `x = (a, a^2, ...)` (at `(1, ..., 1)` for the default `a = 1`).
///
/// [`Default`] is `a = 1`, `b = 100`. Defined for `D >= 2`; using it with `D < 2` does not compile.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Rosenbrock;
/// let dev = Cpu::default();
/// let x: Batch<3, f64> = dev.ones_like(&(1, Const::<3>));
/// let (e, g) = Rosenbrock::default().energy_and_gradient(&x);
/// assert_eq!(e.as_vec(), vec![0.0]);
/// assert_eq!(g.as_vec(), vec![0.0, 0.0, 0.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rosenbrock<E = f32> {
    a: E,
    b: E,
}

impl<E: Real> Rosenbrock<E> {
    /// A Rosenbrock valley with parameters `a` and `b`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `a` is finite and `b` is finite and greater than 0.
    pub fn new(a: E, b: E) -> Result<Self> {
        check::finite("a", a.as_f64())?;
        check::positive("b", b.as_f64())?;
        Ok(Self { a, b })
    }

    /// The parameter `a` (the minimum's first coordinate).
    pub fn a(&self) -> E {
        self.a
    }

    /// The valley steepness `b`.
    pub fn b(&self) -> E {
        self.b
    }
}

impl<E: Real> Default for Rosenbrock<E> {
    fn default() -> Self {
        Self {
            a: E::one(),
            b: E::of(100.0),
        }
    }
}

struct AtLeastTwo<const D: usize>;
impl<const D: usize> AtLeastTwo<D> {
    const OK: () = assert!(D >= 2, "this energy needs at least 2 dimensions");
}

impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Rosenbrock<E> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        #[allow(clippy::let_unit_value)]
        let () = AtLeastTwo::<D>::OK;
        let head = columns(x.retaped::<T>(), 0..D - 1);
        let tail = columns(x, 1..D);
        let valley = (tail - head.retaped::<T>().square()).square() * self.b;
        let slope = (head.negate() + self.a).square();
        (slope + valley).sum::<(usize,), Axis<1>>()
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        rows_closed_form(x, |p: &[E; D], g: &mut [E; D]| self.row(p, g))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| self.row(p, g));
        true
    }
}

impl<E: Real> Rosenbrock<E> {
    /// Energy of one point; its gradient is added into `g`.
    fn row<const D: usize>(&self, p: &[E; D], g: &mut [E; D]) -> E {
        #[allow(clippy::let_unit_value)]
        let () = AtLeastTwo::<D>::OK;
        let (a, b, two) = (self.a, self.b, E::of(2.0));
        let mut e = E::zero();
        for i in 0..D - 1 {
            let slope = a - p[i];
            let valley = p[i + 1] - p[i] * p[i];
            e += slope * slope + b * valley * valley;
            g[i] += -two * slope - two * two * b * p[i] * valley;
            g[i + 1] += two * b * valley;
        }
        e
    }
}

/// The Ackley function
/// `E(x) = -a exp(-b sqrt(|x|^2 / D)) - exp(sum_i cos(c x_i) / D) + a + e`:
/// a nearly flat outer region riddled with local minima around a deep global minimum 0 at the origin.
///
/// [`Default`] is `a = 20`, `b = 0.2`, `c = 2 pi`. At the origin itself the first term is not
/// differentiable; the closed-form gradient takes its symmetric value 0 there.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Ackley;
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.zeros_like(&(1, Const::<2>));
/// let (e, g) = Ackley::default().energy_and_gradient(&x);
/// assert!(e.as_vec()[0].abs() < 1e-12);
/// assert_eq!(g.as_vec(), vec![0.0, 0.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ackley<E = f32> {
    a: E,
    b: E,
    c: E,
}

impl<E: Real> Ackley<E> {
    /// An Ackley landscape with depth `a`, decay `b` and ripple frequency `c`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] unless `a` and `b` are finite and greater than 0 and `c` is finite.
    pub fn new(a: E, b: E, c: E) -> Result<Self> {
        check::positive("a", a.as_f64())?;
        check::positive("b", b.as_f64())?;
        check::finite("c", c.as_f64())?;
        Ok(Self { a, b, c })
    }

    /// The parameters `(a, b, c)`.
    pub fn params(&self) -> (E, E, E) {
        (self.a, self.b, self.c)
    }
}

impl<E: Real> Default for Ackley<E> {
    fn default() -> Self {
        Self {
            a: E::of(20.0),
            b: E::of(0.2),
            c: E::of(std::f64::consts::TAU),
        }
    }
}

impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Ackley<E> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        let radius = x.retaped::<T>().square().mean::<(usize,), Axis<1>>().sqrt();
        let well = (radius * (-self.b)).exp() * (-self.a);
        let ripple = (x * self.c).cos().mean::<(usize,), Axis<1>>().exp();
        (well - ripple) + (self.a + E::of(std::f64::consts::E))
    }

    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        rows_closed_form(x, |p: &[E; D], g: &mut [E; D]| self.row(p, g))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        host_rows(x, energy, grad, |p: &[E; D], g: &mut [E; D]| self.row(p, g));
        true
    }
}

impl<E: Real> Ackley<E> {
    /// Energy of one point; writes its gradient into `g`.
    fn row<const D: usize>(&self, p: &[E; D], g: &mut [E; D]) -> E {
        let (a, b, c) = (self.a, self.b, self.c);
        let d = E::of(D as f64);
        {
            let r2: E = p.iter().map(|&v| v * v).sum::<E>() / d;
            let r = r2.sqrt();
            let cos_mean: E = p.iter().map(|&v| (c * v).cos()).sum::<E>() / d;
            let well = (-b * r).exp();
            let ripple = cos_mean.exp();
            // d/dx_i of -a exp(-b r) is a b exp(-b r) x_i / (D r); 0 at r = 0 by symmetry.
            let radial = if r > E::zero() {
                a * b * well / (d * r)
            } else {
                E::zero()
            };
            for (gi, &xi) in g.iter_mut().zip(p.iter()) {
                *gi = radial * xi + ripple * c * (c * xi).sin() / d;
            }
            -a * well - ripple + a + E::of(std::f64::consts::E)
        }
    }
}

/// Himmelblau's function `E(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2` on the plane: four minima of
/// energy 0, at `(3, 2)`, about `(-2.805, 3.131)`, `(-3.779, -3.283)` and `(3.584, -1.848)`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Himmelblau;
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.tensor_from_vec(vec![3.0, 2.0], (1, Const::<2>));
/// let (e, g) = Himmelblau.energy_and_gradient(&x);
/// assert_eq!(e.as_vec(), vec![0.0]);
/// assert_eq!(g.as_vec(), vec![0.0, 0.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Himmelblau;

impl<E: Real, Dev: Device<E>> Energy<2, E, Dev> for Himmelblau {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<2, E, Dev, T>) -> Energies<E, Dev, T> {
        let px = column::<0, 2, _, _, _>(x.retaped::<T>());
        let py = column::<1, 2, _, _, _>(x);
        let first = (px.retaped::<T>().square() + py.retaped::<T>() - E::of(11.0)).square();
        let second = (px + py.square() - E::of(7.0)).square();
        first + second
    }

    fn energy_and_gradient(&self, x: &Batch<2, E, Dev>) -> (Energies<E, Dev>, Batch<2, E, Dev>) {
        rows_closed_form(x, himmelblau_row)
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        host_rows(x, energy, grad, himmelblau_row);
        true
    }
}

fn himmelblau_row<E: Real>(p: &[E; 2], g: &mut [E; 2]) -> E {
    let (two, four) = (E::of(2.0), E::of(4.0));
    let u = p[0] * p[0] + p[1] - E::of(11.0);
    let v = p[0] + p[1] * p[1] - E::of(7.0);
    g[0] = four * p[0] * u + two * v;
    g[1] = two * u + four * p[1] * v;
    u * u + v * v
}
