//! The source tree seen through an in-memory overlay: files are read once, on first touch,
//! after checking that the path stays inside the tree (no symlink on the way, a regular file
//! at the end, as dpkg-source's `analyze` demands); every change stays in memory until the
//! journal writes it. Reads the tree; writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsx;

/// A regular file's contents and permission bits. The contents are shared, never changed
/// in place: a patch makes a new state, so the state before it (the `.pc/` backup, the
/// journal's copy) is kept by a reference count, not a copy of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileState {
    pub data: Arc<Vec<u8>>,
    pub mode: u32,
}

impl FileState {
    pub fn new(data: Vec<u8>, mode: u32) -> FileState {
        FileState { data: Arc::new(data), mode }
    }
}

/// Why a path may not be touched.
#[derive(Debug)]
pub enum PathProblem {
    Unsafe(String),
    Io(fsx::FsError),
}

#[derive(Debug, Clone)]
struct Slot {
    orig: Option<FileState>,
    cur: Option<FileState>,
}

pub struct Overlay {
    root: PathBuf,
    files: BTreeMap<Vec<u8>, Slot>,
    /// Directories (relative) already seen to be real directories, not symlinks.
    dirs: HashSet<Vec<u8>>,
}

pub fn rel_path(rel: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(rel))
}

impl Overlay {
    pub fn new(root: &Path) -> Overlay {
        Overlay { root: root.to_path_buf(), files: BTreeMap::new(), dirs: HashSet::new() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The current state of `rel` (None: absent), loading it from disk on first use.
    pub fn get(&mut self, rel: &[u8]) -> Result<Option<&FileState>, PathProblem> {
        if !self.files.contains_key(rel) {
            let orig = self.load(rel)?;
            self.files.insert(rel.to_vec(), Slot { cur: orig.clone(), orig });
        }
        Ok(self.files[rel].cur.as_ref())
    }

    /// Sets a path's state as if it were on disk (pop checks a patch against its backups).
    pub fn preset(&mut self, rel: &[u8], state: Option<FileState>) {
        self.files.insert(rel.to_vec(), Slot { orig: state.clone(), cur: state });
    }

    /// Like `get`, without loading: for a path already touched.
    pub fn peek(&self, rel: &[u8]) -> Option<Option<&FileState>> {
        self.files.get(rel).map(|s| s.cur.as_ref())
    }

    pub fn set(&mut self, rel: &[u8], state: Option<FileState>) -> Result<(), PathProblem> {
        self.get(rel)?;
        self.files.get_mut(rel).expect("loaded above").cur = state;
        Ok(())
    }

    /// Every touched path whose state differs from the disk: (path, before, after).
    pub fn changes(&self) -> Vec<(&[u8], Option<&FileState>, Option<&FileState>)> {
        self.files
            .iter()
            .filter(|(_, s)| s.orig != s.cur)
            .map(|(k, s)| (k.as_slice(), s.orig.as_ref(), s.cur.as_ref()))
            .collect()
    }

    /// Refuses paths that leave the tree or name something other than a regular file.
    fn load(&mut self, rel: &[u8]) -> Result<Option<FileState>, PathProblem> {
        let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        if rel.is_empty()
            || rel.starts_with(b"/")
            || comps.iter().any(|c| c.is_empty() || *c == b"." || *c == b"..")
        {
            return Err(PathProblem::Unsafe("not a plain relative path inside the tree".into()));
        }
        let mut p = self.root.clone();
        let mut prefix_len = 0;
        for (i, c) in comps.iter().enumerate() {
            p.push(OsStr::from_bytes(c));
            prefix_len += c.len() + usize::from(i > 0);
            let last = i + 1 == comps.len();
            if !last && self.dirs.contains(&rel[..prefix_len]) {
                continue;
            }
            let md = match std::fs::symlink_metadata(&p) {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(PathProblem::Unsafe(format!("{} is not a directory", p.display())));
                }
                Err(source) => return Err(PathProblem::Io(fsx::FsError { op: "stat", path: p, source })),
            };
            if md.file_type().is_symlink() {
                return Err(PathProblem::Unsafe(format!("goes through the symlink {}", p.display())));
            }
            if !last && !md.is_dir() {
                return Err(PathProblem::Unsafe(format!("{} is not a directory", p.display())));
            }
            if !last {
                self.dirs.insert(rel[..prefix_len].to_vec());
            }
            if last {
                if !md.is_file() {
                    return Err(PathProblem::Unsafe("is not a regular file".into()));
                }
                let data = fsx::read_sized(&p, md.len()).map_err(PathProblem::Io)?;
                return Ok(Some(FileState::new(data, md.permissions().mode() & 0o7777)));
            }
        }
        Ok(None)
    }
}

/// Refuses a directory that is not a source tree before anything reads or writes it: one
/// with `debian/`, or a plain quilt tree (QUILT_PATCHES set, or `.pc/.quilt_patches` from an
/// earlier quilt run). A source tree without a series is fine: it has no patches.
pub fn require_source_tree(root: &Path) -> Result<(), super::PatchError> {
    let not = |reason: String| super::PatchError::State { path: root.to_path_buf(), reason };
    match std::fs::metadata(root) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(not("not a source tree: not a directory".into())),
        Err(e) => return Err(not(format!("not a source tree: {e}"))),
    }
    let quilt_env = std::env::var("QUILT_PATCHES").is_ok_and(|v| !v.is_empty());
    if quilt_env || root.join("debian").is_dir() || root.join(".pc/.quilt_patches").is_file() {
        return Ok(());
    }
    Err(not("not a source tree: no debian/ directory (for a plain quilt tree, set QUILT_PATCHES)".into()))
}

/// Reads a file's state from disk without any check (for `.pc/` backups srukit or quilt wrote).
pub fn read_state(path: &Path) -> Result<Option<FileState>, fsx::FsError> {
    let md = match std::fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(fsx::FsError { op: "stat", path: path.to_path_buf(), source }),
    };
    Ok(Some(FileState::new(fsx::read(path)?, md.permissions().mode() & 0o7777)))
}
