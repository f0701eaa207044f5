//! All-or-nothing writes to a tree: the before-state of every path a push or pop will
//! change is written first to `<QUILT_PC>/.srukit-journal` (through a temporary file and a
//! rename, so it is whole or absent); then the tree and `.pc/` are written; removing the
//! journal commits. A journal found later (the process was killed) is rolled back by the
//! next srukit command on the tree, which restores every recorded path. Reads and writes
//! the tree and its `.pc/` directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tree::{FileState, read_state};
use crate::fsx::{self, FsError};

pub const JOURNAL: &str = ".srukit-journal";
const MAGIC: &[u8] = b"srukit-journal 1\n";

/// One path to set: relative to the tree root, with its new state (None: remove it).
pub struct Write {
    pub path: PathBuf,
    pub state: Option<FileState>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    path: Vec<u8>,
    /// (mode, offset, length) of the old contents in the blob area; None: it did not exist.
    before: Option<(u32, usize, usize)>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    op: String,
    pc_created: bool,
    entries: Vec<Entry>,
    dirs_created: Vec<Vec<u8>>,
}

fn bytes_of(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

fn path_of(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    let mut t = b".".to_vec();
    t.extend_from_slice(&name);
    t.extend_from_slice(b".srukit-tmp");
    path.with_file_name(OsStr::from_bytes(&t))
}

/// The kill test's hook: sleep this many microseconds after every write step, so that a
/// SIGKILL can land between any two of them.
fn pause() {
    if let Some(us) = std::env::var_os("SRUKIT_TEST_PAUSE_US").and_then(|v| v.to_str()?.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// Writes a file through a temporary sibling and a rename, with its mode.
fn put(path: &Path, st: &FileState) -> Result<(), FsError> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tmp_path(path);
    fsx::write(&tmp, &st.data)?;
    fsx::set_permissions(&tmp, std::fs::Permissions::from_mode(st.mode))?;
    fsx::rename(&tmp, path)
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

/// Performs `writes` under `root` all or nothing. `pc` is the `.pc` directory (absolute).
pub fn execute(root: &Path, pc: &Path, op: &str, writes: &[Write]) -> Result<(), FsError> {
    let pc_created = !pc.is_dir();
    let mut blobs = Vec::new();
    let mut entries = Vec::new();
    let mut dirs_created: Vec<PathBuf> = Vec::new();
    for w in writes {
        let abs = root.join(&w.path);
        let before = read_state(&abs)?.map(|st| {
            let off = blobs.len();
            blobs.extend_from_slice(&st.data);
            (st.mode, off, st.data.len())
        });
        entries.push(Entry { path: bytes_of(&w.path), before });
        if w.state.is_some() {
            let mut d = abs.parent();
            while let Some(dir) = d {
                if dir == root
                    || dir == pc
                    || dir.is_dir()
                    || dirs_created.iter().any(|c| root.join(c) == dir)
                {
                    break;
                }
                dirs_created.push(dir.strip_prefix(root).unwrap_or(dir).to_path_buf());
                d = dir.parent();
            }
        }
    }
    let manifest = Manifest {
        op: op.to_string(),
        pc_created,
        entries,
        dirs_created: dirs_created.iter().map(|d| bytes_of(d)).collect(),
    };
    let mut doc = MAGIC.to_vec();
    doc.extend_from_slice(&serde_json::to_vec(&manifest).expect("a manifest serializes"));
    doc.push(b'\n');
    doc.extend_from_slice(&blobs);

    // The journal appears whole or not at all. A new .pc appears with it in one rename.
    let journal = pc.join(JOURNAL);
    if pc_created {
        let staging = staging_dir(pc);
        fsx::remove_dir_all(&staging)?;
        fsx::create_dir_all(&staging)?;
        pause();
        fsx::write(&staging.join(JOURNAL), &doc)?;
        pause();
        fsx::rename(&staging, pc)?;
    } else {
        let tmp = tmp_path(&journal);
        write_synced(&tmp, &doc)?;
        pause();
        fsx::rename(&tmp, &journal)?;
    }
    pause();
    if let Err(e) = apply_writes(root, pc, writes, &dirs_created) {
        rollback(root, pc)?;
        return Err(e);
    }
    fsx::remove_file(&journal)?;
    Ok(())
}

fn write_synced(path: &Path, doc: &[u8]) -> Result<(), FsError> {
    use std::io::Write;
    let ctx = |op, source| FsError { op, path: path.to_path_buf(), source };
    let mut f = std::fs::File::create(path).map_err(|e| ctx("create", e))?;
    f.write_all(doc).map_err(|e| ctx("write", e))?;
    f.sync_all().map_err(|e| ctx("sync", e))
}

fn staging_dir(pc: &Path) -> PathBuf {
    let mut name = pc.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
    name.extend_from_slice(b".srukit-tmp");
    pc.with_file_name(OsStr::from_bytes(&name))
}

fn apply_writes(root: &Path, pc: &Path, writes: &[Write], dirs: &[PathBuf]) -> Result<(), FsError> {
    for d in dirs.iter().rev() {
        fsx::create_dir_all(&root.join(d))?;
    }
    for w in writes {
        let abs = root.join(&w.path);
        match &w.state {
            Some(st) => put(&abs, st)?,
            None => {
                fsx::remove_file_if_exists(&abs)?;
                let stop = if abs.starts_with(pc) { pc } else { root };
                if let Some(parent) = abs.parent() {
                    prune(parent, stop);
                }
            }
        }
        pause();
    }
    Ok(())
}

/// If an interrupted push or pop left a journal (or staging files), restores the tree to
/// its state before that operation. Returns what it did, for the reporter.
pub fn recover(root: &Path, pc: &Path) -> Result<Option<String>, FsError> {
    let staging = staging_dir(pc);
    let mut said = None;
    if staging.exists() {
        fsx::remove_dir_all(&staging)?;
        said = Some(format!("removed {} left by an interrupted srukit command", staging.display()));
    }
    let journal = pc.join(JOURNAL);
    let tmp = tmp_path(&journal);
    if tmp.exists() {
        fsx::remove_file(&tmp)?;
        said = Some(format!("removed {} left by an interrupted srukit command", tmp.display()));
    }
    if journal.exists() {
        let op = rollback(root, pc)?;
        said = Some(format!(
            "rolled back an interrupted `{op}` on {} from its journal {}: the tree is as it was before it",
            root.display(),
            journal.display()
        ));
    }
    Ok(said)
}

/// Restores every path the journal names; idempotent, so a killed rollback can run again.
fn rollback(root: &Path, pc: &Path) -> Result<String, FsError> {
    let journal = pc.join(JOURNAL);
    let doc = fsx::read(&journal)?;
    let bad = |why: &str| FsError {
        op: "read the journal",
        path: journal.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string()),
    };
    let body = doc.strip_prefix(MAGIC).ok_or_else(|| bad("not a srukit journal"))?;
    let nl = body.iter().position(|&b| b == b'\n').ok_or_else(|| bad("truncated"))?;
    let m: Manifest = serde_json::from_slice(&body[..nl]).map_err(|e| bad(&e.to_string()))?;
    let blobs = &body[nl + 1..];
    for e in &m.entries {
        let abs = root.join(path_of(&e.path));
        let _ = std::fs::remove_file(tmp_path(&abs));
        match e.before {
            Some((mode, off, len)) => {
                let data = blobs.get(off..off + len).ok_or_else(|| bad("truncated blob"))?.to_vec();
                if let Some(parent) = abs.parent() {
                    fsx::create_dir_all(parent)?;
                }
                put(&abs, &FileState { data, mode })?;
            }
            None => fsx::remove_file_if_exists(&abs)?,
        }
    }
    for d in &m.dirs_created {
        let _ = std::fs::remove_dir(root.join(path_of(d)));
    }
    if m.pc_created {
        let staging = staging_dir(pc);
        fsx::rename(pc, &staging)?;
        fsx::remove_dir_all(&staging)?;
    } else {
        fsx::remove_file(&journal)?;
    }
    Ok(m.op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: &str) -> Option<FileState> {
        Some(FileState { data: s.as_bytes().to_vec(), mode: 0o644 })
    }

    #[test]
    fn execute_then_rollback_from_a_left_journal() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), "old").unwrap();
        let pc = root.join(".pc");
        let writes = vec![
            Write { path: "a".into(), state: st("new") },
            Write { path: "d/e/new".into(), state: st("x") },
            Write { path: ".pc/p/a".into(), state: st("old") },
        ];
        execute(root, &pc, "push", &writes).unwrap();
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert!(!pc.join(JOURNAL).exists());

        // Simulate a kill after the journal: write the journal of an undo, then recover.
        let undo = [
            Write { path: "a".into(), state: st("old") },
            Write { path: "d/e/new".into(), state: None },
            Write { path: ".pc/p/a".into(), state: None },
        ];
        // Write only the journal: run execute on a copy of the plan with a failing write.
        let plan_then_fail = |_: ()| {
            let mut w = undo
                .iter()
                .map(|w| Write { path: w.path.clone(), state: w.state.clone() })
                .collect::<Vec<_>>();
            w.push(Write { path: "a/not-a-dir/x".into(), state: st("boom") });
            execute(root, &pc, "pop", &w)
        };
        assert!(plan_then_fail(()).is_err(), "a failing write is an error");
        // It rolled back by itself: the tree is as after the push.
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("d/e/new")).unwrap(), b"x");
        assert!(!pc.join(JOURNAL).exists());
        assert_eq!(recover(root, &pc).unwrap(), None);
    }

    #[test]
    fn rollback_of_a_created_pc_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let pc = root.join(".pc");
        let w = vec![
            Write { path: ".pc/x".into(), state: st("1") },
            Write { path: "f/g".into(), state: st("2") },
        ];
        // Journal and .pc appear, then a kill is simulated by writing the journal by hand.
        execute(root, &pc, "push", &w).unwrap();
        let mut doc = MAGIC.to_vec();
        let m = Manifest {
            op: "push".into(),
            pc_created: true,
            entries: vec![
                Entry { path: b".pc/x".to_vec(), before: None },
                Entry { path: b"f/g".to_vec(), before: None },
            ],
            dirs_created: vec![b"f".to_vec()],
        };
        doc.extend_from_slice(&serde_json::to_vec(&m).unwrap());
        doc.push(b'\n');
        std::fs::write(pc.join(JOURNAL), doc).unwrap();
        let said = recover(root, &pc).unwrap().unwrap();
        assert!(said.contains("rolled back an interrupted `push`"), "{said}");
        assert_eq!(std::fs::read_dir(root).unwrap().count(), 0, "tree back to empty");
    }
}
