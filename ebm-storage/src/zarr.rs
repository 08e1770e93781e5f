//! The zarr v2 layout of a store, written by hand: JSON metadata documents and raw little-endian
//! chunk files, in ArviZ's InferenceData group layout.

use crate::error::{Result, StoreError};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The version of the store layout this crate writes, in the root `.zattrs` under `ebm_store`.
pub(crate) const FORMAT: u64 = 1;
/// The file holding the chain state of the last checkpoint (not part of the zarr hierarchy).
pub(crate) const STATE_FILE: &str = ".ebm_state";

/// The per-draw statistics, with their zarr dtypes, in `sample_stats` order.
pub(crate) const STATS: [(&str, &str); 8] = [
    ("lp", "<f8"),
    ("acceptance_rate", "<f8"),
    ("diverging", "|b1"),
    ("energy", "<f8"),
    ("energy_error", "<f8"),
    ("step_size", "<f8"),
    ("n_steps", "<i8"),
    ("tree_depth", "<i8"),
];

/// Bytes per element of a zarr dtype this crate writes.
pub(crate) fn dtype_size(dtype: &str) -> usize {
    match dtype {
        "|b1" => 1,
        "<f4" => 4,
        _ => 8,
    }
}

/// The largest chunk of positions a store may have, in bytes (4 GiB): writers refuse options that
/// ask for more and readers refuse metadata that does, so no store can make either allocate more
/// than this for one chunk's buffer.
pub(crate) const MAX_CHUNK_BYTES: u64 = 1 << 32;

/// Bytes of `n_chains x chunk_draws x dim` cells of `size` bytes, `None` beyond
/// [`MAX_CHUNK_BYTES`] or on overflow.
pub(crate) fn chunk_bytes(
    n_chains: usize,
    chunk_draws: usize,
    dim: usize,
    size: usize,
) -> Option<u64> {
    (n_chains as u64)
        .checked_mul(chunk_draws as u64)?
        .checked_mul(dim as u64)?
        .checked_mul(size as u64)
        .filter(|&b| b <= MAX_CHUNK_BYTES)
}

/// What a store is: written once to the root `.zattrs`, read back to check and resume.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub n_chains: usize,
    pub dim: usize,
    pub dtype: String,
    pub chunk_draws: usize,
    pub thin: usize,
}

impl Layout {
    fn to_json(&self) -> Value {
        json!({
            "ebm_store": {
                "format": FORMAT,
                "n_chains": self.n_chains,
                "dim": self.dim,
                "dtype": self.dtype,
                "chunk_draws": self.chunk_draws,
                "thin": self.thin,
            }
        })
    }

    /// Reads the layout of the store at `root`, or says why `root` is not a store.
    pub fn read(root: &Path) -> Result<Self> {
        let not = |reason: &str| StoreError::NotAStore {
            path: root.to_path_buf(),
            reason: reason.into(),
        };
        let meta = std::fs::metadata(root).map_err(|e| StoreError::io(root, e))?;
        if !meta.is_dir() {
            return Err(not("not a directory"));
        }
        if !root.join(".zgroup").is_file() {
            return Err(not("no zarr group metadata .zgroup"));
        }
        let attrs_path = root.join(".zattrs");
        if !attrs_path.is_file() {
            return Err(not("no .zattrs"));
        }
        let attrs = read_json(&attrs_path)?;
        let store = attrs
            .get("ebm_store")
            .ok_or_else(|| not("a zarr group, but .zattrs has no ebm_store entry"))?;
        let int = |key: &str| -> Result<usize> {
            store
                .get(key)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| StoreError::bad(&attrs_path, format!("ebm_store.{key} missing")))
        };
        let format = int("format")? as u64;
        if format != FORMAT {
            return Err(StoreError::bad(
                &attrs_path,
                format!("store format {format}, this version reads {FORMAT}"),
            ));
        }
        let dtype = store
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::bad(&attrs_path, "ebm_store.dtype missing"))?
            .to_string();
        let layout = Self {
            n_chains: int("n_chains")?,
            dim: int("dim")?,
            dtype,
            chunk_draws: int("chunk_draws")?,
            thin: int("thin")?,
        };
        if layout.n_chains == 0 || layout.dim == 0 || layout.chunk_draws == 0 || layout.thin == 0 {
            return Err(StoreError::bad(&attrs_path, "a zero count in ebm_store"));
        }
        if chunk_bytes(layout.n_chains, layout.chunk_draws, layout.dim, 8).is_none() {
            return Err(StoreError::bad(
                &attrs_path,
                format!(
                    "chunks of {} chains x {} draws x {} coordinates exceed {MAX_CHUNK_BYTES} bytes",
                    layout.n_chains, layout.chunk_draws, layout.dim
                ),
            ));
        }
        Ok(layout)
    }

    /// Every metadata document of the hierarchy, keyed by path, for `draws[0]` warm-up and
    /// `draws[1]` sampling draws.
    pub fn documents(&self, draws: [usize; 2]) -> Vec<(String, Value)> {
        let (n, d, cd) = (self.n_chains, self.dim, self.chunk_draws);
        let mut docs = vec![
            (".zgroup".to_string(), json!({"zarr_format": 2})),
            (".zattrs".to_string(), self.to_json()),
        ];
        for (phase, &nd) in draws.iter().enumerate() {
            let (post, stats) = crate::Phase::ALL[phase].groups();
            push_array(
                &mut docs,
                format!("{post}/x"),
                vec![n, nd, d],
                vec![n, cd, d],
                &self.dtype,
                &["chain", "draw", "x_dim_0"],
            );
            push_array(
                &mut docs,
                format!("{post}/x_dim_0"),
                vec![d],
                vec![d],
                "<i8",
                &["x_dim_0"],
            );
            for group in [post, stats] {
                push_array(
                    &mut docs,
                    format!("{group}/chain"),
                    vec![n],
                    vec![n],
                    "<i8",
                    &["chain"],
                );
                push_array(
                    &mut docs,
                    format!("{group}/draw"),
                    vec![nd],
                    vec![cd],
                    "<i8",
                    &["draw"],
                );
            }
            for (name, dtype) in STATS {
                push_array(
                    &mut docs,
                    format!("{stats}/{name}"),
                    vec![n, nd],
                    vec![n, cd],
                    dtype,
                    &["chain", "draw"],
                );
            }
            for group in [post, stats] {
                docs.push((format!("{group}/.zgroup"), json!({"zarr_format": 2})));
                docs.push((
                    format!("{group}/.zattrs"),
                    json!({"inference_library": "ebm"}),
                ));
            }
        }
        docs
    }
}

/// Adds an array's `.zarray` and its `.zattrs` with xarray's `_ARRAY_DIMENSIONS`.
fn push_array(
    docs: &mut Vec<(String, Value)>,
    key: String,
    shape: Vec<usize>,
    chunks: Vec<usize>,
    dtype: &str,
    dims: &[&str],
) {
    docs.push((
        format!("{key}/.zarray"),
        json!({
            "zarr_format": 2,
            "shape": shape,
            "chunks": chunks,
            "dtype": dtype,
            "compressor": null,
            "fill_value": null,
            "order": "C",
            "filters": null,
        }),
    ));
    docs.push((
        format!("{key}/.zattrs"),
        json!({ "_ARRAY_DIMENSIONS": dims }),
    ));
}

/// Writes every metadata document whose key starts with one of `prefixes` (all of them for an empty
/// list), then the consolidated `.zmetadata` of the whole hierarchy. Each file is replaced
/// atomically, so a crash leaves either the old or the new document.
pub(crate) fn write_metadata(
    root: &Path,
    docs: &[(String, Value)],
    prefixes: &[&str],
) -> Result<()> {
    let mut all = Map::new();
    for (key, doc) in docs {
        if prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(&format!("{p}/"))) {
            write_atomic(&root.join(key), doc.to_string().as_bytes())?;
        }
        all.insert(key.clone(), doc.clone());
    }
    let consolidated = json!({ "metadata": all, "zarr_consolidated_format": 1 });
    write_atomic(
        &root.join(".zmetadata"),
        consolidated.to_string().as_bytes(),
    )
}

/// Replaces `path` by `bytes` through a temporary file in the same directory and a rename,
/// creating the directory when needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, e))
}

/// Reads and parses a JSON document.
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| StoreError::bad(path, format!("invalid JSON: {e}")))
}

/// The chunk file of chunk `ci` along the draw axis of an array with `rank` dimensions: the draw
/// axis is the first of a coordinate (`draw`) and the second of the data arrays (`chain`, `draw`,
/// ...), whose other axes are one chunk each.
pub(crate) fn chunk_key(ci: usize, rank: usize) -> String {
    match rank {
        1 => ci.to_string(),
        2 => format!("0.{ci}"),
        _ => format!("0.{ci}.0"),
    }
}

/// Reads a whole chunk file, which must hold exactly `expected` bytes.
pub(crate) fn read_chunk(path: &Path, expected: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    match std::fs::File::open(path) {
        Ok(mut f) => {
            use std::io::Read;
            f.read_to_end(out).map_err(|e| StoreError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(path, e)),
    }
    if out.len() != expected {
        return Err(StoreError::TruncatedChunk {
            path: path.to_path_buf(),
            expected: expected as u64,
            found: out.len() as u64,
        });
    }
    Ok(())
}

/// The number of draws an array's `.zarray` says it holds (its shape's second entry), checking
/// the rest of its shape against `expected` (with the draw axis left out).
pub(crate) fn stored_draws(root: &Path, key: &str, expected: &[usize]) -> Result<usize> {
    let path = root.join(key).join(".zarray");
    let doc = read_json(&path)?;
    let shape: Vec<usize> = doc
        .get("shape")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|v| v as usize)
                .collect()
        })
        .ok_or_else(|| StoreError::bad(&path, "no shape"))?;
    if shape.len() != expected.len() + 1 || shape[0] != expected[0] || shape[2..] != expected[1..] {
        return Err(StoreError::bad(
            &path,
            format!("shape {shape:?} does not match the store's chains and dimension"),
        ));
    }
    Ok(shape[1])
}
