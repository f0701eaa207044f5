//! The writes of a push or pop, once the journal holds everything needed to undo them:
//! directories first, then the originals moved into `.pc/` (quilt's backups: the same
//! inode, never a copy), then every new file on all cores (files are independent: each is
//! a new inode, created once), then removals. Writes the tree and its `.pc/` directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::tree::FileState;
use crate::fsx::{self, FsError};

/// One path to set, relative to the tree root.
pub struct Write {
    pub path: PathBuf,
    pub op: Op,
    /// What the caller knows of the path before the operation, so the journal need not
    /// read it back.
    pub before: Before,
}

pub enum Op {
    /// The new state (None: remove the file).
    Set(Option<FileState>),
    /// Move this tree path (as it is before the operation) here: a backup that keeps the
    /// original inode, as GNU patch's `--backup` under quilt does.
    MoveFrom(PathBuf),
}

pub enum Before {
    /// Unknown: the journal reads the path and records its contents.
    Read,
    /// The path does not exist (the caller checked: a new file, or a path in a `.pc/<patch>`
    /// directory that does not exist).
    Absent,
    /// The original is moved to this path (relative to the root) by this same operation; a
    /// rollback moves it back.
    MovedTo(PathBuf),
}

impl Write {
    /// A path whose state before is read by the journal.
    pub fn set(path: PathBuf, state: Option<FileState>) -> Write {
        Write { path, op: Op::Set(state), before: Before::Read }
    }

    /// The state this write sets (None: a removal, or a move).
    pub fn state(&self) -> Option<&FileState> {
        match &self.op {
            Op::Set(st) => st.as_ref(),
            Op::MoveFrom(_) => None,
        }
    }

    /// A new file at a path known not to exist.
    pub fn fresh(path: PathBuf, state: FileState) -> Write {
        Write { path, op: Op::Set(Some(state)), before: Before::Absent }
    }
}

pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    let mut t = b".".to_vec();
    t.extend_from_slice(&name);
    t.extend_from_slice(b".srukit-tmp");
    path.with_file_name(OsStr::from_bytes(&t))
}

/// The kill test's hook: sleep this many microseconds after every write step, so that a
/// SIGKILL can land between any two of them.
pub fn pause() {
    if let Some(us) = std::env::var_os("SRUKIT_TEST_PAUSE_US").and_then(|v| v.to_str()?.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// Replaces a file through a temporary sibling and a rename, with its mode: readers see the
/// old file or the new, and the old inode (maybe hard-linked elsewhere) is never written.
pub fn put(path: &Path, st: &FileState) -> Result<(), FsError> {
    let tmp = tmp_path(path);
    fsx::remove_file_if_exists(&tmp)?;
    fsx::write_new(&tmp, &st.data, st.mode)?;
    fsx::rename(&tmp, path)
}

/// Moves a file; across file systems (a `$QUILT_PC` elsewhere), copies then removes it.
pub fn move_file(from: &Path, to: &Path) -> Result<(), FsError> {
    match fsx::rename(from, to) {
        Err(e) if e.source.raw_os_error() == Some(libc::EXDEV) => {
            fsx::copy(from, to)?;
            fsx::remove_file(from)
        }
        r => r,
    }
}

/// Removes `dir` and its parents while they are empty, stopping at `stop`.
fn prune(mut dir: &Path, stop: &Path) {
    while dir != stop && dir.starts_with(stop) {
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
}

/// Below this many files, threads cost more than they save.
const PARALLEL_FROM: usize = 32;

/// Performs `writes`; `existed[i]` says whether `writes[i]`'s path existed before (so a new
/// file is created in place, with no temporary file and rename). `dirs` are created first,
/// parents before children.
pub fn apply(
    root: &Path,
    pc: &Path,
    writes: &[Write],
    existed: &[bool],
    dirs: &[PathBuf],
) -> Result<(), FsError> {
    for d in dirs {
        fsx::create_dir_all(&root.join(d))?;
    }
    // The originals move first: a working file is created again only after its move.
    for w in writes {
        if let Op::MoveFrom(from) = &w.op {
            move_file(&root.join(from), &root.join(&w.path))?;
            pause();
        }
    }
    let puts: Vec<(&Write, &FileState, bool)> = writes
        .iter()
        .zip(existed)
        .filter_map(|(w, &ex)| match &w.op {
            Op::Set(Some(st)) => Some((w, st, ex && !matches!(w.before, Before::MovedTo(_)))),
            _ => None,
        })
        .collect();
    let put_one = |(w, st, replace): &(&Write, &FileState, bool)| -> Result<(), FsError> {
        let abs = root.join(&w.path);
        if *replace { put(&abs, st) } else { fsx::write_new(&abs, &st.data, st.mode) }?;
        pause();
        Ok(())
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if threads < 2 || puts.len() < PARALLEL_FROM {
        puts.iter().try_for_each(put_one)?;
    } else {
        // Contiguous chunks: sorted paths keep each thread mostly in its own directories.
        let chunk = puts.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> =
                puts.chunks(chunk).map(|c| s.spawn(move || c.iter().try_for_each(put_one))).collect();
            handles.into_iter().try_for_each(|h| h.join().expect("a writer thread panicked"))
        })?;
    }
    // Removals last and alone: pruning an emptied directory must not race a creation in it.
    for w in writes {
        if let Op::Set(None) = &w.op {
            let abs = root.join(&w.path);
            fsx::remove_file_if_exists(&abs)?;
            let stop = if abs.starts_with(pc) { pc } else { root };
            if let Some(parent) = abs.parent() {
                prune(parent, stop);
            }
            pause();
        }
    }
    Ok(())
}
