//! The strict quilt patch engine: dpkg-source's "3.0 (quilt)" rules (fuzz 0, offsets
//! allowed), quilt's own `.pc/` state, all or nothing.
//!
//! Reads `debian/patches/series` (or `$QUILT_PATCHES`), the patches and the tree; writes the
//! tree and `.pc/` (or `$QUILT_PC`) exactly as quilt 0.66 does (`.version` = 2,
//! `.quilt_patches`, `.quilt_series`, `applied-patches`, `<patch>/<file>` backups, empty
//! backups for new files, `<patch>/.timestamp`), so quilt and srukit can take over from each
//! other. Every push or pop is computed in memory first and written through a journal.

pub mod diff;
pub mod engine;
pub mod hunk;
pub mod journal;
mod report;
pub mod tree;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use engine::FileOffset;
pub use report::{CheckReport, Nearest, PatchCheck, PatchStatus, PopReport, PushReport, PushedPatch};

use crate::exit::{Exit, ExitCodeOf};
use crate::formats::series::{Series, SeriesEntry, SeriesError};
use crate::fsx::{self, FsError};
use crate::reporter::{Quiet, Reporter};
use diff::ParseError;
use engine::Failure;
use journal::{Before, Op, Write};
use tree::{FileState, Overlay};

#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error(transparent)]
    Series(#[from] SeriesError),
    #[error("{}: {reason}", path.display())]
    State { path: PathBuf, reason: String },
    #[error("patch `{name}` is not in the series {}", series.display())]
    UnknownPatch { name: String, series: PathBuf },
    #[error("patch `{name}` is {state}")]
    WrongState { name: String, state: &'static str },
    #[error("patch {} does not exist", patch.display())]
    MissingPatch { patch: PathBuf },
    #[error("{}:{line}: malformed patch: {reason}", patch.display())]
    Malformed { patch: PathBuf, line: usize, reason: String },
    #[error("{}:{line}: git binary patch for {file}: binary patches are not supported", patch.display())]
    Binary { patch: PathBuf, line: usize, file: String },
    #[error("{}:{line}: refusing to touch {file}: {reason}", patch.display())]
    Unsafe { patch: PathBuf, line: usize, file: String, reason: String },
    #[error("{}:{line}: hunk #{hunk} of {file} does not apply: {reason}{}", patch.display(), nearest_text(nearest))]
    DoesNotApply {
        patch: PathBuf,
        line: usize,
        file: String,
        hunk: usize,
        reason: String,
        nearest: Option<Nearest>,
    },
    #[error("{}:{line}: {file}: {reason}", patch.display())]
    FileState { patch: PathBuf, line: usize, file: String, reason: String },
    #[error("cannot pop {}: {file} changed since the patch was pushed (refresh the patch, or restore the file)", patch.display())]
    LocalChanges { patch: PathBuf, file: String },
    #[error(transparent)]
    Io(#[from] FsError),
}

fn nearest_text(n: &Option<Nearest>) -> String {
    match n {
        Some(n) => format!(" (it would match at line {} with fuzz {})", n.line, n.fuzz),
        None => String::new(),
    }
}

impl ExitCodeOf for PatchError {
    fn exit(&self) -> Exit {
        match self {
            PatchError::DoesNotApply { .. }
            | PatchError::FileState { .. }
            | PatchError::LocalChanges { .. } => Exit::NotTrue,
            // A missing tree or file is bad input; any other I/O failure means we could not run.
            PatchError::Io(e) => e.exit(),
            _ => Exit::BadInput,
        }
    }
}

/// Which patches a push or pop moves: all, the next one, or up to a named one (quilt's
/// meaning: push applies it; pop leaves it applied and removes those above it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Next,
    To(String),
}

/// A quilt-managed tree.
pub struct Quilt {
    root: PathBuf,
    pc: PathBuf,
    patches_rel: String,
    patches: PathBuf,
    series_name: String,
    series: Vec<SeriesEntry>,
    applied: Vec<String>,
    recovered: Option<String>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

fn first_line(path: &Path) -> Result<Option<String>, FsError> {
    Ok(fsx::read_optional(path)?
        .map(|b| String::from_utf8_lossy(&b).lines().next().unwrap_or_default().trim().to_string())
        .filter(|s| !s.is_empty()))
}

impl Quilt {
    pub fn open(tree: &Path) -> Result<Quilt, PatchError> {
        Quilt::open_with(tree, &Quiet)
    }

    /// Opens a tree; an operation interrupted earlier is rolled back first, and said so.
    pub fn open_with(tree: &Path, rep: &dyn Reporter) -> Result<Quilt, PatchError> {
        let root = fsx::canonicalize(tree)?;
        let pc = root.join(env_or("QUILT_PC", ".pc"));
        let recovered = journal::recover(&root, &pc)?;
        if let Some(msg) = &recovered {
            rep.warn(msg);
        }
        // quilt: $QUILT_PATCHES, else what .pc/.quilt_patches recorded, else the default.
        let patches_rel = match std::env::var("QUILT_PATCHES").ok().filter(|v| !v.is_empty()) {
            Some(p) => p,
            None => first_line(&pc.join(".quilt_patches"))?.unwrap_or_else(|| "debian/patches".to_string()),
        };
        let series_name = match std::env::var("QUILT_SERIES").ok().filter(|v| !v.is_empty()) {
            Some(s) => s,
            None => first_line(&pc.join(".quilt_series"))?.unwrap_or_else(|| "series".to_string()),
        };
        let patches = root.join(&patches_rel);
        let series_path = patches.join(&series_name);
        let series = match fsx::read_optional(&series_path)? {
            Some(b) => Series::parse(&b, &series_path)?,
            None => Series::empty(&series_path),
        };
        let series = series.entries();
        let applied_path = pc.join("applied-patches");
        let applied: Vec<String> = match fsx::read_optional(&applied_path)? {
            Some(b) => String::from_utf8_lossy(&b)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            None => Vec::new(),
        };
        for (i, name) in applied.iter().enumerate() {
            if series.get(i).map(|e| &e.name) != Some(name) {
                return Err(PatchError::State {
                    path: applied_path,
                    reason: format!(
                        "applied patch `{name}` is not patch #{} of the series {}",
                        i + 1,
                        series_path.display()
                    ),
                });
            }
        }
        Ok(Quilt { root, pc, patches_rel, patches, series_name, series, applied, recovered })
    }

    pub fn series(&self) -> &[SeriesEntry] {
        &self.series
    }

    /// The series file (which may not exist: a tree without patches).
    pub fn series_path(&self) -> PathBuf {
        self.patches.join(&self.series_name)
    }

    pub fn applied(&self) -> &[String] {
        &self.applied
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What `open` rolled back, if anything.
    pub fn recovered(&self) -> Option<&str> {
        self.recovered.as_deref()
    }

    fn patch_path(&self, name: &str) -> PathBuf {
        self.patches.join(name)
    }

    fn read_patch(&self, name: &str) -> Result<Vec<u8>, PatchError> {
        let p = self.patch_path(name);
        fsx::read_optional(&p)?.ok_or(PatchError::MissingPatch { patch: p })
    }

    /// Turns an engine failure into the error that names the patch, line, file and hunk.
    fn error(&self, name: &str, f: Failure) -> PatchError {
        let patch = self.patch_path(name);
        match f {
            Failure::Parse(ParseError::Malformed { line, reason }) => {
                PatchError::Malformed { patch, line, reason }
            }
            Failure::Parse(ParseError::Binary { line, file }) => PatchError::Binary { patch, line, file },
            Failure::Parse(ParseError::Unsafe { line, file, reason })
            | Failure::Unsafe { line, file, reason } => PatchError::Unsafe { patch, line, file, reason },
            Failure::Io(e) => PatchError::Io(e),
            Failure::Hunk { file, fail } => PatchError::DoesNotApply {
                patch,
                line: fail.patch_line,
                file,
                hunk: fail.hunk,
                reason: fail.reason,
                nearest: fail.nearest.map(|(line, fuzz)| Nearest { line, fuzz }),
            },
            Failure::File { line, file, reason } => PatchError::FileState { patch, line, file, reason },
        }
    }

    /// Simulates pushing every unapplied patch in order, in memory, from the current tree.
    /// A patch that fails is reported and left out; the following ones are tried without it.
    /// Malformed or unsafe patches are errors. Writes nothing.
    pub fn check(&self) -> Result<CheckReport, PatchError> {
        let mut ov = Overlay::new(&self.root);
        let mut patches = Vec::new();
        for e in &self.series[self.applied.len()..] {
            let bytes = self.read_patch(&e.name)?;
            let status = match engine::apply_patch(&mut ov, &bytes, e.strip) {
                Ok(done) if done.offsets.is_empty() => PatchStatus::Ok,
                Ok(done) => PatchStatus::Offsets { hunks: done.offsets },
                Err(f) => match self.error(&e.name, f) {
                    PatchError::DoesNotApply { line, file, hunk, reason, nearest, .. } => {
                        PatchStatus::Fails { file, hunk, patch_line: line, reason, nearest }
                    }
                    PatchError::FileState { line, file, reason, .. } => {
                        PatchStatus::Fails { file, hunk: 0, patch_line: line, reason, nearest: None }
                    }
                    other => return Err(other),
                },
            };
            patches.push(PatchCheck { name: e.name.clone(), status });
        }
        Ok(CheckReport { patches })
    }

    /// Applies patches (quilt push), all or nothing.
    pub fn push(&mut self, target: Target, rep: &dyn Reporter) -> Result<PushReport, PatchError> {
        let start = self.applied.len();
        let end = match &target {
            Target::All => self.series.len(),
            Target::Next => (start + 1).min(self.series.len()),
            Target::To(name) => match self.series.iter().position(|e| &e.name == name) {
                None => return Err(self.unknown(name)),
                Some(i) if i < start => {
                    return Err(PatchError::WrongState { name: name.clone(), state: "already applied" });
                }
                Some(i) => i + 1,
            },
        };
        let mut report =
            PushReport { applied: Vec::new(), files_changed: 0, recovered: self.recovered.clone() };
        if start == end {
            rep.note("no patch to push: the series is fully applied");
            return Ok(report);
        }
        let step = rep.step(&format!("push {} patch(es)", end - start));
        let mut ov = Overlay::new(&self.root);
        let mut pc_writes: Vec<Write> = Vec::new();
        let pc_exists = self.pc.is_dir();
        // Tree file -> the backup its original inode moves to (its first backup in this push).
        let mut moved: HashMap<Vec<u8>, PathBuf> = HashMap::new();
        let mut backed_up = std::collections::HashSet::new();
        for e in &self.series[start..end] {
            let bytes = self.read_patch(&e.name)?;
            let done = engine::apply_patch(&mut ov, &bytes, e.strip).map_err(|f| self.error(&e.name, f))?;
            let dir = self.pc_rel(&e.name);
            // A `.pc/<patch>` left from elsewhere: its files are read and journaled as they are.
            let fresh = !pc_exists || std::fs::symlink_metadata(self.pc.join(&e.name)).is_err();
            let empty = || FileState::new(Vec::new(), 0o644);
            for (path, before) in done.backups {
                let backup = dir.join(tree::rel_path(&path));
                let first = backed_up.insert(path.clone());
                // quilt's backups: the original itself (moved, as GNU patch --backup does),
                // the state left by the patches below, or an empty file for a new one.
                match before {
                    Some(_) if first && fresh => {
                        pc_writes.push(Write {
                            path: backup.clone(),
                            op: Op::MoveFrom(tree::rel_path(&path).to_path_buf()),
                            before: Before::Absent,
                        });
                        moved.insert(path, backup);
                    }
                    st if fresh => pc_writes.push(Write::fresh(backup, st.unwrap_or_else(empty))),
                    st => pc_writes.push(Write::set(backup, Some(st.unwrap_or_else(empty)))),
                }
            }
            let stamp = dir.join(".timestamp");
            pc_writes.push(if fresh {
                Write::fresh(stamp, empty())
            } else {
                Write::set(stamp, Some(empty()))
            });
            report.applied.push(PushedPatch { name: e.name.clone(), offsets: done.offsets });
        }
        let mut writes = pc_writes;
        let changes = ov.changes();
        report.files_changed = changes.len();
        for (path, before, after) in &changes {
            let before = match (moved.remove(*path), before) {
                (Some(b), _) => Before::MovedTo(b),
                (None, None) => Before::Absent,
                (None, Some(_)) => Before::Read,
            };
            let path = tree::rel_path(path).to_path_buf();
            writes.push(Write { path, op: Op::Set(after.cloned()), before });
        }
        // A moved original whose file ends as it began (patches that cancel out) comes back
        // as a new file all the same.
        let mut unchanged: Vec<_> = moved.into_iter().collect();
        unchanged.sort();
        for (path, b) in unchanged {
            let after = ov.peek(&path).flatten().cloned();
            let path = tree::rel_path(&path).to_path_buf();
            writes.push(Write { path, op: Op::Set(after), before: Before::MovedTo(b) });
        }
        writes.extend(self.pc_metadata()?);
        let names: Vec<String> = self.series[..end].iter().map(|e| e.name.clone()).collect();
        writes.push(self.applied_write(&names));
        journal::execute(
            &self.root,
            &self.pc,
            &format!("srukit patches push ({} patches)", end - start),
            &writes,
        )?;
        self.applied = names;
        step.finish("ok");
        Ok(report)
    }

    /// Removes patches (quilt pop), all or nothing; refuses when a patched file changed
    /// since the push (the patch applied to the backups must give the files as they are).
    pub fn pop(&mut self, target: Target, rep: &dyn Reporter) -> Result<PopReport, PatchError> {
        let top = self.applied.len();
        let keep = match &target {
            Target::All => 0,
            Target::Next => top.saturating_sub(1),
            Target::To(name) => match self.applied.iter().position(|n| n == name) {
                Some(i) => i + 1,
                None if self.series.iter().any(|e| &e.name == name) => {
                    return Err(PatchError::WrongState { name: name.clone(), state: "not applied" });
                }
                None => return Err(self.unknown(name)),
            },
        };
        let mut report =
            PopReport { removed: Vec::new(), files_changed: 0, recovered: self.recovered.clone() };
        if keep == top {
            rep.note("no patch to pop");
            return Ok(report);
        }
        let step = rep.step(&format!("pop {} patch(es)", top - keep));
        let mut ov = Overlay::new(&self.root);
        let mut pc_writes = Vec::new();
        for i in (keep..top).rev() {
            let e = &self.series[i];
            let dir = self.pc.join(&e.name);
            if !dir.is_dir() {
                return Err(PatchError::State {
                    path: dir,
                    reason: "applied patch has no backup directory".into(),
                });
            }
            let backups = read_backups(&dir)?;
            self.verify_pushed(e, &backups, &mut ov)?;
            for (path, before) in &backups {
                ov.set(path, before.clone()).map_err(|p| self.error(&e.name, path_failure(path, p)))?;
            }
            for f in walk_files(&dir)? {
                pc_writes.push(Write::set(f.strip_prefix(&self.root).unwrap_or(&f).to_path_buf(), None));
            }
            report.removed.push(e.name.clone());
        }
        let mut writes = Vec::new();
        let changes = ov.changes();
        report.files_changed = changes.len();
        for (path, _, after) in changes {
            writes.push(Write::set(tree::rel_path(path).to_path_buf(), after.cloned()));
        }
        writes.extend(pc_writes);
        let names: Vec<String> = self.applied[..keep].to_vec();
        writes.push(self.applied_write(&names));
        journal::execute(
            &self.root,
            &self.pc,
            &format!("srukit patches pop ({} patches)", top - keep),
            &writes,
        )?;
        self.applied = names;
        step.finish("ok");
        Ok(report)
    }

    /// Pushing the patch onto its backups must give the files as they are now.
    fn verify_pushed(
        &self,
        e: &SeriesEntry,
        backups: &BTreeMap<Vec<u8>, Option<FileState>>,
        ov: &mut Overlay,
    ) -> Result<(), PatchError> {
        let bytes = self.read_patch(&e.name)?;
        let mut before = Overlay::new(&self.root);
        for (path, st) in backups {
            before.preset(path, st.clone());
        }
        engine::apply_patch(&mut before, &bytes, e.strip).map_err(|f| self.error(&e.name, f))?;
        for path in backups.keys() {
            let expected = before.peek(path).flatten().map(|s| &s.data);
            let now = ov.get(path).map_err(|p| self.error(&e.name, path_failure(path, p)))?.map(|s| &s.data);
            if expected != now {
                return Err(PatchError::LocalChanges {
                    patch: self.patch_path(&e.name),
                    file: String::from_utf8_lossy(path).into_owned(),
                });
            }
        }
        Ok(())
    }

    fn unknown(&self, name: &str) -> PatchError {
        PatchError::UnknownPatch { name: name.to_string(), series: self.patches.join(&self.series_name) }
    }

    /// `.pc/<patch>` relative to the tree root.
    fn pc_rel(&self, name: &str) -> PathBuf {
        self.pc.strip_prefix(&self.root).unwrap_or(&self.pc).join(name)
    }

    fn pc_file(&self, name: &str) -> PathBuf {
        self.pc.strip_prefix(&self.root).unwrap_or(&self.pc).join(name)
    }

    /// quilt's `.version`, `.quilt_patches`, `.quilt_series`, written when missing.
    fn pc_metadata(&self) -> Result<Vec<Write>, PatchError> {
        let mut w = Vec::new();
        for (file, text) in [
            (".version", "2\n".to_string()),
            (".quilt_patches", format!("{}\n", self.patches_rel)),
            (".quilt_series", format!("{}\n", self.series_name)),
        ] {
            if !self.pc.join(file).exists() {
                let state = FileState::new(text.into_bytes(), 0o644);
                w.push(Write::fresh(self.pc_file(file), state));
            }
        }
        Ok(w)
    }

    /// `applied-patches`, or its removal when nothing stays applied (as quilt pop -a does).
    fn applied_write(&self, names: &[String]) -> Write {
        let state = (!names.is_empty()).then(|| {
            FileState::new(names.iter().flat_map(|n| format!("{n}\n").into_bytes()).collect(), 0o644)
        });
        Write::set(self.pc_file("applied-patches"), state)
    }
}

fn path_failure(path: &[u8], p: tree::PathProblem) -> Failure {
    match p {
        tree::PathProblem::Unsafe(reason) => {
            Failure::Unsafe { line: 0, file: String::from_utf8_lossy(path).into_owned(), reason }
        }
        tree::PathProblem::Io(e) => Failure::Io(e),
    }
}

fn walk_files(dir: &Path) -> Result<Vec<PathBuf>, PatchError> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(dir).follow_links(false) {
        let entry = entry.map_err(|e| FsError {
            op: "walk",
            path: dir.to_path_buf(),
            source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk error")),
        })?;
        if !entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    Ok(out)
}

/// The backups quilt (or srukit) keeps for an applied patch: path -> old state, where an
/// empty backup means the file did not exist (quilt's backup-files rule).
fn read_backups(dir: &Path) -> Result<BTreeMap<Vec<u8>, Option<FileState>>, PatchError> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = BTreeMap::new();
    for f in walk_files(dir)? {
        let rel = f.strip_prefix(dir).expect("below its root");
        if rel == Path::new(".timestamp") {
            continue;
        }
        let st = tree::read_state(&f)?;
        out.insert(rel.as_os_str().as_bytes().to_vec(), st.filter(|s| !s.data.is_empty()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
