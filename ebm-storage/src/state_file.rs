//! The chain state of the last checkpoint, in one file replaced atomically: a JSON header and the
//! snapshot's arrays as raw little-endian bytes.

use crate::element::StoreElement;
use crate::error::{Result, StoreError};
use ebm_samplers::{
    MassMatrix, ReplicaSnapshot, StateSnapshot, SwapCounts, SwapScheme, WarmupSnapshot,
};
use serde_json::{json, Value};
use std::path::Path;

/// Version 2 ends with a CRC-32 of everything before it.
const MAGIC: &[u8; 10] = b"EBMSTATE2\n";

/// What a checkpoint records besides the chain state: per phase, steps taken and draws stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Progress {
    pub steps: [u64; 2],
    pub draws: [usize; 2],
}

/// The warm-up adaptation's numbers, in the order they follow the chain state in the file.
fn warmup_floats(w: &WarmupSnapshot) -> Vec<f64> {
    let mass: Vec<f64> = match &w.mass {
        Some(MassMatrix::Diagonal(m)) | Some(MassMatrix::Dense(m)) => m.clone(),
        Some(MassMatrix::Scalar(m)) => vec![*m],
        Some(MassMatrix::Identity) | None => Vec::new(),
    };
    mass.into_iter()
        .chain(w.averaging.iter().flatten().copied())
        .chain(w.window.iter().copied())
        .chain(w.warmup_step_sizes.iter().copied())
        .collect()
}

/// The checkpoint file's bytes: the chain state, and the warm-up adaptation when there is one.
pub(crate) fn encode<E: StoreElement>(
    snap: &StateSnapshot<E>,
    progress: Progress,
    warmup: Option<&WarmupSnapshot>,
    replica: Option<&ReplicaSnapshot<E>>,
) -> Vec<u8> {
    let header = json!({
        "dim": snap.dim,
        "dtype": E::DTYPE,
        "n_chains": snap.n_chains(),
        "steps": snap.steps,
        "phase_steps": progress.steps,
        "phase_draws": progress.draws,
        "step_size_jitter": snap.step_size_jitter,
        "replica": replica.map(replica_json),
        "warmup": warmup.map(|w| json!({
            "steps": w.steps,
            "next_window": w.next_window,
            "search_gradient_evaluations": w.search_gradient_evaluations,
            "mass": match &w.mass {
                Some(MassMatrix::Diagonal(m)) => json!({"kind": "diagonal", "len": m.len()}),
                Some(MassMatrix::Dense(m)) => json!({"kind": "dense", "len": m.len()}),
                Some(MassMatrix::Scalar(_)) => json!({"kind": "scalar", "len": 1}),
                Some(MassMatrix::Identity) => json!({"kind": "identity", "len": 0}),
                None => json!({"kind": "none", "len": 0}),
            },
            "averaging": w.averaging.len(),
            "window": w.window.len(),
            "warmup_step_sizes": w.warmup_step_sizes.len(),
        })),
    })
    .to_string();
    let n = snap.n_chains();
    let mut out = Vec::with_capacity(
        MAGIC.len()
            + 8
            + header.len()
            + (2 * n * snap.dim + n) * E::SIZE
            + n * (8 + 8 + 32 + 8 + 16)
            + 4,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let mut buf = [0u8; 8];
    for v in snap
        .positions
        .iter()
        .chain(&snap.energies)
        .chain(&snap.gradients)
    {
        v.put(&mut buf[..E::SIZE]);
        out.extend_from_slice(&buf[..E::SIZE]);
    }
    for v in snap.step_sizes.iter().chain(&snap.temperatures) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for s in &snap.rng_seeds {
        out.extend_from_slice(s);
    }
    for s in &snap.rng_streams {
        out.extend_from_slice(&s.to_le_bytes());
    }
    for w in &snap.rng_word_pos {
        out.extend_from_slice(&w.to_le_bytes());
    }
    if let Some(w) = warmup {
        for v in warmup_floats(w) {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// What a checkpoint file holds.
pub(crate) struct Checkpoint<E> {
    pub snapshot: StateSnapshot<E>,
    pub progress: Progress,
    pub warmup: Option<WarmupSnapshot>,
    /// The replica-exchange bookkeeping (its `chains` left empty: they are `snapshot`).
    pub replica: Option<ReplicaSnapshot<E>>,
}

/// The replica-exchange bookkeeping as JSON; floats as their bit patterns, so every value comes
/// back exactly.
fn replica_json<E>(r: &ReplicaSnapshot<E>) -> Value {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    json!({
        "n_ladders": r.n_ladders,
        "temperatures": bits(&r.temperatures),
        "replica_at": r.replica_at,
        "trips": r.trips,
        "swap_rngs": r.swap_rngs.iter().map(|(seed, stream, pos)| json!([seed.to_vec(), stream, pos.to_string()])).collect::<Vec<_>>(),
        "scans": r.scans,
        "round_trips": r.run.round_trips,
        "scans_counted": r.run.scans,
        "attempts": r.run.attempts,
        "accepted": r.run.accepted,
        "reject_sum": bits(&r.run.reject_sum),
        "explore_steps_taken": r.run.explore_steps_taken,
        "explore_accepted": r.run.explore_accepted,
        "earlier": {
            "round_trips": r.earlier.round_trips,
            "scans_counted": r.earlier.scans,
            "attempts": r.earlier.attempts,
            "accepted": r.earlier.accepted,
            "reject_sum": bits(&r.earlier.reject_sum),
            "explore_steps_taken": r.earlier.explore_steps_taken,
            "explore_accepted": r.earlier.explore_accepted,
        },
        "scheme": r.scheme.map(|s| match s {
            SwapScheme::NonReversible => "non_reversible",
            SwapScheme::Reversible => "reversible",
            _ => "off",
        }),
    })
}

/// Reads [`replica_json`] back; `None` names the first field missing or malformed.
fn replica_from_json<E>(v: &Value, dim: usize) -> std::result::Result<ReplicaSnapshot<E>, String> {
    let u64s_in = |o: &Value, k: &str| -> std::result::Result<Vec<u64>, String> {
        o.get(k)
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| format!("replica.{k}"))
    };
    let u64s = |k: &str| u64s_in(v, k);
    let floats = |k: &str| u64s(k).map(|b| b.into_iter().map(f64::from_bits).collect::<Vec<f64>>());
    let int = |k: &str| {
        v.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("replica.{k}"))
    };
    let counts = |o: &Value| -> std::result::Result<SwapCounts, String> {
        Ok(SwapCounts {
            scans: o
                .get("scans_counted")
                .and_then(Value::as_u64)
                .ok_or("replica.scans_counted")?,
            round_trips: u64s_in(o, "round_trips")?,
            attempts: u64s_in(o, "attempts")?,
            accepted: u64s_in(o, "accepted")?,
            reject_sum: u64s_in(o, "reject_sum")?
                .into_iter()
                .map(f64::from_bits)
                .collect(),
            explore_steps_taken: u64s_in(o, "explore_steps_taken")?,
            explore_accepted: u64s_in(o, "explore_accepted")?,
        })
    };
    let run = counts(v)?;
    // Files written before the earlier runs' counts were kept have none: zeros.
    let earlier = match v.get("earlier") {
        Some(o) => counts(o)?,
        None => SwapCounts {
            scans: 0,
            round_trips: vec![0; run.round_trips.len()],
            attempts: vec![0; run.attempts.len()],
            accepted: vec![0; run.accepted.len()],
            reject_sum: vec![0.0; run.reject_sum.len()],
            explore_steps_taken: vec![0; run.explore_steps_taken.len()],
            explore_accepted: vec![0; run.explore_accepted.len()],
        },
    };
    let swap_rngs = v
        .get("swap_rngs")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|r| {
                    let seed: Vec<u8> = r
                        .get(0)?
                        .as_array()?
                        .iter()
                        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect::<Option<_>>()?;
                    Some((
                        <[u8; 32]>::try_from(seed).ok()?,
                        r.get(1)?.as_u64()?,
                        r.get(2)?.as_str()?.parse::<u128>().ok()?,
                    ))
                })
                .collect::<Option<Vec<_>>>()
        })
        .ok_or("replica.swap_rngs")?;
    let trips = u64s("trips")?
        .into_iter()
        .map(|t| u8::try_from(t).map_err(|_| "replica.trips".to_string()))
        .collect::<std::result::Result<Vec<u8>, String>>()?;
    let scheme = match v.get("scheme") {
        None | Some(Value::Null) => None,
        Some(s) => Some(match s.as_str() {
            Some("non_reversible") => SwapScheme::NonReversible,
            Some("reversible") => SwapScheme::Reversible,
            Some("off") => SwapScheme::Off,
            _ => return Err("replica.scheme".into()),
        }),
    };
    Ok(ReplicaSnapshot {
        chains: StateSnapshot {
            dim,
            positions: Vec::new(),
            energies: Vec::new(),
            gradients: Vec::new(),
            rng_seeds: Vec::new(),
            rng_streams: Vec::new(),
            rng_word_pos: Vec::new(),
            steps: 0,
            step_sizes: Vec::new(),
            temperatures: Vec::new(),
            step_size_jitter: 0.0,
        },
        n_ladders: int("n_ladders")?,
        temperatures: floats("temperatures")?,
        replica_at: u64s("replica_at")?,
        trips,
        swap_rngs,
        scans: int("scans")?,
        run,
        earlier,
        scheme,
    })
}

pub(crate) fn read<E: StoreElement>(path: &Path) -> Result<Checkpoint<E>> {
    let mut bytes = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
    let bad = |reason: &str| StoreError::bad(path, reason.to_string());
    if bytes.len() < MAGIC.len() + 8 + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a chain state file of this version"));
    }
    let body = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body]) != stored {
        return Err(bad(
            "the checkpoint's checksum does not match its contents (damaged)",
        ));
    }
    bytes.truncate(body);
    let mut at = MAGIC.len();
    let hlen = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize;
    at += 8;
    let header: Value = bytes
        .get(at..at.saturating_add(hlen))
        .and_then(|h| serde_json::from_slice(h).ok())
        .ok_or_else(|| bad("unreadable header"))?;
    at += hlen;
    let int = |k: &str| {
        header
            .get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(&format!("no {k}")))
    };
    let pair = |k: &str| -> Result<[u64; 2]> {
        let a = header
            .get(k)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(&format!("no {k}")))?;
        match a.as_slice() {
            [x, y] => Ok([x.as_u64().unwrap_or(0), y.as_u64().unwrap_or(0)]),
            _ => Err(bad(&format!("{k} is not a pair"))),
        }
    };
    let dtype = header.get("dtype").and_then(Value::as_str).unwrap_or("");
    if dtype != E::DTYPE {
        return Err(StoreError::ElementTypeMismatch {
            path: path.to_path_buf(),
            expected: E::DTYPE.into(),
            found: dtype.into(),
        });
    }
    let (dim, n, steps) = (
        int("dim")? as usize,
        int("n_chains")? as usize,
        int("steps")?,
    );
    let phase_steps = pair("phase_steps")?;
    let phase_draws = pair("phase_draws")?;
    // The warm-up section's sizes, each checked against the file's length below.
    let warm = match header.get("warmup") {
        None | Some(Value::Null) => None,
        Some(w) => {
            let count = |k: &str| {
                w.get(k)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad(&format!("warmup.{k} missing")))
            };
            let mass = w.get("mass").ok_or_else(|| bad("warmup.mass missing"))?;
            let kind = mass.get("kind").and_then(Value::as_str).unwrap_or("");
            let mass_len = mass.get("len").and_then(Value::as_u64).unwrap_or(u64::MAX);
            Some((
                [
                    count("steps")?,
                    count("next_window")?,
                    count("search_gradient_evaluations")?,
                ],
                kind.to_string(),
                [
                    mass_len,
                    count("averaging")?,
                    count("window")?,
                    count("warmup_step_sizes")?,
                ],
            ))
        }
    };
    // In u128 so that a corrupted header cannot overflow the arithmetic.
    let (n128, dim128) = (n as u128, dim as u128);
    let warm_floats: u128 = warm.as_ref().map_or(0, |(_, _, l)| {
        l[0] as u128 + 7 * l[1] as u128 + l[2] as u128 + l[3] as u128
    });
    let expected = at as u128
        + (2 * n128 * dim128 + n128) * E::SIZE as u128
        + n128 * (8 + 8 + 32 + 8 + 16)
        + 8 * warm_floats;
    if bytes.len() as u128 != expected {
        return Err(StoreError::bad(
            path,
            format!(
                "the checkpoint holds {} bytes where its header describes {expected} \
                 (truncated or damaged)",
                bytes.len()
            ),
        ));
    }
    let mut cur = Cursor { bytes: &bytes, at };
    let positions = cur.reals::<E>(n * dim);
    let energies = cur.reals::<E>(n);
    let gradients = cur.reals::<E>(n * dim);
    let step_sizes = cur.reals::<f64>(n);
    let temperatures = cur.reals::<f64>(n);
    let rng_seeds = cur
        .take(n * 32)
        .chunks_exact(32)
        .map(|b| b.try_into().expect("32"))
        .collect();
    let rng_streams = cur
        .take(n * 8)
        .chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
        .collect();
    let rng_word_pos = cur
        .take(n * 16)
        .chunks_exact(16)
        .map(|b| u128::from_le_bytes(b.try_into().expect("16")))
        .collect();
    let snap = StateSnapshot {
        dim,
        positions,
        energies,
        gradients,
        rng_seeds,
        rng_streams,
        rng_word_pos,
        steps,
        step_sizes,
        temperatures,
        step_size_jitter: header
            .get("step_size_jitter")
            .and_then(Value::as_f64)
            .ok_or_else(|| bad("no step_size_jitter"))?,
    };
    let progress = Progress {
        steps: phase_steps,
        draws: [phase_draws[0] as usize, phase_draws[1] as usize],
    };
    let warmup = match warm {
        None => None,
        Some(([steps, next_window, search], kind, lens)) => {
            let mut take = |len: u64| cur.reals::<f64>(len as usize);
            let values = take(lens[0]);
            let mass = match (kind.as_str(), values.as_slice()) {
                ("diagonal", _) => Some(MassMatrix::Diagonal(values)),
                ("dense", _) => Some(MassMatrix::Dense(values)),
                ("scalar", &[m]) => Some(MassMatrix::Scalar(m)),
                ("identity", &[]) => Some(MassMatrix::Identity),
                ("none", &[]) => None,
                (other, _) => {
                    return Err(bad(&format!(
                        "warmup.mass {other:?} of {} values",
                        values.len()
                    )))
                }
            };
            let flat = take(7 * lens[1]);
            Some(WarmupSnapshot {
                steps,
                next_window,
                search_gradient_evaluations: search,
                mass,
                averaging: flat
                    .chunks_exact(7)
                    .map(|c| c.try_into().expect("7"))
                    .collect(),
                window: take(lens[2]),
                warmup_step_sizes: take(lens[3]),
            })
        }
    };
    let replica = match header.get("replica") {
        None | Some(Value::Null) => None,
        Some(r) => Some(
            replica_from_json(r, dim)
                .map_err(|field| bad(&format!("{field} missing or malformed")))?,
        ),
    };
    Ok(Checkpoint {
        snapshot: snap,
        progress,
        warmup,
        replica,
    })
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> &'a [u8] {
        let s = &self.bytes[self.at..self.at + len];
        self.at += len;
        s
    }

    fn reals<T: StoreElement>(&mut self, count: usize) -> Vec<T> {
        self.take(count * T::SIZE)
            .chunks_exact(T::SIZE)
            .map(T::get)
            .collect()
    }
}
