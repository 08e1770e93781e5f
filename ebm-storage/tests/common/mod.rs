//! Helpers shared by the store tests.

#![allow(dead_code)]

use std::path::Path;

/// What a store holds as its readers see it: every file of the hierarchy by its key, with the
/// content it has through the links (the commit directory's numbering, an internal detail, left
/// out), temporary files a kill may leave out too. Links whose commit has no such file yet (the
/// chain state before the first checkpoint) read as absent.
pub fn logical_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let p = entry.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name == ".ebm_commits" || name.ends_with(".tmp") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                let key = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((key, bytes));
            }
        }
    }
    out.sort();
    out
}

/// A temporary directory in memory where there is a tmpfs (`/dev/shm`): creating a file costs a
/// millisecond on some disks, and these tests create tens of thousands.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Copies a directory tree with its links (`cp -a`).
pub fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(ok.success(), "cp -a {} {}", from.display(), to.display());
}

/// The environment variable of ebm-storage's crash points.
pub const CRASH_ENV: &str = "EBM_STORAGE_CRASH_AT";

/// Runs the ignored test `child` of this test binary as a child process with `env` set to `path`,
/// stopped before its `crash_at`-th file operation on a store when given; whether it completed.
/// A child that fails otherwise than by that stop fails the test, with its output.
pub fn run_child(child: &str, env: &str, path: &Path, crash_at: Option<u64>) -> bool {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([child, "--exact", "--ignored", "--test-threads=1"])
        .env(env, path)
        .env_remove(CRASH_ENV)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(n) = crash_at {
        cmd.env(CRASH_ENV, n.to_string());
    }
    let out = cmd.output().unwrap();
    if out.status.success() {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(6),
            "the child failed ({:?}) instead of stopping at operation {crash_at:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert!(crash_at.is_some(), "the child failed without a crash point");
    false
}

/// Runs the ignored test `child` (which writes the store at the path in `env`) uninterrupted, then
/// stopped before its 1st, 2nd, ... file operation until it completes. After each stop the store,
/// when one is there, must open, and running the child again must finish it to the files of the
/// uninterrupted store. Returns the number of stops and the committed draw counts (warm-up,
/// sampling) seen after them.
pub fn stop_at_every_write(
    child: &str,
    env: &str,
) -> (u64, std::collections::BTreeSet<(usize, usize)>) {
    use ebm_storage::{Phase, StoredRun};
    let dir = scratch_dir();
    let whole = dir.path().join("whole.zarr");
    assert!(run_child(child, env, &whole, None));
    let path = dir.path().join("killed.zarr");
    let mut states = std::collections::BTreeSet::new();
    let mut stops = 0;
    for n in 1.. {
        assert!(n < 20_000, "the child never got through");
        let _ = std::fs::remove_dir_all(&path);
        if run_child(child, env, &path, Some(n)) {
            break;
        }
        stops += 1;
        if std::fs::read_dir(&path).is_ok_and(|mut d| d.next().is_some()) {
            let run = StoredRun::<f64>::open(&path).unwrap();
            states.insert((run.n_draws(Phase::Warmup), run.n_draws(Phase::Sampling)));
        }
        assert!(
            run_child(child, env, &path, None),
            "resume after a stop at {n}"
        );
        assert_same_files(&path, &whole);
    }
    (stops, states)
}

/// Asserts two stores hold the same files, naming the first that differs.
pub fn assert_same_files(a: &Path, b: &Path) {
    let (x, y) = (logical_files(a), logical_files(b));
    let keys = |v: &[(String, Vec<u8>)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&x), keys(&y), "the stores hold different files");
    for ((k, u), (_, v)) in x.iter().zip(&y) {
        assert!(
            u == v,
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}
