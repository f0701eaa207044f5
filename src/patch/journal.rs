//! All-or-nothing writes to a tree: the before-state of every path a push or pop will
//! change is written first to `<QUILT_PC>/.srukit-journal` (through a temporary file and a
//! rename, so it is whole or absent): the old contents, or, for an original that the push
//! moves into `.pc/` as its backup (same inode, never written again), where it goes; then the
//! tree and `.pc/` are written; removing the journal commits. A journal found later (the
//! process was killed) is rolled back by the next srukit command on the tree, which moves
//! originals back and restores every other recorded path. Reads and writes the tree and its
//! `.pc/` directory.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::tree::{FileState, read_state};
pub use super::writer::{Before, Op, Write};
use super::writer::{move_file, pause, put, tmp_path};
use crate::fsx::{self, FsError};

pub const JOURNAL: &str = ".srukit-journal";
const MAGIC: &[u8] = b"srukit-journal 1\n";

/// A path in the manifest: a JSON string when it is UTF-8 (nearly always; a byte array is
/// four times longer, and grub2's journal was 421 KB of them), its bytes otherwise. A
/// journal left by an older srukit (byte arrays only) reads the same.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum JPath {
    Text(String),
    Bytes(Vec<u8>),
}

impl JPath {
    fn of(p: &Path) -> JPath {
        match p.to_str() {
            Some(s) => JPath::Text(s.to_string()),
            None => JPath::Bytes(p.as_os_str().as_bytes().to_vec()),
        }
    }

    fn path(&self) -> PathBuf {
        match self {
            JPath::Text(s) => PathBuf::from(s),
            JPath::Bytes(b) => PathBuf::from(OsStr::from_bytes(b)),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    path: JPath,
    /// (mode, offset, length) of the old contents in the blob area; None: it did not exist
    /// (or was moved to `moved_to`).
    before: Option<(u32, usize, usize)>,
    /// Where this operation moves the original (a `.pc/` backup): a rollback moves it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    moved_to: Option<JPath>,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    op: String,
    pc_created: bool,
    entries: Vec<Entry>,
    dirs_created: Vec<JPath>,
}

/// Performs `writes` under `root` all or nothing. `pc` is the `.pc` directory (absolute).
pub fn execute(root: &Path, pc: &Path, op: &str, writes: &[Write]) -> Result<(), FsError> {
    let pc_created = !pc.is_dir();
    let mut blobs = Vec::new();
    let mut entries = Vec::with_capacity(writes.len());
    let mut existed = Vec::with_capacity(writes.len());
    let mut dirs_created: Vec<PathBuf> = Vec::new();
    // Directories seen to exist, and those to create (parents first): each is looked at once.
    let (mut dirs_seen, mut dirs_new): (HashSet<PathBuf>, HashSet<PathBuf>) = Default::default();
    for w in writes {
        let abs = root.join(&w.path);
        let (before, moved_to) = match &w.before {
            Before::Read => {
                let st = read_state(&abs)?;
                let before = st.map(|st| {
                    let off = blobs.len();
                    blobs.extend_from_slice(&st.data);
                    (st.mode, off, st.data.len())
                });
                (before, None)
            }
            Before::Absent => (None, None),
            Before::MovedTo(to) => (None, Some(JPath::of(to))),
        };
        existed.push(before.is_some());
        // A rollback removes a `.pc` this operation created whole: the new files in it need
        // no entry (most of a long series' entries: one per backup).
        let in_new_pc = pc_created && before.is_none() && moved_to.is_none() && abs.starts_with(pc);
        if !in_new_pc {
            entries.push(Entry { path: JPath::of(&w.path), before, moved_to });
        }
        if !matches!(w.op, Op::Set(None)) {
            // Top down: only the topmost missing directory is looked at; all below it are new.
            let ancestors: Vec<&Path> = abs
                .ancestors()
                .skip(1)
                .take_while(|d| *d != root && *d != pc && (d.starts_with(root) || d.starts_with(pc)))
                .collect();
            let mut missing = false;
            for dir in ancestors.into_iter().rev() {
                if missing || dirs_new.contains(dir) {
                    missing = true;
                    if dirs_new.insert(dir.to_path_buf()) {
                        dirs_created.push(dir.strip_prefix(root).unwrap_or(dir).to_path_buf());
                    }
                } else if !dirs_seen.contains(dir) {
                    if dir.is_dir() {
                        dirs_seen.insert(dir.to_path_buf());
                    } else {
                        missing = true;
                        dirs_new.insert(dir.to_path_buf());
                        dirs_created.push(dir.strip_prefix(root).unwrap_or(dir).to_path_buf());
                    }
                }
            }
        }
    }
    let manifest = Manifest {
        op: op.to_string(),
        pc_created,
        entries,
        dirs_created: dirs_created
            .iter()
            .filter(|d| !(pc_created && root.join(d).starts_with(pc)))
            .map(|d| JPath::of(d))
            .collect(),
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
    if let Err(e) = super::writer::apply(root, pc, writes, &existed, &dirs_created) {
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
    // Moved originals go back first: their backup paths are removed just below.
    for e in &m.entries {
        if let Some(to) = &e.moved_to {
            let (abs, backup) = (root.join(e.path.path()), root.join(to.path()));
            let _ = std::fs::remove_file(tmp_path(&abs));
            if std::fs::symlink_metadata(&backup).is_ok() {
                move_file(&backup, &abs)?;
            }
        }
    }
    for e in m.entries.iter().filter(|e| e.moved_to.is_none()) {
        let abs = root.join(e.path.path());
        let _ = std::fs::remove_file(tmp_path(&abs));
        match e.before {
            Some((mode, off, len)) => {
                let data = blobs.get(off..off + len).ok_or_else(|| bad("truncated blob"))?.to_vec();
                if let Some(parent) = abs.parent() {
                    fsx::create_dir_all(parent)?;
                }
                put(&abs, &FileState::new(data, mode))?;
            }
            None => fsx::remove_file_if_exists(&abs)?,
        }
    }
    // Deepest first, so a directory is empty by the time its turn comes.
    let mut dirs: Vec<PathBuf> = m.dirs_created.iter().map(JPath::path).collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let _ = std::fs::remove_dir(root.join(d));
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
        Some(FileState::new(s.as_bytes().to_vec(), 0o644))
    }

    #[test]
    fn execute_then_rollback_from_a_left_journal() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a"), "old").unwrap();
        let pc = root.join(".pc");
        let writes = vec![
            Write::set("a".into(), st("new")),
            Write::set("d/e/new".into(), st("x")),
            Write::set(".pc/p/a".into(), st("old")),
        ];
        execute(root, &pc, "push", &writes).unwrap();
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert!(!pc.join(JOURNAL).exists());

        // Simulate a kill after the journal: write the journal of an undo, then recover.
        let undo = [
            Write::set("a".into(), st("old")),
            Write::set("d/e/new".into(), None),
            Write::set(".pc/p/a".into(), None),
        ];
        // Write only the journal: run execute on a copy of the plan with a failing write.
        let plan_then_fail = |_: ()| {
            let mut w =
                undo.iter().map(|w| Write::set(w.path.clone(), w.state().cloned())).collect::<Vec<_>>();
            w.push(Write::set("a/not-a-dir/x".into(), st("boom")));
            execute(root, &pc, "pop", &w)
        };
        assert!(plan_then_fail(()).is_err(), "a failing write is an error");
        // It rolled back by itself: the tree is as after the push.
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("d/e/new")).unwrap(), b"x");
        assert!(!pc.join(JOURNAL).exists());
        assert_eq!(recover(root, &pc).unwrap(), None);
    }

    /// A push moves the original into `.pc/` (same inode) and creates the working file anew:
    /// a hard link to the original elsewhere never sees the new contents, and a rollback
    /// moves the original back.
    #[test]
    fn moved_originals_keep_their_inode_and_come_back_on_rollback() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        std::fs::create_dir(&root).unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "orig").unwrap();
        std::fs::hard_link(&outside, root.join("a")).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let orig_ino = ino(&outside);
        let pc = root.join(".pc");
        let push = |extra: Option<Write>| {
            let mut w = vec![
                Write { path: ".pc/p/a".into(), op: Op::MoveFrom("a".into()), before: Before::Absent },
                Write { path: "a".into(), op: Op::Set(st("new")), before: Before::MovedTo(".pc/p/a".into()) },
                Write::fresh("b/new".into(), st("n").unwrap()),
            ];
            w.extend(extra);
            execute(&root, &pc, "push", &w)
        };

        // A push that fails on its last write rolls back: the original inode is back.
        assert!(push(Some(Write::set("a/not-a-dir/x".into(), st("boom")))).is_err());
        assert_eq!(ino(&root.join("a")), orig_ino, "the original inode is back in place");
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"orig");
        assert!(!root.join(".pc/p/a").exists() && !root.join("b").exists());

        push(None).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"orig", "the link was not written through");
        assert_eq!(ino(&root.join(".pc/p/a")), orig_ino, "the backup is the original inode");
        assert_ne!(ino(&root.join("a")), orig_ino, "the working file is a new inode");
        assert_eq!(std::fs::read(root.join("a")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("b/new")).unwrap(), b"n");
        assert!(!pc.join(JOURNAL).exists());
    }

    #[test]
    fn rollback_of_a_created_pc_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let pc = root.join(".pc");
        let w = vec![Write::set(".pc/x".into(), st("1")), Write::set("f/g".into(), st("2"))];
        // Journal and .pc appear, then a kill is simulated by writing the journal by hand.
        execute(root, &pc, "push", &w).unwrap();
        let mut doc = MAGIC.to_vec();
        let m = Manifest {
            op: "push".into(),
            pc_created: true,
            entries: vec![
                Entry { path: JPath::Text(".pc/x".into()), before: None, moved_to: None },
                Entry { path: JPath::Bytes(b"f/g".to_vec()), before: None, moved_to: None },
            ],
            dirs_created: vec![JPath::Bytes(b"f".to_vec())],
        };
        doc.extend_from_slice(&serde_json::to_vec(&m).unwrap());
        doc.push(b'\n');
        std::fs::write(pc.join(JOURNAL), doc).unwrap();
        let said = recover(root, &pc).unwrap().unwrap();
        assert!(said.contains("rolled back an interrupted `push`"), "{said}");
        assert_eq!(std::fs::read_dir(root).unwrap().count(), 0, "tree back to empty");
    }
}
