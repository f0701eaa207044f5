//! DEP-3 header checks: every problem of a patch's header (missing, duplicate or malformed
//! fields, lines that are neither fields nor continuations, no diff), each at its line.

use super::{Problem, parse};

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

#[cfg(test)]
mod tests {
    use super::super::tests::{DIFF, problems};
    use super::parse;

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
}
