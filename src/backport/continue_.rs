//! The work dir of a conflicted pick and `srukit backport --continue WORKDIR`.
//!
//! Layout: `state.json` (the request and the pick, so the merge can be redone exactly),
//! `files/<path>` (each conflicted file with standard markers, for the user to resolve),
//! `upstream.patch` (the commit's own change, for reference). `--continue` redoes the
//! in-memory merge, takes each conflicted path from `files/` (a deleted file means "leave
//! it out"), refuses while markers remain, and exports the result as `Origin: backport`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cherry_pick::{self, Conflict, Merged, Pick};
use super::command::{self, Exported, Request};
use super::error::{BackportError, Result};
use super::upstream::Upstream;

/// Bumped when the layout changes, so an old work dir is refused rather than misread.
const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub request: Request,
    /// The repository on disk (the cache clone for a URL), so --continue needs no network.
    pub repo_path: PathBuf,
    pub commit: String,
    pub onto: String,
    pub onto_label: String,
    pub conflicts: Vec<StateConflict>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct StateConflict {
    pub path: String,
    pub kind: String,
    pub mode: u32,
}

fn state_err(path: &Path, e: impl std::fmt::Display) -> BackportError {
    BackportError::State { path: path.to_path_buf(), msg: e.to_string() }
}

pub fn write_workdir(
    workdir: &Path,
    req: &Request,
    up: &Upstream,
    pick: &Pick,
    conflicts: &[Conflict],
    upstream_diff: &[u8],
) -> Result<()> {
    let fs = |e: crate::fsx::FsError| state_err(&e.path.clone(), e);
    let files = workdir.join("files");
    // A work dir from an earlier attempt at the same pick is replaced whole.
    crate::fsx::remove_dir_all(&files).map_err(fs)?;
    crate::fsx::create_dir_all(&files).map_err(fs)?;
    for c in conflicts {
        let dest = files.join(&c.path);
        if let Some(parent) = dest.parent() {
            crate::fsx::create_dir_all(parent).map_err(fs)?;
        }
        crate::fsx::write(&dest, &c.content).map_err(fs)?;
    }
    crate::fsx::write(&workdir.join("upstream.patch"), upstream_diff).map_err(fs)?;
    let mut request = req.clone();
    request.workdir = Some(workdir.to_path_buf());
    let abs = |p: &Path| crate::fsx::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let state = State {
        version: STATE_VERSION,
        request,
        repo_path: abs(&up.path),
        commit: pick.commit.to_string(),
        onto: pick.onto.to_string(),
        onto_label: pick.onto_label.clone(),
        conflicts: conflicts
            .iter()
            .map(|c| StateConflict { path: c.path.clone(), kind: c.kind.clone(), mode: c.mode })
            .collect(),
    };
    let json = serde_json::to_vec_pretty(&state).map_err(|e| state_err(workdir, e))?;
    crate::fsx::write_atomic(&workdir.join("state.json"), json).map_err(fs)
}

pub fn read_state(workdir: &Path) -> Result<State> {
    let path = workdir.join("state.json");
    let bytes = crate::fsx::read(&path).map_err(|e| state_err(&path, e))?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| state_err(&path, e))?;
    if state.version != STATE_VERSION {
        return Err(state_err(
            &path,
            format!("work dir format {} (this srukit reads {STATE_VERSION})", state.version),
        ));
    }
    Ok(state)
}

/// Exports the user's resolution of a conflicted pick.
pub fn continue_backport(workdir: &Path) -> Result<Exported> {
    let state = read_state(workdir)?;
    let up = Upstream::open_at(&state.repo_path, &state.request.upstream)?;
    let parse = |s: &str| git2::Oid::from_str(s).map_err(|e| state_err(&workdir.join("state.json"), e));
    let pick = Pick {
        commit: parse(&state.commit)?,
        onto: parse(&state.onto)?,
        onto_label: state.onto_label.clone(),
        excludes: state.request.excludes.clone(),
    };
    let mut resolved = Vec::new();
    for c in &state.conflicts {
        let file = workdir.join("files").join(&c.path);
        match crate::fsx::read_optional(&file).map_err(|e| state_err(&file, e))? {
            None => resolved.push((c.path.clone(), None)),
            Some(bytes) => {
                if let Some(line) = cherry_pick::first_marker(&bytes) {
                    return Err(BackportError::MarkersRemain { path: file, line });
                }
                resolved.push((c.path.clone(), Some((bytes, c.mode))));
            }
        }
    }
    let result = cherry_pick::pick(&up, &pick)?;
    let tree = match result.merged {
        Merged::Conflicts { mut index, .. } => cherry_pick::resolve(&up, &mut index, &resolved)?,
        // The merge is deterministic; clean now means the upstream repository changed.
        Merged::Clean { tree } => tree,
    };
    command::export_tree(&up, &state.request, &pick, tree, &result.upstream_files, &result.dropped, true)
}
