//! Networks as energies: dfdx module stacks of `Linear` layers and activations, trained with dfdx's
//! optimisers, and [`MlpEnergy`], the same network as an [`Energy`] with a hand-written host pass
//! for sampling.
//!
//! A network maps a point to one number, its energy: a tuple such as
//! `(Linear<2, 128>, Silu, Linear<128, 128>, Silu, Linear<128, 1>)` of dfdx's builders, built with
//! [`build_network`] (PyTorch's initialisation of `Linear`: weights and biases uniform in
//! `+-1/sqrt(fan_in)`, drawn from a seed). Training differentiates the network with respect to its
//! parameters through dfdx ([`crate::cd`]); sampling needs the gradient with respect to the points
//! only, which [`MlpEnergy::from_network`] computes with a forward and a backward pass written by
//! hand over host buffers, with no tape and no parameter gradients.

use crate::error::{Result, TrainError};
use dfdx::nn::modules;
use dfdx::nn::{BuildModule, Module, NonMutableModule, TensorCollection, ZeroSizedModule};
use ebm_core::energy::RowEnergy;
use ebm_core::prelude::*;

/// The SiLU (swish) activation `x sigmoid(x)` as a dfdx module, which dfdx 0.13 lacks.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_train::nn::Silu;
///
/// let dev = Cpu::default();
/// let x = dev.tensor([0.0f32, 1.0]);
/// let y = Silu.forward(x).as_vec();
/// assert!((y[1] - 1.0 / (1.0 + (-1.0f32).exp())).abs() < 1e-6);
/// ```
#[derive(Default, Debug, Clone, Copy)]
pub struct Silu;

impl ZeroSizedModule for Silu {}
impl NonMutableModule for Silu {}

impl<S: Shape, E: Real, D: Device<E>, T: Tape<E, D>> Module<Tensor<S, E, D, T>> for Silu {
    type Output = Tensor<S, E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<S, E, D, T>) -> std::result::Result<Self::Output, D::Err> {
        Ok(x.silu())
    }
}

/// TorchEBM's benchmark network and the usual choice for 2-D data: `I -> H -> H -> 1` with SiLU.
pub type SiluMlp<const I: usize, const H: usize> = (
    dfdx::nn::builders::Linear<I, H>,
    Silu,
    dfdx::nn::builders::Linear<H, H>,
    Silu,
    dfdx::nn::builders::Linear<H, 1>,
);

/// Builds a network of dfdx builders on the CPU in `f32`, its parameters drawn from `seed` with
/// PyTorch's initialisation of `Linear` (weights and biases uniform in `+-1/sqrt(fan_in)`, layer by
/// layer, weights before biases).
///
/// ```
/// use ebm_train::nn::{build_network, SiluMlp};
///
/// let net = build_network::<SiluMlp<2, 16>>(7);
/// let bound = 1.0 / 2f32.sqrt();
/// assert!(net.0.weight.as_vec().iter().all(|w| w.abs() <= bound));
/// // The same seed, the same network.
/// assert_eq!(net.2.weight.as_vec(), build_network::<SiluMlp<2, 16>>(7).2.weight.as_vec());
/// ```
pub fn build_network<M: dfdx::nn::BuildOnDevice<Cpu, f32>>(seed: u64) -> M::Built {
    let dev = Cpu::seed_from_u64(seed);
    M::Built::build(&dev)
}

/// A network that [`crate::cd::PcdTrainer`] trains on `D`-dimensional points: its parameters are
/// a dfdx [`TensorCollection`] that the optimisers update, it computes one energy per row of a
/// batch with the parameters on the tape (for their gradient), and it gives an [`Energy`] with the
/// current parameters for drawing negatives (no parameter gradients there).
///
/// Two kinds of types are networks:
/// - dfdx module stacks of `Linear` layers and activations whose layers the host pass knows
///   ([`HostLayers`]), such as [`SiluMlp`] built by [`build_network`]; they sample through
///   [`MlpEnergy`];
/// - models of `#[energy(trainable)]` functions on `f32` and the CPU
///   (see [`ebm_core::energy`](macro@ebm_core::energy)), which sample as themselves.
pub trait Network<const D: usize>: TensorCollection<f32, Cpu> {
    /// The energy that negatives are drawn from: the network with its parameters fixed.
    type Sampling: Energy<D, f32, Cpu>;

    /// The energy with the current parameters, for sampling.
    ///
    /// # Errors
    /// [`TrainError::Network`] when the network is not an energy of `D`-dimensional points or a
    /// parameter is no longer finite.
    fn sampling_energy(&self) -> Result<Self::Sampling>;

    /// One energy per row of `x`, with every operation on the parameters recorded on the tape, so
    /// that `backward` gives their gradients.
    fn traced_energies(
        &self,
        x: Tensor<(usize, Const<D>), f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>>;

    /// The training pass without a tape, for networks that have one: the energies of the rows of
    /// `x` (row-major) under `sampling` (this network's [`Network::sampling_energy`]), and the
    /// gradient of `sum_i w_i E(x_i)`, `w = weights(energies)`, written into `grads` for every
    /// trainable tensor. `Ok(None)` (the default) when the network has no such pass: the trainer
    /// then differentiates [`Network::traced_energies`].
    ///
    /// # Errors
    /// [`TrainError::Network`] when the pass does not match the network's tensors.
    fn host_weighted_gradients(
        &self,
        sampling: &Self::Sampling,
        x: &[f32],
        weights: &mut dyn FnMut(&[f32]) -> Vec<f32>,
        grads: &mut Gradients<f32, Cpu>,
    ) -> Result<Option<Vec<f32>>> {
        let _ = (sampling, x, weights, grads);
        Ok(None)
    }
}

impl<const D: usize, M> Network<D> for M
where
    M: TensorCollection<f32, Cpu>
        + HostLayers
        + Module<
            Tensor<(usize, Const<D>), f32, Cpu, OwnedTape<f32, Cpu>>,
            Output = Tensor<(usize, Const<1>), f32, Cpu, OwnedTape<f32, Cpu>>,
        >,
{
    type Sampling = MlpEnergy<D>;

    fn sampling_energy(&self) -> Result<MlpEnergy<D>> {
        MlpEnergy::from_network(self)
    }

    fn traced_energies(
        &self,
        x: Tensor<(usize, Const<D>), f32, Cpu, OwnedTape<f32, Cpu>>,
    ) -> Tensor<(usize,), f32, Cpu, OwnedTape<f32, Cpu>> {
        self.forward(x).sum::<(usize,), Axis<1>>()
    }

    fn host_weighted_gradients(
        &self,
        sampling: &MlpEnergy<D>,
        x: &[f32],
        weights: &mut dyn FnMut(&[f32]) -> Vec<f32>,
        grads: &mut Gradients<f32, Cpu>,
    ) -> Result<Option<Vec<f32>>> {
        let (energies, values) = sampling.weighted_parameter_gradients(x, weights)?;
        crate::checkpoint::write_gradients(self, grads, &values)?;
        Ok(Some(energies))
    }
}

/// One step of a network as the host pass runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum HostLayer {
    /// `y = x W^T + b`: `weight` row-major `(outputs, inputs)` as dfdx and PyTorch store it.
    Dense {
        /// Inputs per row.
        inputs: usize,
        /// Outputs per row.
        outputs: usize,
        /// `(outputs, inputs)`, row-major.
        weight: Vec<f32>,
        /// One per output.
        bias: Vec<f32>,
    },
    /// An element-wise activation.
    Activation(Activation),
}

/// The activations the host pass knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `x sigmoid(x)`.
    Silu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `max(x, 0)`.
    Relu,
}

/// A module whose computation the host pass can run: `Linear` layers, the activations of
/// [`Activation`], and tuples of them (dfdx's sequential networks).
pub trait HostLayers {
    /// Appends this module's steps to `out`.
    fn host_layers(&self, out: &mut Vec<HostLayer>);
}

impl<const I: usize, const O: usize> HostLayers for modules::Linear<I, O, f32, Cpu> {
    fn host_layers(&self, out: &mut Vec<HostLayer>) {
        out.push(HostLayer::Dense {
            inputs: I,
            outputs: O,
            weight: self.weight.as_vec(),
            bias: self.bias.as_vec(),
        });
    }
}

macro_rules! activation_layers {
    ($($module:ty => $act:expr),*) => {$(
        impl HostLayers for $module {
            fn host_layers(&self, out: &mut Vec<HostLayer>) {
                out.push(HostLayer::Activation($act));
            }
        }
    )*};
}
activation_layers!(
    Silu => Activation::Silu,
    modules::Tanh => Activation::Tanh,
    modules::Sigmoid => Activation::Sigmoid,
    modules::ReLU => Activation::Relu
);

macro_rules! tuple_layers {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: HostLayers),+> HostLayers for ($($name,)+) {
            fn host_layers(&self, out: &mut Vec<HostLayer>) {
                $(self.$idx.host_layers(out);)+
            }
        }
    };
}
tuple_layers!(A: 0, B: 1);
tuple_layers!(A: 0, B: 1, C: 2);
tuple_layers!(A: 0, B: 1, C: 2, D: 3);
tuple_layers!(A: 0, B: 1, C: 2, D: 3, F: 4);
tuple_layers!(A: 0, B: 1, C: 2, D: 3, F: 4, G: 5);

/// A dense network as an energy of `D`-dimensional points: a snapshot of a dfdx network's
/// parameters with a forward and backward pass written by hand (row-block products from
/// `ebm-kernels`, vectorised activations), the fast path of sampling on the CPU.
///
/// Every row is computed the same way whatever the rows around it and the number of threads, so
/// samplers give the same draws on any thread count. The tensor path ([`Energy::energy`]) computes
/// the same function with dfdx operations (for autodiff checks and other devices' code paths).
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_train::nn::{build_network, MlpEnergy, SiluMlp};
///
/// let net = build_network::<SiluMlp<2, 32>>(1);
/// let model = MlpEnergy::<2>::from_network(&net)?;
/// let x: Batch<2> = Cpu::default().tensor_from_vec(vec![0.5, -1.0], (1, Const::<2>));
/// let (e, g) = model.energy_and_gradient(&x);
/// // The host pass agrees with the network run by dfdx.
/// let direct = net.forward(x.clone()).as_vec()[0];
/// assert!((e.as_vec()[0] - direct).abs() < 1e-5);
/// assert_eq!(g.shape().0, 1);
/// # Ok::<(), ebm_train::TrainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MlpEnergy<const D: usize> {
    layers: Vec<HostLayer>,
    /// Per dense layer, `W^T` row-major `(inputs, outputs)`, for `x W^T` as `rows x matrix`.
    forward: Vec<Vec<f32>>,
}

impl<const D: usize> MlpEnergy<D> {
    /// Takes a snapshot of `network`'s parameters.
    ///
    /// # Errors
    /// [`TrainError::Network`] unless the network starts with a dense layer of `D` inputs, ends
    /// with a dense layer of one output, chains its layers' sizes and holds finite parameters.
    pub fn from_network<M: HostLayers>(network: &M) -> Result<Self> {
        let mut layers = Vec::new();
        network.host_layers(&mut layers);
        Self::from_layers(layers)
    }

    /// The network given as its steps.
    ///
    /// # Errors
    /// As [`MlpEnergy::from_network`].
    pub fn from_layers(layers: Vec<HostLayer>) -> Result<Self> {
        let bad = |reason: String| Err(TrainError::Network { reason });
        let mut width = D;
        let mut forward = Vec::new();
        let mut last_dense_outputs = None;
        for (l, layer) in layers.iter().enumerate() {
            match layer {
                HostLayer::Dense {
                    inputs,
                    outputs,
                    weight,
                    bias,
                } => {
                    if *inputs != width {
                        return bad(format!(
                            "layer {l} takes {inputs} inputs but receives {width}"
                        ));
                    }
                    if *outputs == 0 || weight.len() != inputs * outputs || bias.len() != *outputs {
                        return bad(format!(
                            "layer {l}: {outputs} x {inputs} needs that many weights ({}) and {outputs} biases ({})",
                            weight.len(),
                            bias.len()
                        ));
                    }
                    if let Some(i) = weight.iter().chain(bias).position(|v| !v.is_finite()) {
                        return bad(format!("layer {l}: parameter {i} is not finite"));
                    }
                    let mut t = vec![0.0f32; weight.len()];
                    for o in 0..*outputs {
                        for i in 0..*inputs {
                            t[i * outputs + o] = weight[o * inputs + i];
                        }
                    }
                    forward.push(t);
                    width = *outputs;
                    last_dense_outputs = Some(l);
                }
                HostLayer::Activation(_) => {
                    if !matches!(layers.get(l.wrapping_sub(1)), Some(HostLayer::Dense { .. })) {
                        return bad(format!(
                            "layer {l}: an activation must follow a dense layer"
                        ));
                    }
                }
            }
        }
        match last_dense_outputs {
            Some(l) if l + 1 == layers.len() && width == 1 => {}
            _ => {
                return bad(format!(
                    "the last layer must be dense with one output (the energy); the network ends with {width} values"
                ))
            }
        }
        Ok(Self { layers, forward })
    }

    /// The network's steps.
    pub fn layers(&self) -> &[HostLayer] {
        &self.layers
    }

    /// The widest layer, inputs included.
    fn widest(&self) -> usize {
        self.layers
            .iter()
            .filter_map(|l| match l {
                HostLayer::Dense { outputs, .. } => Some(*outputs),
                HostLayer::Activation(_) => None,
            })
            .fold(D, usize::max)
    }

    /// Energies and input gradients of the rows of `x`, on the calling thread, in this thread's
    /// scratch memory (no allocation once it has grown to the block's size).
    fn rows_pass(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let n = energy.len();
        let total: usize = self
            .layers
            .iter()
            .filter_map(|l| match l {
                HostLayer::Dense { outputs, .. } => Some(n * outputs),
                HostLayer::Activation(_) => None,
            })
            .sum();
        let wide = n * self.widest();
        SCRATCH.with(|cell| {
            let mut scratch = cell.borrow_mut();
            let need = 2 * total + 3 * wide;
            if scratch.len() < need {
                scratch.resize(need, 0.0);
            }
            let (pre, rest) = scratch.split_at_mut(total);
            let (aux, rest) = rest.split_at_mut(total);
            let (cur, rest) = rest.split_at_mut(wide);
            let (buf_a, rest) = rest.split_at_mut(wide);
            let buf_b = &mut rest[..wide];

            // Forward: each dense layer's output z_l (before the activation that follows it) and
            // what that activation's derivative needs are kept for the backward pass.
            let mut width = D;
            let mut offset = 0;
            let mut dense = 0;
            let mut first = true;
            for (l, layer) in self.layers.iter().enumerate() {
                let HostLayer::Dense { outputs, bias, .. } = layer else {
                    continue;
                };
                let o = *outputs;
                let z = &mut pre[offset..offset + n * o];
                let input: &[f32] = if first { x } else { &cur[..n * width] };
                ebm_kernels::rows_times_matrix(input, &self.forward[dense], width, o, z)
                    .expect("layer shapes were checked when the network was built");
                for row in z.chunks_exact_mut(o) {
                    row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
                let z = &pre[offset..offset + n * o];
                match self.layers.get(l + 1) {
                    Some(HostLayer::Activation(a)) => {
                        activate(*a, z, &mut cur[..n * o], &mut aux[offset..offset + n * o])
                    }
                    _ => cur[..n * o].copy_from_slice(z),
                }
                first = false;
                width = o;
                offset += n * o;
                dense += 1;
            }
            // The last layer is dense with one output and no activation after it.
            energy.copy_from_slice(&cur[..n]);

            // Backward: delta = dE/dz, from 1 at the output down to the input.
            let (mut delta, mut next) = (&mut buf_a[..], &mut buf_b[..]);
            delta[..n].iter_mut().for_each(|d| *d = 1.0);
            let mut end = offset;
            for (l, layer) in self.layers.iter().enumerate().rev() {
                let HostLayer::Dense {
                    inputs,
                    outputs,
                    weight,
                    ..
                } = layer
                else {
                    continue;
                };
                let (i, o) = (*inputs, *outputs);
                end -= n * o;
                // delta (n x outputs) W (outputs x inputs), W row-major as stored.
                ebm_kernels::rows_times_matrix(&delta[..n * o], weight, o, i, &mut next[..n * i])
                    .expect("layer shapes were checked when the network was built");
                if l > 0 {
                    if let HostLayer::Activation(a) = self.layers[l - 1] {
                        let range = end - n * i..end;
                        derivative_times(a, &pre[range.clone()], &aux[range], &mut next[..n * i]);
                    }
                }
                std::mem::swap(&mut delta, &mut next);
            }
            grad.copy_from_slice(&delta[..n * D]);
        })
    }
}

/// `h = act(z)`, and into `aux` what the derivative needs: `sigmoid(z)` for SiLU and the sigmoid,
/// `tanh(z)` for tanh, nothing for ReLU.
fn activate(a: Activation, z: &[f32], h: &mut [f32], aux: &mut [f32]) {
    match a {
        Activation::Tanh => {
            aux.copy_from_slice(z);
            ebm_core::activation::tanh_in_place(aux);
            h.copy_from_slice(aux);
        }
        Activation::Relu => h.iter_mut().zip(z).for_each(|(v, &z)| *v = z.max(0.0)),
        Activation::Sigmoid | Activation::Silu => {
            // sigmoid(z) = (1 + tanh(z / 2)) / 2, through the vectorised tanh.
            aux.iter_mut().zip(z).for_each(|(s, &z)| *s = 0.5 * z);
            ebm_core::activation::tanh_in_place(aux);
            aux.iter_mut().for_each(|t| *t = 0.5 + 0.5 * *t);
            if a == Activation::Silu {
                h.iter_mut()
                    .zip(z.iter().zip(aux.iter()))
                    .for_each(|(v, (&z, &s))| *v = z * s);
            } else {
                h.copy_from_slice(aux);
            }
        }
    }
}

/// What the forward pass of a block of rows keeps for the parameter gradients: per dense layer,
/// its input, its output before the activation and the activation's auxiliary values.
struct BlockTape {
    inputs: Vec<Vec<f32>>,
    pre: Vec<Vec<f32>>,
    aux: Vec<Vec<f32>>,
    energy: Vec<f32>,
}

impl<const D: usize> MlpEnergy<D> {
    /// The activation right after each dense layer, if any.
    fn activations_after_dense(&self) -> Vec<Option<Activation>> {
        self.layers
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, HostLayer::Dense { .. }))
            .map(|(l, _)| match self.layers.get(l + 1) {
                Some(HostLayer::Activation(a)) => Some(*a),
                _ => None,
            })
            .collect()
    }

    fn forward_block(&self, x: &[f32], after: &[Option<Activation>]) -> BlockTape {
        let n = x.len() / D;
        let mut tape = BlockTape {
            inputs: Vec::new(),
            pre: Vec::new(),
            aux: Vec::new(),
            energy: Vec::new(),
        };
        let mut a = x.to_vec();
        let mut width = D;
        let dense = self.layers.iter().filter_map(|l| match l {
            HostLayer::Dense { outputs, bias, .. } => Some((*outputs, bias)),
            HostLayer::Activation(_) => None,
        });
        for (k, (o, bias)) in dense.enumerate() {
            let mut z = vec![0.0f32; n * o];
            ebm_kernels::rows_times_matrix(&a, &self.forward[k], width, o, &mut z)
                .expect("layer shapes were checked when the network was built");
            for row in z.chunks_exact_mut(o) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            let mut aux = vec![0.0f32; n * o];
            let h = match after[k] {
                Some(act) => {
                    let mut h = vec![0.0f32; n * o];
                    activate(act, &z, &mut h, &mut aux);
                    h
                }
                None => z.clone(),
            };
            tape.inputs.push(std::mem::replace(&mut a, h));
            tape.pre.push(z);
            tape.aux.push(aux);
            width = o;
        }
        tape.energy = a;
        tape
    }

    /// The parameter gradients of `sum_i w_i E(x_i)` over one block, `[W_0, b_0, W_1, ...]` with
    /// each `W` `(outputs, inputs)` row-major.
    fn backward_block(
        &self,
        tape: &BlockTape,
        w: &[f32],
        after: &[Option<Activation>],
    ) -> Vec<Vec<f32>> {
        let n = w.len();
        let dense: Vec<(usize, usize, &Vec<f32>)> = self
            .layers
            .iter()
            .filter_map(|l| match l {
                HostLayer::Dense {
                    inputs,
                    outputs,
                    weight,
                    ..
                } => Some((*inputs, *outputs, weight)),
                HostLayer::Activation(_) => None,
            })
            .collect();
        let mut out = vec![Vec::new(); 2 * dense.len()];
        let mut delta = w.to_vec();
        let mut delta_t = Vec::new();
        for (k, &(i, o, weight)) in dense.iter().enumerate().rev() {
            // dW = delta^T a, through the row-block product on delta transposed.
            delta_t.clear();
            delta_t
                .extend((0..o).flat_map(|c| (0..n).map(|r| delta[r * o + c]).collect::<Vec<_>>()));
            let mut dw = vec![0.0f32; o * i];
            ebm_kernels::rows_times_matrix(&delta_t, &tape.inputs[k], n, i, &mut dw)
                .expect("layer shapes were checked when the network was built");
            let mut db = vec![0.0f32; o];
            for row in delta.chunks_exact(o) {
                db.iter_mut().zip(row).for_each(|(s, d)| *s += d);
            }
            out[2 * k] = dw;
            out[2 * k + 1] = db;
            if k > 0 {
                let mut next = vec![0.0f32; n * i];
                ebm_kernels::rows_times_matrix(&delta, weight, o, i, &mut next)
                    .expect("layer shapes were checked when the network was built");
                if let Some(act) = after[k - 1] {
                    derivative_times(act, &tape.pre[k - 1], &tape.aux[k - 1], &mut next);
                }
                delta = next;
            }
        }
        out
    }

    /// The energies of the rows of `x` (row-major, `D` values per row) and the gradient of
    /// `sum_i w_i E(x_i)` with respect to the parameters, for the weights `w = weights(energies)`
    /// (which may depend on the energies, as a loss does): `[W_0, b_0, W_1, b_1, ...]` per dense
    /// layer, each `W` `(outputs, inputs)` row-major as dfdx and PyTorch store it. This is the
    /// training pass by hand, as [`MlpEnergy::rows_energy_and_gradient`](RowEnergy) is the
    /// sampling pass: blocks of rows over the threads, the blocks' sums added in block order, so
    /// the result does not depend on the number of threads.
    ///
    /// # Errors
    /// [`TrainError::InvalidParameter`] when `x` does not hold whole rows or `weights` returns
    /// other than one weight per row.
    ///
    /// ```
    /// use ebm_core::prelude::*;
    /// use ebm_train::nn::{build_network, MlpEnergy, SiluMlp};
    ///
    /// let net = build_network::<SiluMlp<2, 8>>(1);
    /// let model = MlpEnergy::<2>::from_network(&net)?;
    /// let x = [0.5f32, -1.0, 2.0, 0.3];
    /// let (e, grads) = model.weighted_parameter_gradients(&x, |e| vec![1.0; e.len()])?;
    /// assert_eq!(e.len(), 2);
    /// // d/d b_last of sum_i E(x_i) is the number of rows.
    /// assert!((grads.last().unwrap()[0] - 2.0).abs() < 1e-6);
    /// # Ok::<(), ebm_train::TrainError>(())
    /// ```
    pub fn weighted_parameter_gradients(
        &self,
        x: &[f32],
        weights: impl FnOnce(&[f32]) -> Vec<f32>,
    ) -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
        use rayon::prelude::*;
        if D == 0 || x.len() % D != 0 {
            return Err(TrainError::InvalidParameter {
                name: "x".into(),
                value: format!("{} values", x.len()),
                reason: format!("must hold whole rows of {D} values"),
            });
        }
        let after = self.activations_after_dense();
        let tapes: Vec<BlockTape> = x
            .par_chunks(BLOCK_ROWS * D)
            .map(|block| self.forward_block(block, &after))
            .collect();
        let energies: Vec<f32> = tapes
            .iter()
            .flat_map(|t| t.energy.iter().copied())
            .collect();
        let w = weights(&energies);
        if w.len() != energies.len() {
            return Err(TrainError::InvalidParameter {
                name: "weights".into(),
                value: format!("{} values", w.len()),
                reason: format!("must give one weight per row ({})", energies.len()),
            });
        }
        let parts: Vec<Vec<Vec<f32>>> = tapes
            .par_iter()
            .zip(w.par_chunks(BLOCK_ROWS))
            .map(|(tape, w)| self.backward_block(tape, w, &after))
            .collect();
        let mut total: Vec<Vec<f32>> = self
            .layers
            .iter()
            .filter_map(|l| match l {
                HostLayer::Dense {
                    inputs, outputs, ..
                } => Some([vec![0.0f32; inputs * outputs], vec![0.0f32; *outputs]]),
                HostLayer::Activation(_) => None,
            })
            .flatten()
            .collect();
        for part in &parts {
            for (t, p) in total.iter_mut().zip(part) {
                t.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
        }
        Ok((energies, total))
    }
}

/// `delta <- delta * act'(z)`, with `aux` as [`activate`] wrote it.
fn derivative_times(a: Activation, z: &[f32], aux: &[f32], delta: &mut [f32]) {
    match a {
        Activation::Relu => delta
            .iter_mut()
            .zip(z)
            .for_each(|(d, &z)| *d = if z > 0.0 { *d } else { 0.0 }),
        Activation::Tanh => delta
            .iter_mut()
            .zip(aux)
            .for_each(|(d, &t)| *d *= 1.0 - t * t),
        // d/dz z s(z) = s (1 + z (1 - s))
        Activation::Silu => delta
            .iter_mut()
            .zip(z.iter().zip(aux))
            .for_each(|(d, (&z, &s))| *d *= s * (1.0 + z * (1.0 - s))),
        Activation::Sigmoid => delta
            .iter_mut()
            .zip(aux)
            .for_each(|(d, &s)| *d *= s * (1.0 - s)),
    }
}

/// Rows per block when a batch is split over threads: small enough that a batch of a few hundred
/// chains keeps two or more threads busy, large enough for the row-block products.
const BLOCK_ROWS: usize = 64;

impl<const D: usize> RowEnergy<f32> for MlpEnergy<D> {
    fn rows_energy_and_gradient(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) {
        self.rows_pass(x, energy, grad)
    }

    fn preferred_block_rows(&self) -> Option<usize> {
        Some(BLOCK_ROWS)
    }
}

impl<const D: usize> Energy<D, f32, Cpu> for MlpEnergy<D> {
    fn energy<T: Tape<f32, Cpu>>(&self, x: Batch<D, f32, Cpu, T>) -> Energies<f32, Cpu, T> {
        let dev = x.device().clone();
        let n = x.shape().0;
        let mut h: Tensor<(usize, usize), f32, Cpu, T> = x.reshape_like(&(n, D));
        let mut dense = 0;
        for layer in &self.layers {
            match layer {
                HostLayer::Dense {
                    inputs,
                    outputs,
                    bias,
                    ..
                } => {
                    let w = dev.tensor_from_vec(self.forward[dense].clone(), (*inputs, *outputs));
                    let b = dev
                        .tensor_from_vec(bias.clone(), (*outputs,))
                        .broadcast_like::<_, Axis<0>>(&(n, *outputs));
                    h = h.matmul(w) + b;
                    dense += 1;
                }
                HostLayer::Activation(Activation::Silu) => h = h.silu(),
                HostLayer::Activation(Activation::Tanh) => h = h.tanh(),
                HostLayer::Activation(Activation::Sigmoid) => h = h.sigmoid(),
                HostLayer::Activation(Activation::Relu) => h = h.relu(),
            }
        }
        h.reshape_like(&(n,))
    }

    fn has_host_path(&self) -> bool {
        true
    }

    fn host_energy_and_gradient(&self, x: &[f32], energy: &mut [f32], grad: &mut [f32]) -> bool {
        ebm_core::energy::for_row_blocks::<D, f32>(x, energy, grad, BLOCK_ROWS, |x, e, g| {
            self.rows_pass(x, e, g)
        });
        true
    }

    fn row_energy(&self) -> Option<&dyn RowEnergy<f32>> {
        Some(self)
    }
}

/// Checks that every trainable parameter of `network` is finite.
///
/// # Errors
/// [`TrainError::Network`] naming the parameter (by its position among the trainable tensors, in
/// dfdx's visiting order) and the element.
///
/// ```
/// use ebm_train::nn::{build_network, check_finite_parameters, SiluMlp};
///
/// let mut net = build_network::<SiluMlp<2, 4>>(0);
/// assert!(check_finite_parameters(&net).is_ok());
/// let mut w = net.2.weight.as_vec();
/// w[3] = f32::NAN;
/// net.2.weight.copy_from(&w);
/// assert!(check_finite_parameters(&net).is_err());
/// ```
pub fn check_finite_parameters<M: TensorCollection<f32, Cpu>>(network: &M) -> Result<()> {
    for (t, values) in crate::checkpoint::read_params(network)?.iter().enumerate() {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(TrainError::Network {
                reason: format!(
                    "trainable tensor {t}, element {i}, is {}: the parameters are no longer finite",
                    values[i]
                ),
            });
        }
    }
    Ok(())
}
