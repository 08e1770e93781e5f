//! A multilayer perceptron energy with tanh hidden layers.

use ebm_core::dense::{self, Strided};
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;
use std::sync::Mutex;

/// One dense layer: `weights` row-major with shape `(outputs, inputs)`, and one `bias` per output.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Row-major `(outputs, inputs)` weights.
    pub weights: Vec<f64>,
    /// One bias per output.
    pub bias: Vec<f64>,
}

/// A neural energy `E(x) = w . h_L(x) + b + c |x|^2` with `h_0 = x` and
/// `h_l = tanh(W_l h_{l-1} + b_l)`.
///
/// The quadratic term `c |x|^2` (with `c > 0`) keeps the density normalisable far from the data.
/// Autodiff through [`Energy::energy`] works on every device; on the CPU the model also has a
/// hand-written host path ([`Energy::host_energy_and_gradient`]): one forward pass and one backward
/// pass for the input gradient only (no weight gradients), each layer one matrix product, with a
/// vectorised tanh for `f32`.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::{Layer, Mlp};
/// let dev = Cpu::default();
/// // 2 -> 3 -> 1 with all weights 0.1 and no biases.
/// let hidden = vec![Layer { weights: vec![0.1; 6], bias: vec![0.0; 3] }];
/// let mlp = Mlp::<2, f64>::new(&dev, hidden, vec![0.1; 3], 0.0, 0.05)?;
/// let x: Batch<2, f64> = dev.zeros_like(&(1, Const::<2>));
/// assert_eq!(mlp.energy(x).as_vec(), vec![0.0]);
/// # Ok::<(), ebm_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Mlp<const D: usize, E: Real = f32, Dev: Device<E> = Cpu> {
    host: HostRows<D, E>,
    first_t: Tensor<(Const<D>, usize), E, Dev>,
    rest_t: Vec<Tensor<(usize, usize), E, Dev>>,
    biases_t: Vec<Tensor<(usize,), E, Dev>>,
    output_t: Tensor<(usize, Const<1>), E, Dev>,
}

/// The host path as a function of rows ([`RowEnergy`]): the network and a pool of scratch
/// buffers, one taken by each block being evaluated at a time.
#[derive(Debug)]
struct HostRows<const D: usize, E> {
    net: HostNet<E>,
    pool: Mutex<Vec<Vec<E>>>,
}

/// The network's parameters in host memory, for the hand-written passes.
#[derive(Debug, Clone)]
struct HostNet<E> {
    /// `(weights (out, in) row-major, bias)` per hidden layer.
    layers: Vec<(Vec<E>, Vec<E>)>,
    /// The first layer's weights transposed, `(in, out)` row-major, for the narrow-input loops.
    first_t: Vec<E>,
    output: Vec<E>,
    output_bias: E,
    quadratic: E,
}

impl<const D: usize, E: Real, Dev: Device<E>> Clone for Mlp<D, E, Dev> {
    fn clone(&self) -> Self {
        Self {
            host: HostRows {
                net: self.host.net.clone(),
                pool: Mutex::new(Vec::new()),
            },
            first_t: self.first_t.clone(),
            rest_t: self.rest_t.clone(),
            biases_t: self.biases_t.clone(),
            output_t: self.output_t.clone(),
        }
    }
}

impl<const D: usize, E: Real, Dev: Device<E>> Mlp<D, E, Dev> {
    /// An MLP with the given hidden layers (the first takes `D` inputs), output weights (one per unit
    /// of the last hidden layer), output bias and quadratic coefficient `c`; tensors on `dev`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when there is no hidden layer, a layer has no units, any value is
    /// not finite (named like `hidden[1].weights[5]`), or `quadratic` is negative;
    /// [`Error::LengthMismatch`] when a layer's weights do not match its inputs and outputs or the
    /// output weights do not match the last layer.
    pub fn new(
        dev: &Dev,
        hidden: Vec<Layer>,
        output: Vec<f64>,
        output_bias: f64,
        quadratic: f64,
    ) -> Result<Self> {
        if hidden.is_empty() {
            return Err(Error::invalid(
                "hidden",
                "[]",
                "an MLP needs at least one hidden layer",
            ));
        }
        let mut inputs = D;
        for (l, layer) in hidden.iter().enumerate() {
            let units = layer.bias.len();
            if units == 0 {
                return Err(Error::invalid(
                    format!("hidden[{l}].bias"),
                    "[]",
                    "a layer needs units",
                ));
            }
            if layer.weights.len() != units * inputs {
                return Err(Error::LengthMismatch {
                    name: format!("hidden[{l}].weights"),
                    expected: units * inputs,
                    actual: layer.weights.len(),
                    reason: format!("{units} outputs x {inputs} inputs, row-major"),
                });
            }
            ebm_core::check::all_finite(&format!("hidden[{l}].weights"), &layer.weights)?;
            ebm_core::check::all_finite(&format!("hidden[{l}].bias"), &layer.bias)?;
            inputs = units;
        }
        if output.len() != inputs {
            return Err(Error::LengthMismatch {
                name: "output".into(),
                expected: inputs,
                actual: output.len(),
                reason: "one output weight per unit of the last hidden layer".into(),
            });
        }
        ebm_core::check::all_finite("output", &output)?;
        ebm_core::check::finite("output_bias", output_bias)?;
        ebm_core::check::non_negative("quadratic", quadratic)?;

        let cast = |v: &[f64]| v.iter().map(|&x| E::of(x)).collect::<Vec<E>>();
        let layers: Vec<(Vec<E>, Vec<E>)> = hidden
            .iter()
            .map(|l| (cast(&l.weights), cast(&l.bias)))
            .collect();
        // Tensors hold W^T, shape (inputs, outputs), for x W^T.
        let transpose = |w: &[f64], outs: usize, ins: usize| {
            let mut t = vec![E::zero(); outs * ins];
            for o in 0..outs {
                for i in 0..ins {
                    t[i * outs + o] = E::of(w[o * ins + i]);
                }
            }
            t
        };
        let h0 = hidden[0].bias.len();
        let first_t = dev.tensor_from_vec(transpose(&hidden[0].weights, h0, D), (Const::<D>, h0));
        let mut rest_t = Vec::new();
        for pair in hidden.windows(2) {
            let (ins, outs) = (pair[0].bias.len(), pair[1].bias.len());
            rest_t.push(dev.tensor_from_vec(transpose(&pair[1].weights, outs, ins), (ins, outs)));
        }
        let biases_t = hidden
            .iter()
            .map(|l| dev.tensor_from_vec(cast(&l.bias), (l.bias.len(),)))
            .collect();
        let output_t = dev.tensor_from_vec(cast(&output), (output.len(), Const::<1>));
        Ok(Self {
            host: HostRows {
                net: HostNet {
                    first_t: transpose(&hidden[0].weights, h0, D),
                    layers,
                    output: cast(&output),
                    output_bias: E::of(output_bias),
                    quadratic: E::of(quadratic),
                },
                pool: Mutex::new(Vec::new()),
            },
            first_t,
            rest_t,
            biases_t,
            output_t,
        })
    }

    /// The number of units of each hidden layer.
    pub fn hidden_sizes(&self) -> Vec<usize> {
        self.host.net.layers.iter().map(|(_, b)| b.len()).collect()
    }
}

/// `dst (m x n) = a (m x k) * b (k x n)` with explicit strides, on the calling thread.
#[allow(clippy::too_many_arguments)]
fn matmul<E: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [E],
    a: &[E],
    a_strides: (usize, usize),
    b: &[E],
    b_strides: (usize, usize),
) {
    let a = Strided {
        data: a,
        rows: m,
        cols: k,
        strides: a_strides,
    };
    let b = Strided {
        data: b,
        rows: k,
        cols: n,
        strides: b_strides,
    };
    // The layers size every buffer from the network's own shapes.
    dense::matmul_strided(dst, a, b, false, 1).expect("layer buffers match the layer shapes");
}

impl<const D: usize, E: Real, Dev: Device<E>> Energy<D, E, Dev> for Mlp<D, E, Dev> {
    fn energy<T: Tape<E, Dev>>(&self, x: Batch<D, E, Dev, T>) -> Energies<E, Dev, T> {
        let n = x.shape().0;
        let quad = x.retaped::<T>().square().sum::<(usize,), Axis<1>>() * self.host.net.quadratic;
        let pre = x.matmul(self.first_t.clone());
        let shape = *pre.shape();
        let mut h = (pre
            + self.biases_t[0]
                .clone()
                .broadcast_like::<_, Axis<0>>(&shape))
        .tanh();
        for (w, b) in self.rest_t.iter().zip(&self.biases_t[1..]) {
            let pre = h.matmul(w.clone());
            let shape = (n, pre.shape().1);
            h = (pre + b.clone().broadcast_like::<_, Axis<0>>(&shape)).tanh();
        }
        let out =
            h.matmul(self.output_t.clone()).sum::<(usize,), Axis<1>>() + self.host.net.output_bias;
        out + quad
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) -> bool {
        // Blocks of rows on rayon's threads, each through both passes with single-threaded
        // matrix products: coarse blocks beat parallelising each small product. Every row is
        // computed the same way whatever its block, so the split changes no bits.
        let host = &self.host;
        ebm_core::energy::for_row_blocks::<D, E>(x, energy, grad, BLOCK_ROWS, |x, e, g| {
            host.rows_energy_and_gradient(x, e, g)
        });
        true
    }

    fn row_energy(&self) -> Option<&dyn RowEnergy<E>> {
        Some(&self.host)
    }
}

/// Rows per block of the host path: a batch of a few hundred chains still keeps every thread
/// busy, and a block's activations stay in cache.
const BLOCK_ROWS: usize = 64;

impl<const D: usize, E: Real> RowEnergy<E> for HostRows<D, E> {
    fn rows_energy_and_gradient(&self, x: &[E], energy: &mut [E], grad: &mut [E]) {
        let n = energy.len();
        if x.len() != n * D || grad.len() != n * D {
            // Buffers that do not fit leave the outputs unspecified (the trait's contract).
            return;
        }
        let lock = || match self.pool.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut scratch = lock().pop().unwrap_or_default();
        let need = n * self.net.scratch_per_row();
        if scratch.len() < need {
            scratch.resize(need, E::zero());
        }
        self.net.passes::<D>(x, energy, grad, &mut scratch[..need]);
        lock().push(scratch);
    }

    fn preferred_block_rows(&self) -> Option<usize> {
        Some(BLOCK_ROWS)
    }
}

impl<E: Real> HostNet<E> {
    /// Scratch values needed per row: every layer's activations and two delta buffers.
    fn scratch_per_row(&self) -> usize {
        let sizes = self.layers.iter().map(|(_, b)| b.len());
        sizes.clone().sum::<usize>() + 2 * sizes.max().unwrap_or(0)
    }

    /// Energies and input gradients of the rows of `x`, using `scratch` (at least
    /// `scratch_per_row() * rows` long) for activations and deltas: [`Self::passes_body`]
    /// compiled for AVX2 where the processor has it. The elementwise loops then run eight `f32`
    /// lanes wide instead of the baseline's four; the arithmetic is the same (no operation is
    /// fused that the baseline does not fuse), so every processor gives the same bits.
    fn passes<const D: usize>(&self, x: &[E], energy: &mut [E], grad: &mut [E], scratch: &mut [E]) {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn avx2<const D: usize, E: Real>(
                net: &HostNet<E>,
                x: &[E],
                energy: &mut [E],
                grad: &mut [E],
                scratch: &mut [E],
            ) {
                net.passes_body::<D>(x, energy, grad, scratch)
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2, checked just above.
                return unsafe { avx2::<D, E>(self, x, energy, grad, scratch) };
            }
        }
        self.passes_body::<D>(x, energy, grad, scratch)
    }

    /// The passes of [`Self::passes`], inlined into each of its compiled copies.
    #[inline(always)]
    fn passes_body<const D: usize>(
        &self,
        x: &[E],
        energy: &mut [E],
        grad: &mut [E],
        scratch: &mut [E],
    ) {
        let n = energy.len();
        let sizes: Vec<usize> = self.layers.iter().map(|(_, b)| b.len()).collect();
        let total: usize = sizes.iter().sum();
        let widest = sizes.iter().copied().max().unwrap_or(0);
        let (acts, deltas) = scratch.split_at_mut(n * total);
        let (delta_a, delta_b) = deltas.split_at_mut(n * widest);

        // Forward: h_l = tanh(h_{l-1} W_l^T + b_l), kept for the backward pass.
        let mut offset = 0;
        let mut ins = D;
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let outs = b.len();
            let (done, rest) = acts.split_at_mut(offset);
            let out = &mut rest[..n * outs];
            let input: &[E] = if l == 0 { x } else { &done[offset - n * ins..] };
            if l == 0 && D <= NARROW {
                // A product with so few inputs is cheaper as a loop than through gemm's packing.
                for (row, xr) in out.chunks_exact_mut(outs).zip(input.chunks_exact(D)) {
                    row.copy_from_slice(b);
                    for (&xk, wk) in xr.iter().zip(self.first_t.chunks_exact(outs)) {
                        row.iter_mut().zip(wk).for_each(|(v, &w)| *v += xk * w);
                    }
                }
            } else {
                // W^T[k][j] = W[j][k]: row stride 1, column stride `ins`.
                matmul(n, outs, ins, out, input, (ins, 1), w, (1, ins));
                for row in out.chunks_exact_mut(outs) {
                    row.iter_mut().zip(b).for_each(|(v, &bi)| *v += bi);
                }
            }
            E::tanh_slice(out);
            offset += n * outs;
            ins = outs;
        }
        let last = &acts[offset - n * ins..offset];
        let c = self.quadratic;
        for ((e, row), xr) in energy
            .iter_mut()
            .zip(last.chunks_exact(ins))
            .zip(x.chunks_exact(D))
        {
            let out: E = row.iter().zip(&self.output).map(|(&h, &w)| h * w).sum();
            let sq: E = xr.iter().map(|&v| v * v).sum();
            *e = out + self.output_bias + c * sq;
        }

        // Backward for the input gradient: delta_L = w * (1 - h_L^2),
        // delta_{l-1} = (delta_l W_l) * (1 - h_{l-1}^2), grad = delta_1 W_1 + 2 c x.
        let one = E::one();
        for (d, row) in delta_a.chunks_exact_mut(ins).zip(last.chunks_exact(ins)) {
            for ((dv, &h), &w) in d.iter_mut().zip(row).zip(&self.output) {
                *dv = w * (one - h * h);
            }
        }
        let (mut cur, mut next) = (delta_a, delta_b);
        let mut end = offset;
        for l in (1..self.layers.len()).rev() {
            let (outs, prev) = (sizes[l], sizes[l - 1]);
            let w = &self.layers[l].0;
            matmul(
                n,
                prev,
                outs,
                &mut next[..n * prev],
                &cur[..n * outs],
                (outs, 1),
                w,
                (prev, 1),
            );
            end -= n * outs;
            let h_prev = &acts[end - n * prev..end];
            next[..n * prev]
                .iter_mut()
                .zip(h_prev)
                .for_each(|(dv, &h)| *dv *= one - h * h);
            std::mem::swap(&mut cur, &mut next);
        }
        let h1 = sizes[0];
        if D <= NARROW {
            for (gr, dr) in grad.chunks_exact_mut(D).zip(cur[..n * h1].chunks_exact(h1)) {
                for (gk, wk) in gr.iter_mut().zip(self.first_t.chunks_exact(h1)) {
                    *gk = dot(dr, wk);
                }
            }
        } else {
            matmul(
                n,
                D,
                h1,
                grad,
                &cur[..n * h1],
                (h1, 1),
                &self.layers[0].0,
                (D, 1),
            );
        }
        let two_c = c + c;
        grad.iter_mut().zip(x).for_each(|(g, &v)| *g += two_c * v);
    }
}

/// Up to this many inputs, the first layer's products are loops rather than matrix products.
const NARROW: usize = 8;

/// A dot product with eight partial sums, so that it vectorises.
#[inline(always)]
fn dot<E: Real>(a: &[E], b: &[E]) -> E {
    let mut acc = [E::zero(); 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: E = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    for (xa, xb) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += xa[l] * xb[l];
        }
    }
    acc.iter().copied().sum::<E>() + tail
}
