//! The [`Energy`] trait: an energy function over a typed batch of chains.

use crate::real::Real;
use dfdx::prelude::*;

/// A batch of `D`-dimensional points, one chain per row: shape `(n_chains, D)`.
///
/// `D` is part of the type, so a point of the wrong dimension does not compile; the number of chains is
/// chosen at run time.
pub type Batch<const D: usize, E = f32, Dev = Cpu, T = NoneTape> =
    Tensor<(usize, Const<D>), E, Dev, T>;

/// One energy per chain: shape `(n_chains,)`.
pub type Energies<E = f32, Dev = Cpu, T = NoneTape> = Tensor<(usize,), E, Dev, T>;

/// An energy function `E(x)` on `D`-dimensional points, evaluated for a whole batch of chains at once.
///
/// Samplers only need this trait. Implementors write [`Energy::energy`] with dfdx tensor operations,
/// generic over the tape `T`, so the same code serves plain evaluation (`T = NoneTape`) and
/// reverse-mode autodiff (`T = OwnedTape`); [`Energy::energy_and_gradient`] then comes from dfdx's
/// autodiff. A model that knows its gradient in closed form overrides `energy_and_gradient` (and
/// [`Energy::gradient`] where the gradient alone is cheaper): that skips the tape and the
/// gradients dfdx would otherwise compute for every constant in the expression.
///
/// The density a sampler targets is proportional to `exp(-E(x) / T)` where `T` is the sampler's
/// temperature (see the samplers' documentation).
///
/// # Example
///
/// ```
/// use ebm_core::prelude::*;
///
/// /// `E(x) = |x|^4 / 4`, written once with tensor operations.
/// struct Quartic;
///
/// impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Quartic {
///     fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
///         let r2 = x.square().sum::<(usize,), Axis<1>>();
///         r2.square() * E::of(0.25)
///     }
/// }
///
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.tensor_from_vec(vec![1.0, 1.0, 0.0, 2.0], (2, Const::<2>));
/// let (e, g) = Quartic.energy_and_gradient(&x);
/// assert_eq!(e.as_vec(), vec![1.0, 4.0]);
/// // grad = |x|^2 x
/// assert_eq!(g.as_vec(), vec![2.0, 2.0, 0.0, 8.0]);
/// ```
pub trait Energy<const D: usize, E: Real, Dev: Device<E>> {
    /// The energy of every chain in `x`, one value per row.
    ///
    /// Written with dfdx operations and generic over the tape, so that autodiff can run through it.
    /// A row's energy depends on that row alone (the chains are independent); samplers and
    /// [`blockwise_energy_and_gradient`] may evaluate a batch in parts.
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T>;

    /// The energy of every chain and its gradient with respect to `x`, shape `(n_chains, D)`.
    ///
    /// The default runs dfdx's reverse-mode autodiff through [`Energy::energy`]; override it with a
    /// closed form when one is known.
    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        autodiff_energy_and_gradient(self, x)
    }

    /// The gradient of the energy with respect to `x`, shape `(n_chains, D)`.
    ///
    /// The default takes it from [`Energy::energy_and_gradient`].
    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        self.energy_and_gradient(x).1
    }

    /// Whether the model implements [`Energy::host_energy_and_gradient`]. The default is `false`.
    ///
    /// Samplers ask once, when a run starts: on dfdx's `Cpu` device a model that answers `true` is
    /// evaluated through its host path for the whole run, any other through tensors.
    fn has_host_path(&self) -> bool {
        false
    }

    /// Closed-form energies and gradients straight from host memory: the fast path of CPU runs.
    ///
    /// `x` holds `n` points row-major (`n * D` values). An implementation writes one energy per point
    /// into `energy` (length `n`) and the gradients into `grad` (length `n * D`), and returns `true`;
    /// it also overrides [`Energy::has_host_path`] to return `true`. The default returns `false`: not
    /// available. Samplers running on dfdx's `Cpu` device use it instead of
    /// [`Energy::energy_and_gradient`] on tensors when [`Energy::has_host_path`] says so (a `false`
    /// return then is an error, [`Error::HostPathRefused`](crate::Error::HostPathRefused)), so a
    /// model that implements it must agree with its tensor methods; it skips the tensor allocations
    /// and copies of the tensor path. [`host_rows`] helps with row-wise closed forms.
    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        let _ = (x, energy, grad);
        false
    }

    /// The host path as a [`RowEnergy`]: an evaluator of any block of rows that several threads
    /// may call at once. The default is `None`.
    ///
    /// A sampler that gets one splits its chains into blocks once per step and runs each block's
    /// whole transition (momenta, integrator, acceptance) on one thread, instead of splitting every
    /// evaluation and every pass over the batch. It must compute each row exactly as
    /// [`Energy::host_energy_and_gradient`] does, whatever the block, so that draws do not depend on
    /// the split. Only a model that has a host path ([`Energy::has_host_path`]) offers one.
    fn row_energy(&self) -> Option<&dyn RowEnergy<E>> {
        None
    }
}

/// A model's host path as a function of rows alone, callable from several threads at once
/// ([`Energy::row_energy`]).
pub trait RowEnergy<E: Real>: Sync {
    /// Energies and gradients of the rows of `x` (row-major, `D` values per row) into `energy` (one
    /// per row) and `grad` (as `x`), bit for bit as [`Energy::host_energy_and_gradient`] computes
    /// them for the same rows in any batch. Buffers of other lengths leave the outputs unspecified.
    fn rows_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]);

    /// The gradients of [`RowEnergy::rows_energy_and_gradient`], bit for bit; `energy` may or may
    /// not receive the energies (an integrator's inner steps need no energy). The default computes
    /// both.
    fn rows_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) {
        self.rows_energy_and_gradient(x, energy, grad)
    }

    /// Chains per block that this model would have a sampler give one thread, or `None` (the
    /// default) for the sampler's own choice, which sizes blocks by coordinates (about 8192) for
    /// the cache. A model whose rows are expensive (a network) asks for smaller blocks, so that a
    /// batch of a few hundred chains still keeps every thread busy. Draws do not depend on it.
    fn preferred_block_rows(&self) -> Option<usize> {
        None
    }
}

/// Whether the device type `Dev` is dfdx's `Cpu`, whose tensors live in host memory.
pub fn is_cpu<Dev: 'static>() -> bool {
    std::any::TypeId::of::<Dev>() == std::any::TypeId::of::<Cpu>()
}

/// Below this many coordinates, [`host_rows`] stays on the calling thread.
const HOST_PARALLEL_MIN: usize = 16384;

/// Applies a row-wise closed form to host buffers: `f(point, grad)` receives one point and its
/// gradient slot (zeroed), writes the gradient and returns the energy. Large batches are split over
/// rayon's threads; every row is computed the same way whatever the split.
///
/// ```
/// let x = [1.0f64, 2.0, 3.0, 4.0];
/// let (mut e, mut g) = ([0.0; 2], [0.0; 4]);
/// ebm_core::energy::host_rows(&x, &mut e, &mut g, |p: &[f64; 2], g: &mut [f64; 2]| {
///     g[0] = p[1];
///     g[1] = p[0];
///     p[0] * p[1]
/// });
/// assert_eq!((e, g), ([2.0, 12.0], [2.0, 1.0, 4.0, 3.0]));
/// ```
pub fn host_rows<const D: usize, E, F>(x: &[E], energy: &mut [E], grad: &mut [E], f: F)
where
    E: Real,
    F: Fn(&[E; D], &mut [E; D]) -> E + Sync,
{
    use rayon::prelude::*;
    if D == 0 {
        let p = [E::zero(); D];
        energy
            .iter_mut()
            .for_each(|e| *e = f(&p, &mut [E::zero(); D]));
        return;
    }
    let row = |(p, (g, e)): (&[E], (&mut [E], &mut E))| {
        let p: &[E; D] = p.try_into().expect("chunk has length D");
        let g: &mut [E; D] = g.try_into().expect("chunk has length D");
        g.iter_mut().for_each(|v| *v = E::zero());
        *e = f(p, g);
    };
    if x.len() >= HOST_PARALLEL_MIN {
        let chunk = 256;
        x.par_chunks(chunk * D)
            .zip(
                grad.par_chunks_mut(chunk * D)
                    .zip(energy.par_chunks_mut(chunk)),
            )
            .for_each(|(xc, (gc, ec))| {
                xc.chunks_exact(D)
                    .zip(gc.chunks_exact_mut(D).zip(ec.iter_mut()))
                    .for_each(row)
            });
    } else {
        x.chunks_exact(D)
            .zip(grad.chunks_exact_mut(D).zip(energy.iter_mut()))
            .for_each(row);
    }
}

/// A model's energy times a positive constant: `factor * E(x)`.
///
/// Sampling `Scaled::new(model, 1.0 / t)` at temperature 1 samples `model` at temperature `t`:
/// replica exchange, whose ladder starts at temperature 1, samples a cold target this way.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::energy::Scaled;
///
/// struct Bowl;
/// impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Bowl {
///     fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
///         x.square().sum::<(usize,), Axis<1>>() * E::of(0.5)
///     }
/// }
///
/// let dev = Cpu::default();
/// let cold = Scaled::new(Bowl, 100.0)?;
/// let x: Batch<1, f64> = dev.tensor_from_vec(vec![0.5], (1, Const::<1>));
/// let (e, g) = cold.energy_and_gradient(&x);
/// assert_eq!((e.as_vec(), g.as_vec()), (vec![12.5], vec![50.0]));
/// assert!(Scaled::new(Bowl, 0.0).is_err());
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scaled<M> {
    model: M,
    factor: f64,
}

impl<M> Scaled<M> {
    /// `factor * E(x)` for the model `model`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) naming `factor` unless it is
    /// finite and greater than 0.
    pub fn new(model: M, factor: f64) -> crate::Result<Self> {
        crate::check::positive("factor", factor)?;
        Ok(Self { model, factor })
    }

    /// The factor.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The model being scaled.
    pub fn inner(&self) -> &M {
        &self.model
    }
}

impl<const D: usize, E: Real, Dev: Device<E>, M: Energy<D, E, Dev>> Energy<D, E, Dev>
    for Scaled<M>
{
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        self.model.energy(x) * E::of(self.factor)
    }
    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        let (e, g) = self.model.energy_and_gradient(x);
        let f = E::of(self.factor);
        (e * f, g * f)
    }
    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        self.model.gradient(x) * E::of(self.factor)
    }
    fn has_host_path(&self) -> bool {
        self.model.has_host_path()
    }
    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        if !self.model.host_energy_and_gradient(x, energy, grad) {
            return false;
        }
        let f = E::of(self.factor);
        energy
            .iter_mut()
            .chain(grad.iter_mut())
            .for_each(|v| *v *= f);
        true
    }
}

/// Energies and gradients of `model` at `x` by dfdx's reverse-mode autodiff through
/// [`Energy::energy`], whatever the model's own [`Energy::energy_and_gradient`] does.
///
/// This is the default behind [`Energy::energy_and_gradient`]; it is public so that closed-form
/// gradients can be checked against it.
///
/// Only the gradient with respect to `x` is computed: a tensor without a tape (a model's weights,
/// a constant) that enters a binary operation or a matrix product gets no gradient of its own
/// (dfdx's `Gradients::without_constants`, an addition of the dfdx copy this workspace carries,
/// see `vendor/dfdx/PATCHES.md`).
pub fn autodiff_energy_and_gradient<const D: usize, E, Dev, M>(
    model: &M,
    x: &Batch<D, E, Dev>,
) -> (Energies<E, Dev>, Batch<D, E, Dev>)
where
    E: Real,
    Dev: Device<E>,
    M: Energy<D, E, Dev> + ?Sized,
{
    // Only the input's gradient is wanted: constants (a model's weights, which carry no tape)
    // get none, which saves e.g. a layer's weight-gradient product.
    let mut grads = Gradients::without_constants();
    grads
        .try_alloc_for(x)
        .expect("allocating the gradient of the input");
    let traced = x.clone().traced(grads);
    let energies = model.energy(traced);
    let values = energies.retaped::<NoneTape>();
    let grads = energies.sum::<Rank0, _>().backward();
    (values, grads.get(x))
}

/// Rows per block of [`blockwise_energy_and_gradient`], about: a batch of `n` rows makes
/// `n / BLOCKWISE_ROWS` blocks (at most [`BLOCKWISE_MAX_BLOCKS`]) of nearly equal size.
pub const BLOCKWISE_ROWS: usize = 250;

/// The most blocks [`blockwise_energy_and_gradient`] makes of one batch.
pub const BLOCKWISE_MAX_BLOCKS: usize = 64;

thread_local! {
    /// The device on which [`blockwise_energy_and_gradient`] builds a thread's blocks, with dfdx's
    /// allocation cache on.
    static BLOCK_DEVICE: Cpu = {
        let dev = Cpu::default();
        dev.enable_cache();
        dev
    };
}

/// [`autodiff_energy_and_gradient`] on dfdx's `Cpu`, with the batch cut into blocks of rows that
/// rayon's threads evaluate at once.
///
/// dfdx runs a tensor operation on one thread (its matrix products may use several), so a network
/// evaluated on the whole batch leaves the other cores idle for most of the pass. Cut into blocks,
/// each thread runs the whole forward and backward pass of its rows. The blocks depend only on the
/// number of rows `n` (`n / BLOCKWISE_ROWS` of them, at most `BLOCKWISE_MAX_BLOCKS`, no cut below
/// `2 * BLOCKWISE_ROWS` rows), never on the number of threads. Each block is its own autodiff
/// pass with its products on its thread through the row-block kernel, whose result for a row does
/// not depend on the rows beside it: a row's energy and gradient are the same whatever the blocks
/// or the thread count ([`AutodiffRows`] evaluates any rows alone the same way).
///
/// `#[energy]` models on `Cpu` evaluate this way. A hand-written model whose gradient comes from
/// autodiff can do the same from its [`Energy::energy_and_gradient`]. Each worker thread keeps its
/// own `Cpu` device with dfdx's allocation cache on, so the buffers of one block's pass stay
/// allocated between calls (a few megabytes for a 256-wide network).
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::energy::blockwise_energy_and_gradient;
///
/// struct Quartic;
/// impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Quartic {
///     fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
///         x.square().sum::<(usize,), Axis<1>>().square() * E::of(0.25)
///     }
/// }
///
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.sample_normal_like(&(1000, Const::<2>));
/// let (e, g) = blockwise_energy_and_gradient(&Quartic, &x);
/// let (e1, g1) = ebm_core::autodiff_energy_and_gradient(&Quartic, &x);
/// assert_eq!(e.as_vec(), e1.as_vec());
/// assert_eq!(g.as_vec(), g1.as_vec());
/// ```
pub fn blockwise_energy_and_gradient<const D: usize, E, M>(
    model: &M,
    x: &Batch<D, E, Cpu>,
) -> (Energies<E, Cpu>, Batch<D, E, Cpu>)
where
    E: Real,
    Cpu: Device<E>,
    M: Energy<D, E, Cpu> + Sync + ?Sized,
{
    let n = x.shape().0;
    if D == 0 || n == 0 {
        return autodiff_energy_and_gradient(model, x);
    }
    let mut energies = vec![E::zero(); n];
    let mut grads = vec![E::zero(); n * D];
    blockwise_host_energy_and_gradient::<D, E, M>(model, &x.as_vec(), &mut energies, &mut grads);
    let dev = x.device().clone();
    (
        dev.tensor_from_vec(energies, (n,)),
        dev.tensor_from_vec(grads, (n, Const::<D>)),
    )
}

/// [`blockwise_energy_and_gradient`] from and into host buffers: `x` row-major with `D` values per
/// row, `energy` one value per row, `grad` as `x`. The blocks are those of
/// [`blockwise_energy_and_gradient`]. Buffers of other lengths are left as they are.
pub fn blockwise_host_energy_and_gradient<const D: usize, E, M>(
    model: &M,
    x: &[E],
    energy: &mut [E],
    grad: &mut [E],
) where
    E: Real,
    Cpu: Device<E>,
    M: Energy<D, E, Cpu> + Sync + ?Sized,
{
    in_blocks::<D, E>(x, energy, grad, |x, e, g| {
        block_pass::<D, E, M>(model, x, e, g)
    })
}

/// `rows` over the blocks of [`blockwise_energy_and_gradient`] for a batch of `energy.len()` rows,
/// on rayon's threads. Buffers of other lengths are left as they are.
pub fn blockwise_rows<const D: usize, E: Real>(
    rows: &dyn RowEnergy<E>,
    x: &[E],
    energy: &mut [E],
    grad: &mut [E],
) {
    in_blocks::<D, E>(x, energy, grad, |x, e, g| {
        rows.rows_energy_and_gradient(x, e, g)
    })
}

/// `f` on each block of [`blockwise_energy_and_gradient`]'s split, on rayon's threads.
fn in_blocks<const D: usize, E: Real>(
    x: &[E],
    energy: &mut [E],
    grad: &mut [E],
    f: impl Fn(&[E], &mut [E], &mut [E]) + Sync,
) {
    let n = energy.len();
    let blocks = (n / BLOCKWISE_ROWS).clamp(1, BLOCKWISE_MAX_BLOCKS);
    for_row_blocks::<D, E>(x, energy, grad, n.div_ceil(blocks), f)
}

/// Runs `f(x, energy, grad)` on blocks of `rows` rows of a batch's host buffers (`x` row-major
/// with `D` values per row, `energy` one value per row, `grad` as `x`; the last block may be
/// shorter), on rayon's threads: the split of a host path whose rows do not depend on each other.
/// Buffers of other lengths, an empty batch or `D = 0` leave everything as it is.
///
/// ```
/// let x = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0]; // three rows of two
/// let (mut e, mut g) = ([0.0; 3], [0.0; 6]);
/// ebm_core::energy::for_row_blocks::<2, f64>(&x, &mut e, &mut g, 2, |x, e, g| {
///     for ((e, g), x) in e.iter_mut().zip(g.chunks_mut(2)).zip(x.chunks(2)) {
///         *e = 0.5 * (x[0] * x[0] + x[1] * x[1]);
///         g.copy_from_slice(x);
///     }
/// });
/// assert_eq!(e, [2.5, 12.5, 30.5]);
/// assert_eq!(g, x);
/// ```
pub fn for_row_blocks<const D: usize, E: Real>(
    x: &[E],
    energy: &mut [E],
    grad: &mut [E],
    rows: usize,
    f: impl Fn(&[E], &mut [E], &mut [E]) + Sync,
) {
    use rayon::prelude::*;
    let n = energy.len();
    if D == 0 || n == 0 || x.len() != n * D || grad.len() != n * D {
        return;
    }
    let rows = rows.max(1);
    x.par_chunks(rows * D)
        .zip(energy.par_chunks_mut(rows))
        .zip(grad.par_chunks_mut(rows * D))
        .for_each(|((x, e), g)| f(x, e, g));
}

/// One autodiff pass over the rows `x` on the calling thread, into `energy` and `grad`.
///
/// The block's tensors live on a device of the thread's own, whose allocation cache it does not
/// share: one cache behind a lock, hit by every operation of every thread, cost a third of the
/// second thread's gain. Its products run on this thread through the row-block kernel (see
/// `ebm_kernels::with_single_thread_products`), whose result for a row does not depend on the
/// rows multiplied with it, so neither does anything here: a row's energy and gradient are the
/// same in every block. A model that returns the wrong number of energies gets NaN energies, which
/// the samplers report as a non-finite chain.
fn block_pass<const D: usize, E, M>(model: &M, x: &[E], energy: &mut [E], grad: &mut [E])
where
    E: Real,
    Cpu: Device<E>,
    M: Energy<D, E, Cpu> + ?Sized,
{
    BLOCK_DEVICE.with(|own| {
        ebm_kernels::with_single_thread_products(|| {
            let block: Batch<D, E, Cpu> =
                own.tensor_from_vec(x.to_vec(), (x.len() / D, Const::<D>));
            let (e, g) = autodiff_energy_and_gradient(model, &block);
            let (e, g) = (e.as_vec(), g.as_vec());
            if e.len() == energy.len() && g.len() == grad.len() {
                energy.copy_from_slice(&e);
                grad.copy_from_slice(&g);
            } else {
                energy.fill(E::of(f64::NAN));
            }
        })
    })
}

/// A model whose gradient comes from autodiff, as a [`RowEnergy`]: each call is one autodiff pass
/// over the given rows on the calling thread, as one block of [`blockwise_energy_and_gradient`]
/// (whose results it gives bit for bit, since no row's result depends on its block). Samplers that
/// run blocks of chains for many steps on one thread use it through [`Energy::row_energy`]:
/// `#[energy]` models offer it on `Cpu` in `f32` and `f64`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_core::energy::{blockwise_energy_and_gradient, AutodiffRows, RowEnergy};
///
/// struct Quartic;
/// impl<E: Real, Dev: Device<E>, const D: usize> Energy<D, E, Dev> for Quartic {
///     fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
///         x.square().sum::<(usize,), Axis<1>>().square() * E::of(0.25)
///     }
/// }
///
/// let dev = Cpu::default();
/// let x: Batch<2, f64> = dev.sample_normal_like(&(10, Const::<2>));
/// let (e, g) = blockwise_energy_and_gradient(&Quartic, &x);
/// // Rows 3..7 alone.
/// let (mut e4, mut g4) = (vec![0.0; 4], vec![0.0; 8]);
/// let rows: &dyn RowEnergy<f64> = AutodiffRows::<2, _>::new(&Quartic);
/// rows.rows_energy_and_gradient(&x.as_vec()[6..14], &mut e4, &mut g4);
/// assert_eq!(e4, e.as_vec()[3..7]);
/// assert_eq!(g4, g.as_vec()[6..14]);
/// ```
#[repr(transparent)]
pub struct AutodiffRows<const D: usize, M>(M);

impl<const D: usize, M> AutodiffRows<D, M> {
    /// The model seen as rows.
    pub fn new(model: &M) -> &Self {
        // SAFETY: `AutodiffRows` is a transparent wrapper of `M`: the same layout and alignment.
        unsafe { &*(model as *const M).cast::<Self>() }
    }
}

impl<const D: usize, E, M> RowEnergy<E> for AutodiffRows<D, M>
where
    E: Real,
    Cpu: Device<E>,
    M: Energy<D, E, Cpu> + Sync,
{
    fn rows_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) {
        let n = energy.len();
        if D == 0 || n == 0 || x.len() != n * D || grad.len() != n * D {
            return;
        }
        block_pass::<D, E, M>(&self.0, x, energy, grad)
    }

    fn preferred_block_rows(&self) -> Option<usize> {
        // Each block is a whole autodiff pass, whose fixed costs (allocations, the tape) want a
        // few hundred rows.
        Some(BLOCKWISE_ROWS)
    }
}

impl<const D: usize, E: Real, Dev: Device<E>, M: Energy<D, E, Dev> + ?Sized> Energy<D, E, Dev>
    for &M
{
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        (**self).energy(x)
    }
    fn energy_and_gradient(&self, x: &Batch<D, E, Dev>) -> (Energies<E, Dev>, Batch<D, E, Dev>) {
        (**self).energy_and_gradient(x)
    }
    fn gradient(&self, x: &Batch<D, E, Dev>) -> Batch<D, E, Dev> {
        (**self).gradient(x)
    }
    fn has_host_path(&self) -> bool {
        (**self).has_host_path()
    }
    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        (**self).host_energy_and_gradient(x, energy, grad)
    }
}

/// Evaluates a closed-form energy and gradient row by row on the host.
///
/// `f(x, grad)` receives one point and its gradient slot (zeroed), writes the gradient and returns the
/// energy. The batch is copied to host memory once and the results are copied back to `x`'s device, so
/// this suits models whose closed form is easier written as a loop than as tensor operations.
///
/// ```
/// use ebm_core::prelude::*;
/// let dev = Cpu::default();
/// let x: Batch<2> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (2, Const::<2>));
/// // E = x0 * x1, grad = (x1, x0)
/// let (e, g) = ebm_core::energy::rows_closed_form(&x, |p: &[f32; 2], g: &mut [f32; 2]| {
///     g[0] = p[1];
///     g[1] = p[0];
///     p[0] * p[1]
/// });
/// assert_eq!(e.as_vec(), vec![2.0, 12.0]);
/// assert_eq!(g.as_vec(), vec![2.0, 1.0, 4.0, 3.0]);
/// ```
pub fn rows_closed_form<const D: usize, E, Dev, F>(
    x: &Batch<D, E, Dev>,
    f: F,
) -> (Energies<E, Dev>, Batch<D, E, Dev>)
where
    E: Real,
    Dev: Device<E>,
    F: Fn(&[E; D], &mut [E; D]) -> E + Sync,
{
    let n = x.shape().0;
    let dev = x.device();
    let host = x.as_vec();
    let mut grad = vec![E::zero(); n * D];
    let mut energy = vec![E::zero(); n];
    host_rows(&host, &mut energy, &mut grad, f);
    (
        dev.tensor_from_vec(energy, (n,)),
        dev.tensor_from_vec(grad, (n, Const::<D>)),
    )
}
