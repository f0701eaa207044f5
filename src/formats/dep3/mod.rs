//! DEP-3 patch headers (https://dep-team.pages.debian.net/deps/dep3/): reading the header of
//! a patch file (fields, continuation lines, free text, git format-patch mail headers),
//! checking it, and writing one.
//!
//! In-house on purpose: the dep3 crate rejects valid free text and git format-patch headers
//! and duplicates Last-Update when it writes.

mod check;
mod write;

pub use check::check;
pub use write::Dep3Header;

use serde::Serialize;

/// A header field, its value as the lines after `Name:` (continuation lines unfolded one
/// per line; DEP-3 keeps newlines meaningful, and ` .` is an empty line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    /// 1-based line of `Name:` in the patch file.
    pub line: usize,
}

/// What precedes the diff in a patch file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PatchHeader {
    pub fields: Vec<Field>,
    /// Free-form paragraphs (DEP-3: supplementary lines of the long description), with
    /// their first line number.
    pub free_text: Vec<(usize, String)>,
    /// The file is `git format-patch` output (`From <sha> ...`, mail headers).
    pub git_format: bool,
    /// 1-based line where the diff starts; None when the file holds no diff.
    pub diff_line: Option<usize>,
    /// Lines that are neither a field, a continuation, nor free text where a field was due.
    pub stray_lines: Vec<(usize, String)>,
    /// How many of `free_text`'s paragraphs come before the header (prose such as
    /// `Backport of:` above a git format-patch).
    pub preamble: usize,
}

/// One problem `check` found, at a 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl PatchHeader {
    /// The first field of that name (case-insensitive, as in RFC 2822).
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The short description: Description's (or a git Subject's) first line.
    pub fn summary(&self) -> Option<&str> {
        self.field("Description").or_else(|| self.field("Subject")).and_then(|f| f.value.lines().next())
    }
}

/// Where the diff starts: `diff ...`, `Index: ...`, or a `--- ` line followed by `+++ `
/// (what patch(1) and dpkg-source recognise).
fn diff_start(lines: &[&str]) -> Option<usize> {
    lines.iter().enumerate().position(|(i, l)| {
        l.starts_with("diff ")
            || l.starts_with("Index: ")
            || (l.starts_with("--- ") && lines.get(i + 1).is_some_and(|n| n.starts_with("+++ ")))
    })
}

fn field_line(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && (value.is_empty() || value.starts_with([' ', '\t']));
    ok.then(|| (name, value.trim()))
}

fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t']) && !line.trim().is_empty()
}

/// Reads the header of a patch file. Tolerant: anything odd is kept for `check` to report.
pub fn parse(bytes: &[u8]) -> PatchHeader {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let diff = diff_start(&lines);
    let mut head = PatchHeader { diff_line: diff.map(|i| i + 1), ..Default::default() };
    let end = diff.unwrap_or(lines.len());
    // Prose may come first ("Backport of:", a note on what was changed): the header starts
    // at the first paragraph whose first line is a field or a git mail header, as the tools
    // that write such patches (git format-patch under a note, dch-era vendor headers) intend.
    let mut i = 0;
    while i < end && lines[i].trim_end() != "---" {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        while i < end && !lines[i].trim().is_empty() && lines[i].trim_end() != "---" {
            i += 1;
        }
        let para = &lines[start..i];
        let first = para.iter().find(|l| !l.starts_with('#')).copied().unwrap_or("");
        if is_mbox_from(first) || field_line(first).is_some() {
            i = start;
            break;
        }
        head.free_text.push((start + 1, para.join("\n")));
        head.preamble += 1;
    }
    // git format-patch: `From <sha1> Mon Sep 17 00:00:00 2001`, then mail headers.
    if i < end && is_mbox_from(lines[i]) {
        head.git_format = true;
        i += 1;
        while i < end && !lines[i].trim().is_empty() {
            if let Some((name, value)) = field_line(lines[i]) {
                let mut value = value.to_string();
                let line = i + 1;
                // Mail headers fold with a space, not a newline (RFC 2822 2.2.3).
                while i + 1 < end && is_continuation(lines[i + 1]) {
                    i += 1;
                    value.push(' ');
                    value.push_str(lines[i].trim());
                }
                head.fields.push(Field { name: name.to_string(), value, line });
            }
            i += 1;
        }
    }
    let mut first_paragraph = !head.git_format;
    while i < end {
        // A line of three dashes ends the meta-information (DEP-3 "Structure").
        if lines[i].trim_end() == "---" {
            break;
        }
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        let mut para = Vec::new();
        while i < end && !lines[i].trim().is_empty() && lines[i].trim_end() != "---" {
            para.push(lines[i]);
            i += 1;
        }
        // The first paragraph is the header; a later one is a second set of fields
        // (pseudo-headers) when every line is a field or a continuation, free text otherwise
        // (prose like "SNI: added restriction..." starts like a field).
        let all_fields = field_line(para[0]).is_some()
            && para.iter().all(|l| field_line(l).is_some() || is_continuation(l) || l.starts_with('#'));
        if first_paragraph || all_fields {
            read_fields(&para, start, &mut head);
        } else {
            head.free_text.push((start + 1, para.join("\n")));
        }
        first_paragraph = false;
    }
    if head.git_format {
        for f in head.fields.iter_mut().filter(|f| f.name.eq_ignore_ascii_case("Subject")) {
            f.value = strip_patch_tag(&f.value).to_string();
        }
    }
    head
}

/// The line git writes before a commit's headers: `From <sha1> Mon Sep 17 00:00:00 2001`
/// (format-patch's mbox separator) or `commit <sha1>` (git show / git log).
fn is_mbox_from(line: &str) -> bool {
    line.strip_prefix("From ")
        .or_else(|| line.strip_prefix("commit "))
        .and_then(|r| r.split(' ').next())
        .is_some_and(|sha| sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn read_fields(para: &[&str], start: usize, head: &mut PatchHeader) {
    let mut current: Option<Field> = None;
    for (k, l) in para.iter().enumerate() {
        let line = start + k + 1;
        // `# ` lines: dpatch-style or `hg export` comments, not meta-information.
        if l.starts_with('#') {
            continue;
        }
        if is_mbox_from(l) {
            // Fields put above a git format-patch (seen in Debian's nginx): the mail headers
            // that follow are fields too.
            head.git_format = true;
            continue;
        }
        if is_continuation(l) {
            match current.as_mut() {
                Some(f) => {
                    let t = l.trim();
                    f.value.push('\n');
                    f.value.push_str(if t == "." { "" } else { t });
                }
                None => head.stray_lines.push((line, l.to_string())),
            }
        } else if let Some((name, value)) = field_line(l) {
            head.fields.extend(current.take());
            current = Some(Field { name: name.to_string(), value: value.to_string(), line });
        } else if k == 0 {
            // A first paragraph that is prose, not fields: DEP-3 asks parsers to accept it as
            // the description; `check` still reports the missing fields.
            head.free_text.push((line, para.join("\n")));
            return;
        } else {
            head.stray_lines.push((line, l.to_string()));
        }
    }
    head.fields.extend(current);
}

fn strip_patch_tag(subject: &str) -> &str {
    match subject.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((tag, rest)) if tag.to_ascii_uppercase().contains("PATCH") => rest.trim_start(),
        _ => subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal diff after a header; shared with `check`'s tests.
    pub(super) const DIFF: &str = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

    /// `check`'s problems as (line, message); shared with `check`'s tests.
    pub(super) fn problems(text: &str) -> Vec<(usize, String)> {
        check(text.as_bytes()).into_iter().map(|p| (p.line, p.message)).collect()
    }

    #[test]
    fn good_headers_have_no_problems() {
        let cases = [
            // Multi-line Description, free text, vendor bug field.
            format!(
                "Description: Enable iscsi_write_cache\n The long part.\n .\n More.\nOrigin: upstream, \
                 https://opendev.org/openstack/cinder/commit/617e59b\nBug-Launchpad: \
                 https://bugs.launchpad.net/cinder/+bug/1336568\nBug-Ubuntu: https://launchpad.net/bugs/1336568\n\
                 Forwarded: not-needed\nLast-Update: 2014-10-02\n\nSome free text.\n---\n{DIFF}"
            ),
            // A vendor patch: Author instead of Origin; Subject instead of Description.
            format!("Subject: fix the thing\nAuthor: A <a@b>\n\n{DIFF}"),
            // git format-patch.
            format!(
                "From 617e59bde660f919df0818611b911ae35f8b7247 Mon Sep 17 00:00:00 2001\nFrom: A U Thor \
                 <a@example.org>\nDate: Thu, 2 Oct 2014 10:11:12 +0000\nSubject: [PATCH] Configure write\n \
                 cache option\n\nBody text.\n\nBug: https://bugs.launchpad.net/bugs/1\n---\n f | 2 +-\n\n\
                 diff --git a/f b/f\n{DIFF}"
            ),
        ];
        for c in &cases {
            assert_eq!(problems(c), vec![], "{c}");
        }
        let head = parse(cases[2].as_bytes());
        assert!(head.git_format);
        assert_eq!(head.summary(), Some("Configure write cache option"));
        assert_eq!(head.field("bug").map(|f| f.line), Some(9));
        let head = parse(cases[0].as_bytes());
        assert_eq!(
            head.field("Description").unwrap().value,
            "Enable iscsi_write_cache\nThe long part.\n\nMore."
        );
        assert_eq!(head.free_text, vec![(11, "Some free text.".to_string())]);
    }

    /// Ubuntu and Debian security patches: a note, then a whole git format-patch header.
    #[test]
    fn header_after_prose() {
        let backport = format!(
            "Backport of:\n\nFrom 617e59bde660f919df0818611b911ae35f8b7247 Mon Sep 17 00:00:00 2001\nFrom: A \
             <a@b>\nDate: Thu, 2 Oct 2014 10:11:12 +0000\nSubject: [PATCH] Fix the\n overflow\n\nBody.\n---\n{DIFF}"
        );
        assert_eq!(problems(&backport), vec![]);
        let head = parse(backport.as_bytes());
        assert!(head.git_format);
        assert_eq!(head.summary(), Some("Fix the overflow"));
        assert_eq!(head.field("From").map(|f| f.line), Some(4));
        assert_eq!((head.preamble, head.free_text[0].clone()), (1, (1, "Backport of:".to_string())));
        // Prose paragraphs, then DEP-3 fields; `# ` comment lines above fields are no prose.
        let fields =
            format!("Fixed in 1.2.\nApplies to 1.1 too.\n\n# hg\nDescription: x\nOrigin: vendor\n\n{DIFF}");
        assert_eq!(problems(&fields), vec![]);
        assert_eq!(parse(fields.as_bytes()).field("Origin").map(|f| f.line), Some(6));
        // No header at all (seen in Debian 12's memcached update): reported, at line 1.
        let headerless = problems(DIFF);
        assert_eq!(headerless.first().map(|p| p.0), Some(1), "{headerless:?}");
        // Prose straight after a field (memcached again): the stray line is reported.
        let run_on = format!("Subject: [PATCH] Fix timing\n  in auth\nasl_server_userdb broke out\n\n{DIFF}");
        let got = problems(&run_on);
        assert!(got.iter().any(|(l, m)| *l == 3 && m.contains("neither a field")), "{got:?}");
    }
}
