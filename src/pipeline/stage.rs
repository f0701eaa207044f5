//! Stage bookkeeping for `srukit run`: each stage owns one directory under the run's output
//! dir with a `stage.json` naming the hash of its inputs, so a rerun skips a stage whose
//! inputs have not changed and `--from` resumes without redoing earlier stages.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsx::{self, FsError};

/// The pipeline's stages, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Resolve,
    BuildBefore,
    Apply,
    BuildAfter,
    Verify,
    Report,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Resolve => "resolve",
            Stage::BuildBefore => "build-before",
            Stage::Apply => "apply",
            Stage::BuildAfter => "build-after",
            Stage::Verify => "verify",
            Stage::Report => "report",
        }
    }

    pub fn dir(self, out: &Path) -> PathBuf {
        out.join(self.name())
    }
}

/// What a finished stage leaves in `<stage dir>/stage.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub stage: Stage,
    pub inputs: String,
    pub finished: String,
    pub seconds: f64,
    pub summary: serde_json::Value,
}

pub fn record_path(dir: &Path) -> PathBuf {
    dir.join("stage.json")
}

/// The record of a finished stage, if it ran to the end with these inputs.
pub fn finished_with(dir: &Path, inputs: &str) -> Option<Record> {
    let bytes = fsx::read_optional(&record_path(dir)).ok().flatten()?;
    let rec: Record = serde_json::from_slice(&bytes).ok()?;
    (rec.inputs == inputs).then_some(rec)
}

pub fn write_record(dir: &Path, rec: &Record) -> Result<(), FsError> {
    let json = serde_json::to_vec_pretty(rec).expect("a record serializes");
    fsx::write_atomic(&record_path(dir), json)
}

/// Hashes inputs: named parts, each a string, a file or a tree.
#[derive(Default)]
pub struct InputHash(Sha256);

impl InputHash {
    pub fn text(mut self, label: &str, value: &str) -> Self {
        self.0.update(format!("{label}\0{}\0{value}\0", value.len()));
        self
    }

    pub fn file(mut self, label: &str, path: &Path) -> Result<Self, FsError> {
        let bytes = fsx::read(path)?;
        self.0.update(format!("{label}\0{}\0", bytes.len()));
        self.0.update(&bytes);
        Ok(self)
    }

    /// Every file, symlink and executable bit below `root`, in a stable order; `.pc/` and
    /// `.git/` are state, not inputs.
    pub fn tree(mut self, label: &str, root: &Path) -> Result<Self, FsError> {
        use std::os::unix::fs::PermissionsExt;
        self.0.update(format!("{label}\0tree\0"));
        let walk = walkdir::WalkDir::new(root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() != 1 || (e.file_name() != ".pc" && e.file_name() != ".git"));
        for entry in walk {
            let entry = entry.map_err(|e| FsError {
                op: "walk",
                path: e.path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf()),
                source: e.into_io_error().unwrap_or_else(|| std::io::Error::other("walk error")),
            })?;
            let rel = entry.path().strip_prefix(root).expect("below root").to_string_lossy().into_owned();
            let ft = entry.file_type();
            if ft.is_symlink() {
                let target = std::fs::read_link(entry.path()).map_err(|source| FsError {
                    op: "read link",
                    path: entry.path().into(),
                    source,
                })?;
                self.0.update(format!("L\0{rel}\0{}\0", target.display()));
            } else if ft.is_file() {
                let mode = fsx::metadata(entry.path())?.permissions().mode() & 0o111;
                let bytes = fsx::read(entry.path())?;
                self.0.update(format!("F\0{rel}\0{mode:o}\0{}\0", bytes.len()));
                self.0.update(&bytes);
            } else if ft.is_dir() {
                self.0.update(format!("D\0{rel}\0"));
            }
        }
        Ok(self)
    }

    pub fn finish(self) -> String {
        crate::digest::hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_hash_follows_contents_modes_and_names_but_not_quilt_state() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        std::fs::create_dir_all(t.join("debian")).unwrap();
        std::fs::write(t.join("debian/rules"), "a").unwrap();
        let h = || InputHash::default().tree("t", t).unwrap().finish();
        let first = h();
        std::fs::create_dir_all(t.join(".pc")).unwrap();
        std::fs::write(t.join(".pc/applied-patches"), "x").unwrap();
        assert_eq!(h(), first, ".pc is state");
        std::fs::write(t.join("debian/rules"), "b").unwrap();
        let changed = h();
        assert_ne!(changed, first);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(t.join("debian/rules"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(h(), changed, "the executable bit is an input");
    }

    #[test]
    fn records_match_only_their_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Record {
            stage: Stage::Apply,
            inputs: "abc".into(),
            finished: "now".into(),
            seconds: 1.0,
            summary: serde_json::Value::Null,
        };
        write_record(dir.path(), &rec).unwrap();
        assert!(finished_with(dir.path(), "abc").is_some());
        assert!(finished_with(dir.path(), "abd").is_none());
        assert!(Stage::Resolve < Stage::Report);
    }
}
