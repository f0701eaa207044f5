//! DEP-3 patch headers (https://dep-team.pages.debian.net/deps/dep3/): reading the header of
//! a patch file (fields, continuation lines, free text, git format-patch mail headers),
//! checking it, and writing one.
//!
//! In-house on purpose: the dep3 crate rejects valid free text and git format-patch headers
//! and duplicates Last-Update when it writes.

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

/// Fields that appear at most once (a second Last-Update is the classic mistake).
const SINGLE: &[&str] = &["Description", "Subject", "Origin", "Forwarded", "Last-Update", "Applied-Upstream"];
const ORIGIN_CATEGORIES: &[&str] = &["upstream", "backport", "vendor", "other"];

fn is_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len() && !s.contains(' ')
}

/// Every problem in a patch's DEP-3 header, each at its line.
pub fn check(bytes: &[u8]) -> Vec<Problem> {
    let head = parse(bytes);
    let mut out = Vec::new();
    let mut p = |line, message: String| out.push(Problem { line, message });
    let first_line = head.fields.first().map_or(1, |f| f.line);
    for (line, text) in &head.stray_lines {
        p(*line, format!("neither a field nor a continuation line: `{}`", text.trim()));
    }
    if head.diff_line.is_none() {
        let lines = bytes.split(|b| *b == b'\n').count().max(1);
        p(lines, "no diff found (no `diff`, `Index:` or `---`/`+++` lines)".into());
    }
    match head.field("Description").or_else(|| head.field("Subject")) {
        None => p(first_line, "missing Description (or Subject)".into()),
        Some(f) if !f.value.trim().is_empty() && f.value.lines().next().unwrap_or("").trim().is_empty() => {
            p(f.line, format!("{} has no short description on its first line", f.name))
        }
        Some(_) => {}
    }
    if head.field("Origin").is_none() && head.field("Author").is_none() && head.field("From").is_none() {
        p(first_line, "missing Origin (or Author for a vendor patch)".into());
    }
    let mut seen: Vec<&str> = Vec::new();
    for f in &head.fields {
        let single = SINGLE.iter().find(|s| s.eq_ignore_ascii_case(&f.name));
        if let Some(s) = single {
            if seen.contains(s) {
                p(f.line, format!("duplicate {} field", f.name));
            }
            seen.push(s);
        }
        let v = f.value.trim();
        let name = f.name.to_ascii_lowercase();
        if v.is_empty() {
            p(f.line, format!("{} is empty", f.name));
            continue;
        }
        match name.as_str() {
            "origin" => {
                let rest = match v.split_once(", ") {
                    Some((cat, rest)) if ORIGIN_CATEGORIES.contains(&cat) => rest,
                    Some((cat, _)) => {
                        p(
                            f.line,
                            format!("Origin category `{cat}` is not one of {}", ORIGIN_CATEGORIES.join(", ")),
                        );
                        continue;
                    }
                    None if ORIGIN_CATEGORIES.contains(&v) => continue,
                    None => v,
                };
                let rest = rest.strip_prefix('<').and_then(|r| r.strip_suffix('>')).unwrap_or(rest);
                if !is_url(rest) && !rest.starts_with("commit:") {
                    p(f.line, format!("Origin `{rest}` is not a URL or `commit:<id>`"));
                }
            }
            // `no (Debian-specific)`: the keyword, then a comment (seen in Debian's tgt).
            "forwarded"
                if !["yes", "no", "not-needed"]
                    .contains(&v.split_whitespace().next().unwrap_or("").to_ascii_lowercase().as_str())
                    && !is_url(v.trim_start_matches('<').trim_end_matches('>')) =>
            {
                p(f.line, format!("Forwarded `{v}` is not `no`, `not-needed`, `yes` or a URL"));
            }
            n if (n == "bug" || n.starts_with("bug-")) && !is_url(v) => {
                p(f.line, format!("{} `{v}` is not a URL", f.name));
            }
            "last-update" => {
                let ok = v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
                if !ok {
                    p(f.line, format!("Last-Update `{v}` is not a date YYYY-MM-DD"));
                }
            }
            _ => {}
        }
    }
    out.sort_by_key(|p| p.line);
    out
}

/// A DEP-3 header to write, its fields in order. Values may span lines: the first line
/// follows `Name: `, the rest become continuation lines (an empty line becomes ` .`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dep3Header {
    pub fields: Vec<(String, String)>,
}

impl Dep3Header {
    pub fn new() -> Dep3Header {
        Dep3Header::default()
    }

    /// Appends a field, or replaces the value of an existing one (so a header never carries
    /// two Last-Update lines).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
        self
    }

    /// The header's fields as read from a patch (a git Subject becomes Description, From
    /// becomes Author, Date is dropped: Last-Update carries the date DEP-3 wants).
    pub fn from_parsed(head: &PatchHeader) -> Dep3Header {
        let mut h = Dep3Header::new();
        for f in &head.fields {
            let name = match (head.git_format, f.name.to_ascii_lowercase().as_str()) {
                (true, "subject") => "Description",
                (true, "from") => "Author",
                (true, "date") => continue,
                _ => f.name.as_str(),
            };
            h.set(name, f.value.clone());
        }
        h
    }

    /// The header lines, ending with a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for (name, value) in &self.fields {
            let mut lines = value.split('\n');
            s.push_str(name);
            s.push(':');
            if let Some(first) = lines.next().filter(|l| !l.is_empty()) {
                s.push(' ');
                s.push_str(first.trim_end());
            }
            s.push('\n');
            for l in lines {
                s.push(' ');
                s.push_str(if l.trim().is_empty() { "." } else { l.trim_end() });
                s.push('\n');
            }
        }
        s.into_bytes()
    }

    /// A whole patch file: this header, a `---` line (DEP-3: stops header parsing, so the
    /// diff can never be read as fields), then the diff.
    pub fn patch_bytes(&self, diff: &[u8]) -> Vec<u8> {
        let mut out = self.to_bytes();
        out.extend_from_slice(b"---\n");
        out.extend_from_slice(diff);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIFF: &str = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

    fn problems(text: &str) -> Vec<(usize, String)> {
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

    #[test]
    fn each_problem_is_reported_at_its_line() {
        let table: &[(&str, usize, &str)] = &[
            ("Origin: upstream, https://x.org/c/1\n\n", 1, "missing Description"),
            ("Description: x\n\n", 1, "missing Origin"),
            ("Description: x\nOrigin: vendor\nLast-Update: 2014-13-02\n", 3, "not a date"),
            (
                "Description: x\nOrigin: vendor\nLast-Update: 2014-10-02\nLast-Update: 2014-10-03\n",
                4,
                "duplicate Last-Update",
            ),
            ("Description: x\nOrigin: sideways, https://x.org\n", 2, "Origin category"),
            ("Description: x\nOrigin: somewhere\n", 2, "not a URL"),
            ("Description: x\nOrigin: vendor\nBug-Ubuntu: 1336568\n", 3, "Bug-Ubuntu `1336568` is not a URL"),
            ("Description: x\nOrigin: vendor\nForwarded: maybe\n", 3, "Forwarded `maybe`"),
            ("Description:\nOrigin: vendor\n", 1, "Description is empty"),
            ("Description: x\nOrigin: vendor\nthis line is prose\n", 3, "neither a field"),
        ];
        for &(head, line, msg) in table {
            let text = format!("{head}{DIFF}");
            let got = problems(&text);
            assert!(
                got.iter().any(|(l, m)| *l == line && m.contains(msg)),
                "{head:?}: want {line}: {msg}, got {got:?}"
            );
        }
        let got = problems("Description: x\nOrigin: vendor\n");
        assert_eq!(got, vec![(3, "no diff found (no `diff`, `Index:` or `---`/`+++` lines)".to_string())]);
    }

    /// Shapes seen in Debian 12's own patches (nginx, tgt, coreutils): regressions guarded.
    #[test]
    fn real_world_shapes() {
        // nginx: an Origin line above a git format-patch.
        let nginx = format!(
            "Origin: https://github.com/nginx/nginx/commit/524977e\nFrom 524977e7c534e87e5b55739fa74601c9f1102686 Mon \
             Sep 17 00:00:00 2001\nFrom: R A <r@nginx.com>\nDate: Wed, 22 Apr 2026 09:39:31 +0400\nSubject: [PATCH] \
             Rewrite: fixed escaping\n\nBody.\n---\n{DIFF}"
        );
        assert_eq!(problems(&nginx), vec![]);
        assert_eq!(parse(nginx.as_bytes()).summary(), Some("Rewrite: fixed escaping"));
        // tgt: a comment after the Forwarded keyword; nginx: an Origin URL in angle brackets.
        let tgt = format!(
            "Description: x\nOrigin: vendor, <https://x.org/r/1>\nForwarded: no (Debian-specific)\n\n{DIFF}"
        );
        assert_eq!(problems(&tgt), vec![]);
        // nginx: a second paragraph of prose that starts like a field; hg export comments.
        let prose = format!(
            "From: A <a@b>\nSubject: CVE-2025-23419\nOrigin: https://x.org/c/1\n\nSNI: added restriction.\nIn OpenSSL, \
             more prose.\n\n{DIFF}"
        );
        assert_eq!(problems(&prose), vec![]);
        let indented =
            format!("Description: x\nOrigin: vendor\n\nThe config:\n\n    location / {{\n    }}\n\n{DIFF}");
        assert_eq!(problems(&indented), vec![]);
        // tmux: `git show` output.
        let show = format!(
            "commit 0f6227f46b1d33476ef448682a2ba0b0290e6d9b\nAuthor: N M <n@m>\nDate:   Thu Jun 2 20:41:21 2022 +0000\n\n    \
             Complain if the buffer does not exist.\n\n{DIFF}"
        );
        assert_eq!(problems(&show), vec![(2, "missing Description (or Subject)".into())]);
        let hg = format!(
            "Origin: https://x.org/p\n# HG changeset patch\n# User Y Z <y@z>\nDescription: x\n\n{DIFF}"
        );
        assert_eq!(problems(&hg), vec![]);
        // coreutils: empty fields are reported once each.
        let empty = format!("Author: \nDescription: \nIndex: f\n===\n{DIFF}");
        assert_eq!(problems(&empty), vec![(1, "Author is empty".into()), (2, "Description is empty".into())]);
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

    #[test]
    fn writer_round_trips_through_the_reader() {
        let mut h = Dep3Header::new();
        h.set(
            "Description",
            "Enable iscsi_write_cache option for tgtadm backends\nLong text.\n\nSecond paragraph.",
        )
        .set("Origin", "upstream, https://opendev.org/openstack/cinder/commit/617e59b")
        .set("Bug-Launchpad", "https://bugs.launchpad.net/cinder/+bug/1336568")
        .set("Last-Update", "2014-10-01")
        .set("Last-Update", "2014-10-02");
        let bytes = h.patch_bytes(DIFF.as_bytes());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.matches("Last-Update").count(), 1, "{text}");
        assert!(text.contains("Description: Enable iscsi_write_cache option for tgtadm backends\n Long text.\n .\n Second paragraph.\n"), "{text}");
        assert_eq!(check(&bytes), vec![]);
        assert_eq!(Dep3Header::from_parsed(&parse(&bytes)), h);
    }

    #[test]
    fn git_headers_become_dep3_fields() {
        let text = format!(
            "From 617e59bde660f919df0818611b911ae35f8b7247 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\n\
             Date: Thu, 2 Oct 2014 10:11:12 +0000\nSubject: [PATCH 1/2] Configure\n\n---\n{DIFF}"
        );
        let h = Dep3Header::from_parsed(&parse(text.as_bytes()));
        assert_eq!(
            h.fields,
            vec![("Author".into(), "A <a@b>".into()), ("Description".into(), "Configure".into())]
        );
    }
}
