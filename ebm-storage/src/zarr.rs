//! The zarr v2 layout of a store, written by hand: JSON metadata documents and raw little-endian
//! chunk files, in ArviZ's InferenceData group layout.

use crate::error::{Result, StoreError};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The version of the store layout this crate writes, in the root `.zattrs` under `ebm_store`:
/// 2 adds a CRC-32 to every chunk and the commit directory; 1 (read, not resumed) has neither.
pub(crate) const FORMAT: u64 = 2;
/// The file holding the chain state of the last checkpoint (not part of the zarr hierarchy).
pub(crate) const STATE_FILE: &str = ".ebm_state";
/// The directory of commits: `current` links to the commit every reader sees, a directory holding
/// the documents that change as draws are added (the growing arrays' `.zarray`, `.zmetadata`, the
/// chain state); their places in the hierarchy are symbolic links through `current`.
pub(crate) const COMMITS: &str = ".ebm_commits";
/// The link in [`COMMITS`] to the commit readers see.
pub(crate) const CURRENT: &str = "current";
/// The compressor entry of a checksummed array: numcodecs' CRC32 codec, a 4-byte little-endian
/// CRC-32 (zlib's) of the data before it, which zarr-python checks when it reads the chunk.
pub(crate) const CHECKSUM_CODEC: &str = "crc32";

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
    /// The layout's version ([`FORMAT`] for stores this version writes).
    pub format: u64,
    /// Every checkpoint is flushed to disk (`fsync`) before it is committed.
    pub sync: bool,
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
                "sync": self.sync,
            }
        })
    }

    /// Whether chunks carry a CRC-32 (format 2 on).
    pub fn checksummed(&self) -> bool {
        self.format >= 2
    }

    /// Bytes of the chunk file of an array whose cells take `cell` bytes (all chains, one chunk of
    /// draws), checksum included.
    pub fn chunk_file_bytes(&self, cell: usize) -> Option<u64> {
        chunk_bytes(self.n_chains, self.chunk_draws, cell, 1)
            .map(|b| b + if self.checksummed() { 4 } else { 0 })
    }

    /// The keys of the documents that change as draws are added (those that live in a commit),
    /// `.zmetadata` included.
    pub fn mutable_keys(&self) -> Vec<String> {
        let (a, b) = (self.documents([0, 0]), self.documents([1, 1]));
        let mut keys: Vec<String> = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| x.1 != y.1)
            .map(|(x, _)| x.0.clone())
            .collect();
        keys.push(".zmetadata".into());
        keys
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
        if format == 0 || format > FORMAT {
            return Err(StoreError::bad(
                &attrs_path,
                format!("store format {format}, this version reads 1 to {FORMAT}"),
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
            format,
            sync: store.get("sync").and_then(Value::as_bool).unwrap_or(true),
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
                self.checksummed(),
            );
            push_array(
                &mut docs,
                format!("{post}/x_dim_0"),
                vec![d],
                vec![d],
                "<i8",
                &["x_dim_0"],
                self.checksummed(),
            );
            for group in [post, stats] {
                push_array(
                    &mut docs,
                    format!("{group}/chain"),
                    vec![n],
                    vec![n],
                    "<i8",
                    &["chain"],
                    self.checksummed(),
                );
                push_array(
                    &mut docs,
                    format!("{group}/draw"),
                    vec![nd],
                    vec![cd],
                    "<i8",
                    &["draw"],
                    self.checksummed(),
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
                    self.checksummed(),
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
    checksum: bool,
) {
    let compressor = if checksum {
        json!({ "id": CHECKSUM_CODEC })
    } else {
        Value::Null
    };
    docs.push((
        format!("{key}/.zarray"),
        json!({
            "zarr_format": 2,
            "shape": shape,
            "chunks": chunks,
            "dtype": dtype,
            "compressor": compressor,
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

/// The consolidated metadata of a hierarchy: every document under its key.
pub(crate) fn consolidated(docs: &[(String, Value)]) -> Value {
    let all: Map<String, Value> = docs.iter().cloned().collect();
    json!({ "metadata": all, "zarr_consolidated_format": 1 })
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

/// Reads a whole chunk file into `out`: `expected` bytes of data, after a CRC-32 of them when
/// `checksum` is set (numcodecs' CRC32 codec), which is checked and removed.
pub(crate) fn read_chunk(
    path: &Path,
    expected: usize,
    checksum: bool,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    match std::fs::File::open(path) {
        Ok(f) => {
            use std::io::Read;
            // Never more than the chunk should hold, whatever the file's size.
            let limit = expected as u64 + 5;
            f.take(limit)
                .read_to_end(out)
                .map_err(|e| StoreError::io(path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(path, e)),
    }
    let head = if checksum { 4 } else { 0 };
    if out.len() != expected + head {
        let found = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        return Err(StoreError::TruncatedChunk {
            path: path.to_path_buf(),
            expected: (expected + head) as u64,
            found,
        });
    }
    if checksum {
        let stored = u32::from_le_bytes(out[..4].try_into().expect("4 bytes"));
        let computed = crc32fast::hash(&out[4..]);
        if stored != computed {
            return Err(StoreError::ChecksumMismatch {
                path: path.to_path_buf(),
                stored,
                computed,
            });
        }
        out.drain(..4);
    }
    Ok(())
}

/// The CRC-32 that goes before a chunk's data.
pub(crate) fn checksum_of(data: &[u8]) -> [u8; 4] {
    crc32fast::hash(data).to_le_bytes()
}

/// The draws per chain of each phase that the store at `root` holds, read from its consolidated
/// metadata (one file, so one commit) and checked: every array's `.zarray` in it and on disk must
/// be the document this layout writes for those draws. A commit made while this reads is waited
/// out (read again); a mismatch that stays is damage, an error naming the file.
pub(crate) fn read_hierarchy(root: &Path, layout: &Layout) -> Result<[usize; 2]> {
    let link = root.join(COMMITS).join(CURRENT);
    let mut attempt = 0;
    loop {
        let before = std::fs::read_link(&link).ok();
        let result = read_hierarchy_once(root, layout);
        let after = std::fs::read_link(&link).ok();
        attempt += 1;
        if result.is_ok() || before == after || attempt >= 5 {
            return result;
        }
    }
}

fn read_hierarchy_once(root: &Path, layout: &Layout) -> Result<[usize; 2]> {
    let zmeta_path = root.join(".zmetadata");
    let zmeta = read_json(&zmeta_path)?;
    let meta = zmeta
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or_else(|| StoreError::bad(&zmeta_path, "no metadata object"))?;
    let mut draws = [0; 2];
    for (p, phase) in crate::Phase::ALL.iter().enumerate() {
        let key = format!("{}/x/.zarray", phase.groups().0);
        let doc = meta
            .get(&key)
            .ok_or_else(|| StoreError::bad(&zmeta_path, format!("no entry {key}")))?;
        draws[p] = draws_in_shape(doc, &[layout.n_chains, layout.dim]).ok_or_else(|| {
            StoreError::bad(
                &zmeta_path,
                format!(
                    "{key}: shape {} does not match the store's {} chains and dimension {}",
                    doc.get("shape").unwrap_or(&Value::Null),
                    layout.n_chains,
                    layout.dim
                ),
            )
        })?;
    }
    for (key, doc) in layout.documents(draws) {
        if !(key.ends_with(".zarray") || key.ends_with(".zgroup")) {
            continue;
        }
        if meta.get(&key) != Some(&doc) {
            return Err(StoreError::bad(
                &zmeta_path,
                format!("entry {key} is not the document of a store of these draws"),
            ));
        }
        let path = root.join(&key);
        if read_json(&path)? != doc {
            return Err(StoreError::bad(
                &path,
                "disagrees with the consolidated metadata .zmetadata",
            ));
        }
    }
    Ok(draws)
}

/// The draw axis's length in a `.zarray` whose shape is `[n_chains, draws, rest..]`.
fn draws_in_shape(doc: &Value, expected: &[usize]) -> Option<usize> {
    let shape: Vec<u64> = doc
        .get("shape")?
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<_>>()?;
    let ok = shape.len() == expected.len() + 1
        && shape[0] == expected[0] as u64
        && shape[2..]
            .iter()
            .zip(&expected[1..])
            .all(|(&a, &b)| a == b as u64);
    ok.then(|| usize::try_from(shape[1]).ok()).flatten()
}
