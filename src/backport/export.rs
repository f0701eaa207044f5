//! A picked change as a quilt patch: the DEP-3 header built from the upstream commit, the
//! diff, and the file name (`<slug>.patch`, the subject sanitised as `git format-patch`
//! does). Writes `patches/<name>/<slug>.patch`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{BackportError, Result};
use super::trailers::Message;
use crate::formats::dep3::Dep3Header;

/// DEP-3 `Origin`: `upstream` when the patch is upstream's own change, `backport` when it
/// had to change to apply (a resolved conflict, moved hunks' context, dropped paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginKind {
    Upstream,
    Backport,
}

impl OriginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OriginKind::Upstream => "upstream",
            OriginKind::Backport => "backport",
        }
    }
}

/// What writing the patch file did: a re-run that changes nothing says so, and replacing a
/// patch the user may have edited is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileChange {
    Created,
    Replaced,
    Unchanged,
}

/// An exported patch before it is written: header fields in order, the diff, and what the
/// pick dropped.
#[derive(Debug, Clone, Serialize)]
pub struct BackportPatch {
    /// `(field, value)`; a multi-line value (Description) keeps its newlines.
    pub fields: Vec<(String, String)>,
    pub diff: Vec<u8>,
    pub dropped: Vec<String>,
    pub origin_kind: OriginKind,
    /// `<slug>.patch`.
    pub file_name: String,
}

/// What the header is built from.
pub struct HeaderInput<'a> {
    pub message: &'a Message,
    pub author: String,
    pub origin_kind: OriginKind,
    /// Where the commit is cited: `<web>/commit/<sha>` or `commit:<sha>`.
    pub commit_ref: String,
    /// The first upstream tag containing the commit.
    pub first_tag: Option<String>,
    pub dropped: &'a [String],
    pub today: String,
}

impl BackportPatch {
    pub fn new(input: &HeaderInput<'_>, diff: Vec<u8>) -> BackportPatch {
        let m = input.message;
        let mut fields = vec![
            ("Description".to_string(), m.description()),
            ("Author".to_string(), input.author.clone()),
            ("Origin".to_string(), format!("{}, {}", input.origin_kind.as_str(), input.commit_ref)),
        ];
        // DEP-3 Bug fields say which bugs the patch is about, closed or not: Partial-Bug
        // and Related-Bug are named here too; only the changelog closes bugs.
        for n in m.bugs.launchpad.iter().chain(&m.bugs.launchpad_related) {
            fields.push(("Bug-Launchpad".into(), format!("https://bugs.launchpad.net/bugs/{n}")));
        }
        for n in &m.bugs.debian {
            fields.push(("Bug-Debian".into(), format!("https://bugs.debian.org/{n}")));
        }
        for url in &m.bugs.forge {
            fields.push(("Bug".into(), url.clone()));
        }
        if !input.dropped.is_empty() {
            // DEP-3 allows extra fields; this one says what the patch leaves out of upstream's.
            fields.push(("Dropped-Upstream-Paths".into(), input.dropped.join(", ")));
        }
        let applied = input.first_tag.clone().unwrap_or_else(|| input.commit_ref.clone());
        fields.push(("Applied-Upstream".into(), applied));
        fields.push(("Last-Update".into(), input.today.clone()));
        BackportPatch {
            fields,
            diff,
            dropped: input.dropped.to_vec(),
            origin_kind: input.origin_kind,
            file_name: format!("{}.patch", slug(&m.subject)),
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The patch file: the DEP-3 header (formats::dep3's writer), a `---` line, the diff.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Pushed, not `set`: a commit may close several bugs, one Bug-* line each.
        Dep3Header { fields: self.fields.clone() }.patch_bytes(&self.diff)
    }

    /// Writes `<dir>/<file_name>` (atomically); says whether a file was there before.
    pub fn write(&self, dir: &Path) -> Result<(PathBuf, FileChange)> {
        let fs_err =
            |e: crate::fsx::FsError| BackportError::State { path: e.path.clone(), msg: e.to_string() };
        crate::fsx::create_dir_all(dir).map_err(fs_err)?;
        let path = dir.join(&self.file_name);
        let bytes = self.to_bytes();
        let change = match crate::fsx::read_optional(&path).map_err(fs_err)? {
            None => FileChange::Created,
            Some(old) if old == bytes => return Ok((path, FileChange::Unchanged)),
            Some(_) => FileChange::Replaced,
        };
        crate::fsx::write_atomic(&path, bytes).map_err(fs_err)?;
        Ok((path, change))
    }
}

/// The file-name part `git format-patch` makes of a subject: letters, digits, `.` and `_`
/// kept, every other run of characters one `-`, no `..`, no leading or trailing `.`/`-`,
/// at most 52 characters (git's 64 minus `0001-` and `.patch`).
pub fn slug(subject: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in subject.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            if c == '.' && out.ends_with('.') {
                continue;
            }
            out.push(c);
        } else {
            gap = true;
        }
    }
    let trim = |s: &str| s.trim_start_matches(['.', '-']).trim_end_matches(['.', '-']).to_string();
    let mut out = trim(&out);
    if out.len() > 52 {
        out.truncate(52);
        out = trim(&out);
    }
    if out.is_empty() { "backport".to_string() } else { out }
}

/// Today as DEP-3 `Last-Update` wants it (`YYYY-MM-DD`); `SOURCE_DATE_EPOCH` wins, for
/// reproducible output.
pub fn today() -> String {
    if let Some(secs) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse::<i64>().ok())
        && let Some(t) = chrono::DateTime::from_timestamp(secs, 0)
    {
        return t.format("%Y-%m-%d").to_string();
    }
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_like_format_patch() {
        let cases = [
            ("Add iscsi_write_cache option for tgtadm", "Add-iscsi_write_cache-option-for-tgtadm"),
            ("[PATCH] fix: crash (LP: #1)", "PATCH-fix-crash-LP-1"),
            ("...dots..and--dashes..", "dots.and-dashes"),
            ("héllo wörld", "h-llo-w-rld"),
            ("!!!", "backport"),
        ];
        for (s, want) in cases {
            assert_eq!(slug(s), want, "{s}");
        }
        let long = slug(&"word ".repeat(30));
        assert!(long.len() <= 52 && !long.ends_with('-'), "{long}");
    }

    #[test]
    fn header_renders_dep3() {
        let m = super::super::trailers::parse("Fix it\n\nLong text.\n\nSecond para.\n\nCloses-Bug: #5\n");
        let input = HeaderInput {
            message: &m,
            author: "A U Thor <a@example.org>".into(),
            origin_kind: OriginKind::Backport,
            commit_ref: "https://example.org/p/commit/abc".into(),
            first_tag: Some("v2.0".into()),
            dropped: &["tests/t.py".to_string()],
            today: "2026-11-25".into(),
        };
        let p = BackportPatch::new(&input, b"--- a/x\n+++ b/x\n".to_vec());
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert_eq!(
            text,
            "Description: Fix it\n .\n Long text.\n .\n Second para.\nAuthor: A U Thor <a@example.org>\n\
             Origin: backport, https://example.org/p/commit/abc\nBug-Launchpad: https://bugs.launchpad.net/bugs/5\n\
             Dropped-Upstream-Paths: tests/t.py\nApplied-Upstream: v2.0\nLast-Update: 2026-11-25\n---\n\
             --- a/x\n+++ b/x\n"
        );
        assert_eq!(p.file_name, "Fix-it.patch");
        assert_eq!(crate::formats::dep3::check(&p.to_bytes()), vec![], "srukit dep3 check accepts it");
    }
}
