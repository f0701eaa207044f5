//! What `check`, `push` and `pop` report: serde structs, rendered as text or JSON at the edge.

use serde::Serialize;

use super::engine::FileOffset;

/// Where a failing hunk would match, and with how much fuzz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nearest {
    pub line: usize,
    pub fuzz: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum PatchStatus {
    Ok,
    Offsets {
        hunks: Vec<FileOffset>,
    },
    /// `hunk` is 0 when the file itself is in the wrong state (missing, already there).
    Fails {
        file: String,
        hunk: usize,
        patch_line: usize,
        reason: String,
        nearest: Option<Nearest>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct PatchCheck {
    pub name: String,
    #[serde(flatten)]
    pub status: PatchStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub patches: Vec<PatchCheck>,
}

impl CheckReport {
    pub fn all_apply(&self) -> bool {
        self.patches.iter().all(|p| !matches!(p.status, PatchStatus::Fails { .. }))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PushedPatch {
    pub name: String,
    pub offsets: Vec<FileOffset>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PushReport {
    pub applied: Vec<PushedPatch>,
    pub files_changed: usize,
    /// An interrupted operation rolled back before this one, if any.
    pub recovered: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PopReport {
    pub removed: Vec<String>,
    pub files_changed: usize,
    pub recovered: Option<String>,
}
