//! One commit point per checkpoint.
//!
//! A checkpoint changes many files: the chunks, the shape in every growing array's `.zarray`, the
//! consolidated `.zmetadata` and the chain state. Chunks are written under keys no reader looks at
//! yet (or replace a partial chunk by a longer one whose committed draws are the same bytes). The
//! documents live in a numbered commit directory under `.ebm_commits/`, and their places in the
//! hierarchy are symbolic links through `.ebm_commits/current`, itself a link to the commit
//! readers see. Writing the next commit's directory changes nothing a reader sees; replacing the
//! `current` link (one `rename`) switches every document at once. A kill at any instant leaves
//! the store as of one commit, and with `sync` that commit is on disk before it becomes current.
//!
//! A new store is built the same way in a hidden sibling directory and renamed into place.

use crate::error::{Result, StoreError};
use crate::fsio;
use crate::zarr::{consolidated, Layout, COMMITS, CURRENT, STATE_FILE};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The name of a commit directory's file holding the document at `key` in the hierarchy.
fn flat(key: &str) -> String {
    key.replace('/', "~")
}

/// The link at `key` in the hierarchy: relative, through `current`, so a copied store still works.
fn link_target(key: &str) -> PathBuf {
    let depth = key.matches('/').count();
    let mut target = PathBuf::new();
    for _ in 0..depth {
        target.push("..");
    }
    target.join(COMMITS).join(CURRENT).join(flat(key))
}

/// The commits of a store being written.
#[derive(Debug)]
pub(crate) struct Commits {
    root: PathBuf,
    /// The commit readers see.
    current: u64,
    sync: bool,
    /// Directories with new entries not yet synced.
    dirty_dirs: BTreeSet<PathBuf>,
    /// The keys of the documents a commit holds ([`Layout::mutable_keys`]), found once.
    mutable: Vec<String>,
}

impl Commits {
    /// Builds a store of `layout` with no draws, its coordinate chunks `files` (keys and bytes),
    /// in a sibling of `root`, then moves it to `root`: an empty directory there is replaced, a
    /// store there only when `replace` (it is moved aside first, then removed).
    pub fn create(
        root: &Path,
        layout: &Layout,
        files: &[(String, Vec<u8>)],
        replace: bool,
    ) -> Result<Self> {
        let parent = fsio::parent(root);
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| StoreError::InvalidOption {
                name: "path",
                value: root.display().to_string(),
                reason: "a store's path must end in a directory name",
            })?;
        if !parent.is_dir() {
            fsio::create_dir(&parent)?;
        }
        let staging = parent.join(format!(".{name}.ebm-new"));
        fsio::remove_tree(&staging)?;
        fsio::create_dir(&staging)?;
        let sync = layout.sync;
        let docs = layout.documents([0, 0]);
        let mutable = layout.mutable_keys();
        let mut dirs = BTreeSet::from([staging.clone()]);
        let mut put = |key: &str, bytes: &[u8]| -> Result<()> {
            let path = staging.join(key);
            let dir = fsio::parent(&path);
            if dirs.insert(dir.clone()) {
                fsio::create_dir(&dir)?;
            }
            fsio::write_new(&path, &[bytes], sync)
        };
        for (key, doc) in &docs {
            if !mutable.contains(key) {
                put(key, doc.to_string().as_bytes())?;
            }
        }
        for (key, bytes) in files {
            put(key, bytes)?;
        }
        let commits = staging.join(COMMITS);
        let first = commits.join("1");
        fsio::create_dir(&first)?;
        write_commit(&first, layout, &mutable, [0, 0], sync)?;
        fsio::symlink(Path::new("1"), &commits.join(CURRENT), true)?;
        for key in mutable.iter().map(String::as_str).chain([STATE_FILE]) {
            fsio::symlink(&link_target(key), &staging.join(key), false)?;
        }
        if sync {
            for dir in dirs.iter().chain([&commits, &first]) {
                fsio::sync_dir(dir)?;
            }
        }
        if std::fs::symlink_metadata(root).is_ok() && replace {
            let aside = parent.join(format!(".{name}.ebm-old"));
            fsio::remove_tree(&aside)?;
            fsio::rename(root, &aside)?;
            fsio::rename(&staging, root)?;
            fsio::remove_tree(&aside)?;
        } else {
            // Replaces an empty directory, fails on anything else.
            fsio::rename(&staging, root)?;
        }
        if sync {
            fsio::sync_dir(&parent)?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            current: 1,
            sync,
            dirty_dirs: BTreeSet::new(),
            mutable,
        })
    }

    /// The commits of the store at `root`, to go on writing it: commits left unfinished by a kill
    /// are removed.
    pub fn open(root: &Path, layout: &Layout) -> Result<Self> {
        let dir = root.join(COMMITS);
        let link = dir.join(CURRENT);
        if !layout.checksummed() {
            return Err(StoreError::bad(
                root.join(".zattrs"),
                format!(
                    "store format {} (written by an earlier version) is read but not resumed",
                    layout.format
                ),
            ));
        }
        let current = std::fs::read_link(&link)
            .ok()
            .and_then(|t| t.to_str().and_then(|t| t.parse::<u64>().ok()))
            .filter(|n| dir.join(n.to_string()).is_dir())
            .ok_or_else(|| StoreError::bad(&link, "not a link to a commit directory"))?;
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name();
            if name == CURRENT || name.to_str() == Some(&current.to_string()) {
                continue;
            }
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                fsio::remove_tree(&path)?;
            } else {
                fsio::remove_file(&path)?;
            }
        }
        Ok(Self {
            root: root.to_path_buf(),
            current,
            sync: layout.sync,
            dirty_dirs: BTreeSet::new(),
            mutable: layout.mutable_keys(),
        })
    }

    /// Writes a chunk (or replaces it: readers see the old or the new bytes), `parts` one after the
    /// other, at `key`. It becomes part of the store at the next commit.
    pub fn write_chunk(&mut self, key: &str, parts: &[&[u8]]) -> Result<()> {
        let path = self.root.join(key);
        fsio::write_atomic(&path, parts, self.sync)?;
        self.dirty_dirs.insert(fsio::parent(&path));
        Ok(())
    }

    /// Makes the store hold `draws` per chain in each phase and, when given, `state` as its chain
    /// state (else the current commit's is kept): writes the next commit and makes it current.
    pub fn commit(
        &mut self,
        layout: &Layout,
        draws: [usize; 2],
        state: Option<&[u8]>,
    ) -> Result<()> {
        if self.sync {
            for dir in std::mem::take(&mut self.dirty_dirs) {
                fsio::sync_dir(&dir)?;
            }
        } else {
            self.dirty_dirs.clear();
        }
        let commits = self.root.join(COMMITS);
        let next = self.current + 1;
        let dir = commits.join(next.to_string());
        fsio::remove_tree(&dir)?;
        fsio::create_dir(&dir)?;
        write_commit(&dir, layout, &self.mutable, draws, self.sync)?;
        let old = commits.join(self.current.to_string());
        match state {
            Some(bytes) => fsio::write_new(&dir.join(flat(STATE_FILE)), &[bytes], self.sync)?,
            None => {
                let from = old.join(flat(STATE_FILE));
                if from.is_file() {
                    fsio::hard_link(&from, &dir.join(flat(STATE_FILE)))?;
                }
            }
        }
        if self.sync {
            fsio::sync_dir(&dir)?;
        }
        // The commit point.
        fsio::symlink(Path::new(&next.to_string()), &commits.join(CURRENT), true)?;
        if self.sync {
            fsio::sync_dir(&commits)?;
        }
        self.current = next;
        fsio::remove_tree(&old)
    }
}

/// Writes the changing documents of a store of `draws` into the commit directory `dir`.
fn write_commit(
    dir: &Path,
    layout: &Layout,
    mutable: &[String],
    draws: [usize; 2],
    sync: bool,
) -> Result<()> {
    let docs = layout.documents(draws);
    for key in mutable {
        let bytes = match docs.iter().find(|(k, _)| k == key) {
            Some((_, doc)) => doc.to_string(),
            None => consolidated(&docs).to_string(),
        };
        fsio::write_new(&dir.join(flat(key)), &[bytes.as_bytes()], sync)?;
    }
    Ok(())
}
