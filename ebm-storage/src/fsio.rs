//! Every file operation that changes a store goes through here: each is counted as a crash point
//! (see the crate docs, "Crash safety"), and each can be made durable with `fsync`.

use crate::error::{Result, StoreError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that makes the process stop dead before its N-th file operation on a
/// store (counted from 1), as a kill at that instant would: the test of crash safety.
pub(crate) const CRASH_ENV: &str = "EBM_STORAGE_CRASH_AT";

static OPS: AtomicU64 = AtomicU64::new(0);
static CRASH_AT: OnceLock<Option<u64>> = OnceLock::new();

/// Counts one file operation; aborts the process at the one [`CRASH_ENV`] names.
pub(crate) fn crash_point() {
    let at = *CRASH_AT.get_or_init(|| {
        std::env::var(CRASH_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    if let Some(at) = at {
        if OPS.fetch_add(1, Ordering::SeqCst) + 1 == at {
            // No unwinding, no destructors, no buffered writes: what is on disk now is what a
            // SIGKILL would leave.
            std::process::abort();
        }
    }
}

/// Writes a new file at `path`, `parts` one after the other (in a directory no reader sees yet, or
/// replacing nothing a reader relies on), with `fsync` when `sync` is set.
pub(crate) fn write_new(path: &Path, parts: &[&[u8]], sync: bool) -> Result<()> {
    crash_point();
    let mut f = std::fs::File::create(path).map_err(|e| StoreError::io(path, e))?;
    for part in parts {
        f.write_all(part).map_err(|e| StoreError::io(path, e))?;
    }
    if sync {
        f.sync_all().map_err(|e| StoreError::io(path, e))?;
    }
    Ok(())
}

/// Replaces `path` by `bytes` through a temporary file in the same directory and a rename, so a
/// reader sees the old or the new content, never a mix; creates the directory when needed. With
/// `sync` the data is on disk before the rename (the directory itself is synced by the caller's
/// commit, [`sync_dir`]).
pub(crate) fn write_atomic(path: &Path, parts: &[&[u8]], sync: bool) -> Result<()> {
    let dir = parent(path);
    if !dir.is_dir() {
        crash_point();
        std::fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    write_new(&tmp, parts, sync)?;
    rename(&tmp, path)
}

/// Renames `from` to `to` (atomically replacing a file or an empty directory there).
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    crash_point();
    std::fs::rename(from, to).map_err(|e| StoreError::io(to, e))
}

/// Creates a directory and its parents.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    crash_point();
    std::fs::create_dir_all(path).map_err(|e| StoreError::io(path, e))
}

/// Removes a directory tree; nothing there is not an error.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    remove(path, std::fs::remove_dir_all::<&Path>)
}

/// Removes a file or symbolic link; nothing there is not an error.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    remove(path, std::fs::remove_file::<&Path>)
}

fn remove<'a>(path: &'a Path, how: fn(&'a Path) -> std::io::Result<()>) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    crash_point();
    match how(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Makes `link` a symbolic link to `target` (relative to the link's directory), replacing what is
/// there atomically (through a temporary link and a rename). `dir` says whether the target is a
/// directory (Windows links the two kinds differently).
pub(crate) fn symlink(target: &Path, link: &Path, dir: bool) -> Result<()> {
    let name = link.file_name().and_then(|n| n.to_str()).unwrap_or("link");
    let tmp = parent(link).join(format!(".{name}.tmp"));
    remove_file(&tmp)?;
    crash_point();
    #[cfg(unix)]
    let made = {
        let _ = dir;
        std::os::unix::fs::symlink(target, &tmp)
    };
    #[cfg(windows)]
    let made = if dir {
        std::os::windows::fs::symlink_dir(target, &tmp)
    } else {
        std::os::windows::fs::symlink_file(target, &tmp)
    };
    #[cfg(not(any(unix, windows)))]
    let made: std::io::Result<()> = {
        let _ = (dir, target);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "stores need symbolic links",
        ))
    };
    made.map_err(|e| StoreError::io(&tmp, e))?;
    rename(&tmp, link)
}

/// Hard-links `from` at `to` (a new name for the same file).
pub(crate) fn hard_link(from: &Path, to: &Path) -> Result<()> {
    crash_point();
    std::fs::hard_link(from, to).map_err(|e| StoreError::io(to, e))
}

/// Flushes a directory's entries (new names, renames) to disk.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let f = std::fs::File::open(dir).map_err(|e| StoreError::io(dir, e))?;
        f.sync_all().map_err(|e| StoreError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The directory holding `path` (`.` for a bare name).
pub(crate) fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
