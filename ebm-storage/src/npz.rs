//! `.npz` export of an in-memory run: a zip archive (entries stored, not compressed) of `.npy`
//! files with hand-written format 1.0 headers.

use crate::element::StoreElement;
use crate::error::{Result, StoreError};
use ebm_core::prelude::*;
use ebm_samplers::SampleOutput;
use std::io::Write;
use std::path::Path;

/// Writes `output` to `path` as a NumPy `.npz` archive, for a one-file hand-off to numpy
/// (`numpy.load(path)`):
///
/// - `x`: the trace, `[chain, draw, dim]` (when the run kept one);
/// - `samples`: the final particles, `[chain, dim]`;
/// - `acceptance_rate`, `divergences`, `gradient_evaluations`: per chain (Metropolis-adjusted runs);
/// - `mean`, `variance` (`[step, dim]`), `mean_energy`, and for adjusted runs
///   `step_acceptance_rate`, `step_energy_error` (`[step]`): the per-step diagnostics, when recorded.
///
/// An existing file is replaced only when `overwrite` is set.
///
/// ```
/// use ebm_core::prelude::*;
/// use ebm_models::Harmonic;
/// use ebm_samplers::prelude::*;
///
/// let x0: Batch<2, f64> = Cpu::default().zeros_like(&(4, Const::<2>));
/// let out = Mala::new(0.5, 1.0)?.run(&Harmonic::default(), &x0, &RunOptions::new(100).trace(1))?;
/// let dir = tempfile::tempdir()?;
/// ebm_storage::write_npz(dir.path().join("run.npz"), &out, false)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`StoreError::AlreadyExists`] when the file exists and `overwrite` is off,
/// [`StoreError::TooLarge`] past the 4 GiB of a zip without its 64-bit extension, and I/O errors.
pub fn write_npz<const D: usize, E: StoreElement, Dev: Device<E>>(
    path: impl AsRef<Path>,
    output: &SampleOutput<D, E, Dev>,
    overwrite: bool,
) -> Result<()> {
    let path = path.as_ref();
    if path.exists() && !overwrite {
        return Err(StoreError::AlreadyExists { path: path.into() });
    }
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let reals = |v: &[E]| -> Vec<u8> {
        let mut out = vec![0u8; v.len() * E::SIZE];
        for (x, b) in v.iter().zip(out.chunks_exact_mut(E::SIZE)) {
            x.put(b);
        }
        out
    };
    let f64s = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let i64s = |v: &mut dyn Iterator<Item = i64>| v.flat_map(i64::to_le_bytes).collect::<Vec<u8>>();
    if let Some(trace) = &output.trace {
        entries.push((
            "x".into(),
            npy(E::DTYPE, &trace.shape(), &reals(trace.as_slice())),
        ));
    }
    let samples = output.samples.as_vec();
    entries.push((
        "samples".into(),
        npy(E::DTYPE, &[samples.len() / D.max(1), D], &reals(&samples)),
    ));
    if let Some(stats) = &output.chain_stats {
        let n = stats.acceptance_rate.len();
        entries.push((
            "acceptance_rate".into(),
            npy("<f8", &[n], &f64s(&stats.acceptance_rate)),
        ));
        let div = i64s(&mut stats.divergences.iter().map(|&d| d as i64));
        entries.push(("divergences".into(), npy("<i8", &[n], &div)));
        let grads = i64s(&mut stats.gradient_evaluations.iter().map(|&g| g as i64));
        entries.push(("gradient_evaluations".into(), npy("<i8", &[n], &grads)));
    }
    if let Some(diag) = &output.diagnostics {
        let steps = diag.n_steps();
        let flat = |rows: &[[E; D]]| reals(&rows.iter().flatten().copied().collect::<Vec<E>>());
        entries.push((
            "mean".into(),
            npy(E::DTYPE, &[steps, D], &flat(diag.mean())),
        ));
        entries.push((
            "variance".into(),
            npy(E::DTYPE, &[steps, D], &flat(diag.variance())),
        ));
        entries.push((
            "mean_energy".into(),
            npy(E::DTYPE, &[steps], &reals(diag.mean_energy())),
        ));
        if let Some(a) = diag.acceptance_rate() {
            entries.push((
                "step_acceptance_rate".into(),
                npy("<f8", &[a.len()], &f64s(a)),
            ));
        }
        if let Some(e) = diag.energy_error() {
            entries.push(("step_energy_error".into(), npy("<f8", &[e.len()], &f64s(e))));
        }
    }
    let zip = zip_stored(path, &entries)?;
    crate::fsio::write_atomic(path, &[&zip], false)
}

/// A `.npy` file (format 1.0): magic, header dict padded to a multiple of 64 bytes, data.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A zip archive of `name.npy` entries, stored without compression.
fn zip_stored(path: &Path, entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    let too_large = |what: &str, bytes: usize| StoreError::TooLarge {
        path: path.into(),
        what: what.into(),
        bytes: bytes as u64,
    };
    for (name, data) in entries {
        let name = format!("{name}.npy");
        let size = u32::try_from(data.len()).map_err(|_| too_large(&name, data.len()))?;
        let offset = u32::try_from(out.len()).map_err(|_| too_large("the archive", out.len()))?;
        let crc = crc32fast::hash(data);
        // Version 2.0, no flags, stored, time 00:00, date 1980-01-01.
        let common = |buf: &mut Vec<u8>| {
            for v in [20u16, 0, 0, 0, 0x21] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            for v in [crc, size, size] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        for v in [0u16, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).map_err(|_| too_large("the archive", out.len()))?;
    out.write_all(&central).expect("writing to a Vec");
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, entries.len() as u16, entries.len() as u16] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_string() {
        // The check value of CRC-32/ISO-HDLC, the one zip and zlib use.
        assert_eq!(crc32fast::hash(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn npy_headers_are_aligned() {
        let f = npy("<f8", &[3], &[0; 24]);
        let hlen = u16::from_le_bytes([f[8], f[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        assert!(std::str::from_utf8(&f[10..10 + hlen])
            .unwrap()
            .contains("'shape': (3,)"));
    }
}
