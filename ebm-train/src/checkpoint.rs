//! Checkpoints of a training run: everything [`PcdTrainer`] needs to go on exactly as if it had
//! never stopped: the parameters, Adam's moments and step count, the replay buffer and its write
//! pointer, the random stream's position and the iteration count.
//!
//! A checkpoint is one file, written to a temporary file beside it and renamed over it, so a
//! process killed at any moment leaves either the previous checkpoint or the new one, whole. The
//! training data and the settings are not stored: resume with the same ones (the file records a
//! fingerprint of both and refuses others).
//!
//! Format: the line `ebm-train checkpoint 1`, the length of a JSON header as 8 little-endian
//! bytes, the header, then the arrays it lists as little-endian `f32`.

use crate::buffer::ReplayBuffer;
use crate::cd::PcdTrainer;
use crate::error::{Result, TrainError};
use crate::nn::Network;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorRef,
};
use dfdx::nn::TensorCollection;
use dfdx::optim::AdamState;
use ebm_core::prelude::*;
use ebm_samplers::Kernel;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::Path;

const MAGIC: &[u8] = b"ebm-train checkpoint 1\n";

/// Writes the trainable tensors of a module, in its visiting order.
struct WriteParams<'a> {
    values: &'a [Vec<f32>],
    next: usize,
}

impl TensorVisitor<f32, Cpu> for WriteParams<'_> {
    type Viewer = ViewTensorMut;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &mut Tensor<S, f32, Cpu>,
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if opts.do_gradient_update {
            p.copy_from(&self.values[self.next]);
            self.next += 1;
        }
        Ok(None)
    }
}

/// Reads the trainable tensors of a module, in its visiting order.
struct ReadParams(Vec<Vec<f32>>);

impl TensorVisitor<f32, Cpu> for ReadParams {
    type Viewer = ViewTensorRef;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &Tensor<S, f32, Cpu>,
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if opts.do_gradient_update {
            self.0.push(p.as_vec());
        }
        Ok(None)
    }
}

/// The trainable tensors of `network`, in visiting order.
pub(crate) fn read_params<M: TensorCollection<f32, Cpu>>(network: &M) -> Result<Vec<Vec<f32>>> {
    let mut read = ReadParams(Vec::new());
    M::iter_tensors(&mut RecursiveWalker {
        m: network,
        f: &mut read,
    })
    .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
    Ok(read.0)
}

/// FNV-1a over bytes: a fingerprint of the data and settings, not a security measure.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn format_error(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::Format {
        path: path.into(),
        reason: reason.into(),
    }
}

impl<const D: usize, M, S> PcdTrainer<D, M, S>
where
    M: Network<D>,
    S: Kernel,
{
    /// Writes a checkpoint to `path` (replacing it atomically).
    ///
    /// # Errors
    /// [`TrainError::Io`] when the file cannot be written.
    pub fn save_checkpoint(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source: std::io::Error| TrainError::Io {
            path: path.into(),
            source,
        };
        let params = read_params(self.network())?;
        let adam = self
            .optimiser_state()
            .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
        let rng = self.rng_state();
        let mut arrays: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        for (m, v) in &adam.moments {
            arrays.push(m);
            arrays.push(v);
        }
        let buffer = self.buffer();
        if let Some(b) = buffer {
            arrays.push(b.points());
        }
        let chains = self.chains().map(|c| c.snapshot());
        if let Some(c) = &chains {
            arrays.push(&c.positions);
            arrays.push(&c.energies);
            arrays.push(&c.gradients);
        }
        let header = json!({
            "iteration": self.iterations(),
            "fingerprint": self.fingerprint().to_string(),
            "rng": {
                "seed": rng.get_seed().to_vec(),
                "stream": rng.get_stream().to_string(),
                "word_pos": rng.get_word_pos().to_string(),
            },
            "adam_t": adam.t,
            "params": params.iter().map(Vec::len).collect::<Vec<_>>(),
            "moments": adam.moments.iter().map(|(m, v)| [m.len(), v.len()]).collect::<Vec<_>>(),
            "buffer": buffer.map(|b| json!({"points": b.len(), "dim": b.dim(), "pointer": b.pointer()})),
            "chains": chains.as_ref().map(|c| json!({
                "n": c.n_chains(),
                "steps": c.steps.to_string(),
                "rng_seeds": c.rng_seeds.iter().map(|s| s.to_vec()).collect::<Vec<_>>(),
                "rng_streams": c.rng_streams.iter().map(u64::to_string).collect::<Vec<_>>(),
                "rng_word_pos": c.rng_word_pos.iter().map(u128::to_string).collect::<Vec<_>>(),
                "step_sizes": c.step_sizes,
                "temperatures": c.temperatures,
                "step_size_jitter": c.step_size_jitter,
            })),
        });
        let header = header.to_string().into_bytes();
        let mut bytes = Vec::with_capacity(
            MAGIC.len() + 8 + header.len() + 4 * arrays.iter().map(|a| a.len()).sum::<usize>(),
        );
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        for a in arrays {
            for v in a {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Restores a checkpoint written by [`PcdTrainer::save_checkpoint`] for a trainer of the same
    /// network shape, data and settings (the sampler is the caller's); training then goes on
    /// bit for bit as the run that wrote it would have.
    ///
    /// # Errors
    /// [`TrainError::Io`] when the file cannot be read; [`TrainError::Format`] when it is not a
    /// checkpoint, is cut short, or was written for other data, settings or network shapes. The
    /// trainer is unchanged on any error.
    pub fn load_checkpoint(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TrainError::Io {
            path: path.into(),
            source,
        })?;
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| format_error(path, "not an ebm-train checkpoint"))?;
        let (len, rest) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| format_error(path, "cut short in its header"))?;
        let len = usize::try_from(u64::from_le_bytes(*len))
            .ok()
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| format_error(path, "cut short in its header"))?;
        let (header, mut data) = rest.split_at(len);
        let header: Value = serde_json::from_slice(header)
            .map_err(|e| format_error(path, format!("header: {e}")))?;
        let field = |name: &str| {
            header
                .get(name)
                .ok_or_else(|| format_error(path, format!("header lacks `{name}`")))
        };
        let number = |v: &Value, what: &str| {
            v.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| format_error(path, format!("`{what}` is not a count")))
        };
        let big = |v: &Value, what: &str| {
            v.as_str()
                .and_then(|s| s.parse::<u128>().ok())
                .ok_or_else(|| format_error(path, format!("`{what}` is not a number")))
        };
        if big(field("fingerprint")?, "fingerprint")? != u128::from(self.fingerprint()) {
            return Err(format_error(
                path,
                "written for other training data or settings",
            ));
        }
        let mut take = |n: usize| -> Result<Vec<f32>> {
            if data.len() < 4 * n {
                return Err(format_error(path, "cut short in its arrays"));
            }
            let (head, tail) = data.split_at(4 * n);
            data = tail;
            Ok(head
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let counts = |name: &str| -> Result<Vec<usize>> {
            field(name)?
                .as_array()
                .ok_or_else(|| format_error(path, format!("`{name}` is not a list")))?
                .iter()
                .map(|v| number(v, name))
                .collect()
        };
        let param_lengths = counts("params")?;
        let have: Vec<usize> = read_params(self.network())?.iter().map(Vec::len).collect();
        if have != param_lengths {
            return Err(format_error(
                path,
                format!("parameters of sizes {param_lengths:?}, the network has {have:?}"),
            ));
        }
        let params: Vec<Vec<f32>> = param_lengths
            .iter()
            .map(|&n| take(n))
            .collect::<Result<_>>()?;
        let moments_field = field("moments")?
            .as_array()
            .ok_or_else(|| format_error(path, "`moments` is not a list"))?;
        let mut moments = Vec::with_capacity(moments_field.len());
        for pair in moments_field {
            let pair = pair
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| format_error(path, "`moments` holds pairs of lengths"))?;
            let (m, v) = (number(&pair[0], "moments")?, number(&pair[1], "moments")?);
            moments.push((take(m)?, take(v)?));
        }
        let adam_t = field("adam_t")?
            .as_i64()
            .and_then(|t| i32::try_from(t).ok())
            .ok_or_else(|| format_error(path, "`adam_t` is not a step count"))?;
        let buffer = match field("buffer")? {
            Value::Null => None,
            b => {
                let get = |k: &str| {
                    b.get(k)
                        .ok_or_else(|| format_error(path, format!("`buffer` lacks `{k}`")))
                };
                let (n, dim, ptr) = (
                    number(get("points")?, "buffer.points")?,
                    number(get("dim")?, "buffer.dim")?,
                    number(get("pointer")?, "buffer.pointer")?,
                );
                if dim != D || ptr >= n.max(1) {
                    return Err(format_error(path, "the buffer does not fit the trainer"));
                }
                let points = take(
                    n.checked_mul(dim)
                        .ok_or_else(|| format_error(path, "the buffer's size overflows"))?,
                )?;
                let mut b = ReplayBuffer::from_points(points, dim)
                    .map_err(|e| format_error(path, e.to_string()))?;
                b.set_pointer(ptr);
                Some(b)
            }
        };
        let chains = match header.get("chains").unwrap_or(&Value::Null) {
            Value::Null => None,
            c => {
                let get = |k: &str| {
                    c.get(k)
                        .ok_or_else(|| format_error(path, format!("`chains` lacks `{k}`")))
                };
                let n = number(get("n")?, "chains.n")?;
                let list = |k: &str| -> Result<Vec<Value>> {
                    let v = get(k)?.as_array().filter(|a| a.len() == n).ok_or_else(|| {
                        format_error(path, format!("`chains.{k}` is not {n} values"))
                    })?;
                    Ok(v.clone())
                };
                let seeds = list("rng_seeds")?
                    .iter()
                    .map(|s| {
                        s.as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
                                    .collect::<Vec<u8>>()
                            })
                            .and_then(|v| <[u8; 32]>::try_from(v).ok())
                            .ok_or_else(|| {
                                format_error(path, "`chains.rng_seeds` holds 32 bytes each")
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let streams = list("rng_streams")?
                    .iter()
                    .map(|v| {
                        big(v, "chains.rng_streams").and_then(|x| {
                            u64::try_from(x)
                                .map_err(|_| format_error(path, "a stream is too large"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let word_pos = list("rng_word_pos")?
                    .iter()
                    .map(|v| big(v, "chains.rng_word_pos"))
                    .collect::<Result<Vec<_>>>()?;
                let floats = |k: &str| -> Result<Vec<f64>> {
                    list(k)?
                        .iter()
                        .map(|v| {
                            v.as_f64().ok_or_else(|| {
                                format_error(path, format!("`chains.{k}` holds numbers"))
                            })
                        })
                        .collect()
                };
                let (step_sizes, temperatures) = (floats("step_sizes")?, floats("temperatures")?);
                let steps = u64::try_from(big(get("steps")?, "chains.steps")?)
                    .map_err(|_| format_error(path, "`chains.steps` is too large"))?;
                let nd = n
                    .checked_mul(D)
                    .ok_or_else(|| format_error(path, "`chains.n` overflows"))?;
                let snapshot = ebm_samplers::StateSnapshot {
                    dim: D,
                    positions: take(nd)?,
                    energies: take(n)?,
                    gradients: take(nd)?,
                    rng_seeds: seeds,
                    rng_streams: streams,
                    rng_word_pos: word_pos,
                    steps,
                    step_sizes,
                    temperatures,
                    // Absent from checkpoints written before states carried a jitter: none.
                    step_size_jitter: c
                        .get("step_size_jitter")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                };
                Some(
                    ebm_samplers::ChainState::<D, f32, Cpu>::from_snapshot(
                        &snapshot,
                        &Cpu::default(),
                    )
                    .map_err(|e| format_error(path, format!("chains: {e}")))?,
                )
            }
        };
        if !data.is_empty() {
            return Err(format_error(path, "holds more than its header lists"));
        }
        let rng_field = field("rng")?;
        let seed: Vec<u8> = rng_field
            .get("seed")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_u64().and_then(|b| u8::try_from(b).ok()))
                    .collect()
            })
            .unwrap_or_default();
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| format_error(path, "`rng.seed` is not 32 bytes"))?;
        let stream = big(
            rng_field.get("stream").unwrap_or(&Value::Null),
            "rng.stream",
        )?;
        let word_pos = big(
            rng_field.get("word_pos").unwrap_or(&Value::Null),
            "rng.word_pos",
        )?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(
            u64::try_from(stream).map_err(|_| format_error(path, "`rng.stream` is too large"))?,
        );
        rng.set_word_pos(word_pos);
        let iteration = number(field("iteration")?, "iteration")?;

        // Everything read and checked: now change the trainer.
        let state = AdamState { t: adam_t, moments };
        let fits = self
            .set_optimiser_state(&state)
            .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
        if !fits {
            return Err(format_error(path, "Adam's moments do not fit the network"));
        }
        self.restore(params, buffer, chains, rng, iteration)
    }
}

/// Writes `values` into `network`'s trainable tensors, in visiting order.
pub(crate) fn write_params<M: TensorCollection<f32, Cpu>>(
    network: &mut M,
    values: &[Vec<f32>],
) -> Result<()> {
    let mut write = WriteParams { values, next: 0 };
    M::iter_tensors(&mut RecursiveWalker {
        m: network,
        f: &mut write,
    })
    .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
    Ok(())
}

/// Writes gradients for a module's trainable tensors, in visiting order.
struct WriteGradients<'a> {
    grads: &'a mut Gradients<f32, Cpu>,
    values: &'a [Vec<f32>],
    next: usize,
    mismatch: Option<String>,
}

impl TensorVisitor<f32, Cpu> for WriteGradients<'_> {
    type Viewer = ViewTensorRef;
    type Err = <Cpu as HasErr>::Err;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, Cpu>,
        p: &Tensor<S, f32, Cpu>,
    ) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, Self::Err> {
        if !opts.do_gradient_update || self.mismatch.is_some() {
            return Ok(None);
        }
        let k = self.next;
        self.next += 1;
        match self.values.get(k) {
            Some(v) if v.len() == p.shape().num_elements() => {
                self.grads.get_or_alloc_mut(p)?.copy_from_slice(v);
            }
            other => {
                self.mismatch = Some(format!(
                    "trainable tensor {k} has {} values, its gradient {}",
                    p.shape().num_elements(),
                    other.map_or("is missing".to_string(), |v| format!("{} values", v.len()))
                ));
            }
        }
        Ok(None)
    }
}

/// Writes `values` as the gradients of `network`'s trainable tensors, in visiting order.
pub(crate) fn write_gradients<M: TensorCollection<f32, Cpu>>(
    network: &M,
    grads: &mut Gradients<f32, Cpu>,
    values: &[Vec<f32>],
) -> Result<()> {
    let mut write = WriteGradients {
        grads,
        values,
        next: 0,
        mismatch: None,
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: network,
        f: &mut write,
    })
    .map_err(|e| TrainError::Optimiser(format!("{e:?}")))?;
    let (next, mismatch) = (write.next, write.mismatch);
    match mismatch {
        Some(reason) => Err(TrainError::Network { reason }),
        None if next != values.len() => Err(TrainError::Network {
            reason: format!(
                "the host pass has {} gradients for {next} trainable tensors",
                values.len()
            ),
        }),
        None => Ok(()),
    }
}
