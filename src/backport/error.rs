//! The one error type of `srukit backport`: what went wrong, with the repository, commit,
//! path or state file it concerns.

use std::path::PathBuf;

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
pub enum BackportError {
    #[error("{what} in {repo}: {source}")]
    Git {
        what: String,
        repo: String,
        #[source]
        source: git2::Error,
    },
    #[error("could not clone {url} into {}: {source}", dest.display())]
    Clone {
        url: String,
        dest: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{repo} has no commit {rev}")]
    NoSuchCommit { repo: String, rev: String },
    #[error("commit {commit} is a merge ({parents} parents): pick one of its parents' commits instead")]
    MergeCommit { commit: String, parents: usize },
    #[error(
        "no tag for upstream version {version} (from {}) in {repo}; tried {}. Pass --onto REF",
        changelog.display(), tried.join(", ")
    )]
    NoOntoTag { version: String, changelog: PathBuf, repo: String, tried: Vec<String> },
    #[error("{}: {msg}", changelog.display())]
    Changelog { changelog: PathBuf, msg: String },
    #[error(
        "commit {commit} changes binary file {path}: srukit exports text patches only (drop it with --exclude)"
    )]
    Binary { commit: String, path: String },
    #[error(
        "commit {commit} changes submodule {path}: a source package patch cannot carry it (drop it with --exclude)"
    )]
    Submodule { commit: String, path: String },
    #[error("the picked commit {commit} changes nothing on {onto} (already applied, or everything excluded)")]
    Empty { commit: String, onto: String },
    #[error("{}:{line}: conflict markers remain; resolve them, then run --continue again", path.display())]
    MarkersRemain { path: PathBuf, line: usize },
    #[error("{}: {msg}", path.display())]
    State { path: PathBuf, msg: String },
    #[error("{}: {msg}", path.display())]
    Manifest { path: PathBuf, msg: String },
    #[error("bad --exclude pattern {pattern:?}: {msg}")]
    BadGlob { pattern: String, msg: String },
}

impl ExitCodeOf for BackportError {
    fn exit(&self) -> Exit {
        match self {
            BackportError::Git { .. } | BackportError::Clone { .. } => Exit::CouldNotRun,
            BackportError::Empty { .. } | BackportError::MarkersRemain { .. } => Exit::NotTrue,
            _ => Exit::BadInput,
        }
    }
}

pub type Result<T> = std::result::Result<T, BackportError>;

/// Wraps a git2 error with what we were doing and in which repository.
pub(crate) trait GitContext<T> {
    fn git(self, what: impl FnOnce() -> String, repo: &str) -> Result<T>;
}

impl<T> GitContext<T> for std::result::Result<T, git2::Error> {
    fn git(self, what: impl FnOnce() -> String, repo: &str) -> Result<T> {
        self.map_err(|source| BackportError::Git { what: what(), repo: repo.to_string(), source })
    }
}
