//! Reads an upstream commit message: subject, body without its closing trailer paragraphs,
//! the trailers, and the bugs the commit refers to, as each ecosystem writes them.
//!
//! The closing paragraphs are read from the end while every line of a paragraph is a
//! `Token: value` trailer, an indented continuation, git's `(cherry picked from commit ...)`,
//! a GitHub keyword reference (`Fixes #12`, `Closes https://...`), curl's `Follow-up to SHA`
//! or an OpenStack flag line (`DocImpact`, `UpgradeImpact`, `SecurityImpact`, `TrivialFix`):
//! Gerrit projects end with `Closes-Bug: N` + `DocImpact`, then `Change-Id:` + `Signed-off-by:`,
//! so the bug is not always in the last paragraph. None of these lines is Description.
//!
//! Bugs, and what each closes:
//! - OpenStack/Gerrit: `Closes-Bug: N` closes a Launchpad bug; `Partial-Bug:` and
//!   `Related-Bug:` only relate to one (the patch names it, the changelog does not close it).
//! - `LP: #N` (Launchpad, dpkg's Launchpad-Bugs-Fixed) and `Closes: #N` (Debian, the BTS)
//!   anywhere in the message close the bug, as in a changelog.
//! - `Bug-Debian:`/`Bug-Ubuntu:`/`Bug-Launchpad:` URLs (DEP-3 written into a commit, as
//!   `gbp pq` does) close that tracker's bug.
//! - A URL of any other tracker in a bug trailer (`Bug:`, `Fixes:`, `Closes:`, `Resolves:`,
//!   GitHub, GitLab, bugzilla ...) is a forge bug: DEP-3 `Bug:`.
//! - `Fixes #N` / `Closes #N` (GitHub's keywords, curl's convention) name an issue of the
//!   upstream's own forge: a `Bug:` URL once the forge is known (`Bugs::resolve_forge`).
//!
//! A trailer that is not a bug reference (`Fixes: <sha> ("...")`, the kernel's, or
//! `Related-Bug: #OSPRH-1`, a Jira key) names no bug.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bugs {
    /// Launchpad bugs the commit closes (`Closes-Bug`, `LP: #N`, Bug-Ubuntu URLs).
    pub launchpad: Vec<u64>,
    /// Debian bugs the commit closes (`Closes: #N`, Bug-Debian URLs).
    pub debian: Vec<u64>,
    /// Launchpad bugs it only relates to (`Partial-Bug`, `Related-Bug`).
    pub launchpad_related: Vec<u64>,
    /// Other trackers' bug URLs (DEP-3 `Bug:`).
    pub forge: Vec<String>,
    /// `Fixes #N` / `Closes #N`: issues of the upstream's forge, not yet URLs.
    pub forge_issues: Vec<u64>,
}

impl Bugs {
    /// Turns `#N` issue numbers into URLs of the upstream's forge: GitHub, Gitea/Forgejo
    /// (`/issues/N`) or GitLab (`/-/issues/N`). Returns the numbers it could not place
    /// (a local repository, an unknown forge).
    pub fn resolve_forge(&mut self, web_url: Option<&str>) -> Vec<u64> {
        let Some(web) = web_url.map(|w| w.trim_end_matches('/')) else {
            return std::mem::take(&mut self.forge_issues);
        };
        let host = web.split('/').nth(2).unwrap_or("");
        let issues = if host.contains("gitlab") || host == "salsa.debian.org" {
            "-/issues"
        } else if host == "github.com" || host == "codeberg.org" || host.contains("gitea") {
            "issues"
        } else {
            return std::mem::take(&mut self.forge_issues);
        };
        for n in std::mem::take(&mut self.forge_issues) {
            push_str(&mut self.forge, format!("{web}/{issues}/{n}"));
        }
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The first paragraph, joined into one line (as git's `%s`).
    pub subject: String,
    /// The paragraphs after the subject, closing trailer paragraphs removed, trimmed.
    pub body: String,
    /// `(key, value)` in the order written, continuation lines joined with a space; flag
    /// lines have an empty value, keyword references keep their keyword as key.
    pub trailers: Vec<(String, String)>,
    pub bugs: Bugs,
}

impl Message {
    /// Subject and body: the DEP-3 `Description` (trailers are not part of it).
    pub fn description(&self) -> String {
        if self.body.is_empty() { self.subject.clone() } else { format!("{}\n\n{}", self.subject, self.body) }
    }
}

pub fn parse(message: &str) -> Message {
    let text = message.replace("\r\n", "\n");
    let mut paragraphs = split_paragraphs(&text).into_iter();
    let subject = paragraphs.next().map(|p| p.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "));
    let subject = subject.unwrap_or_default();
    let mut rest: Vec<Vec<&str>> = paragraphs.collect();
    let mut closing: Vec<Vec<&str>> = Vec::new();
    while let Some(last) = rest.last() {
        if !is_trailer_block(last) {
            break;
        }
        closing.push(rest.pop().expect("checked"));
    }
    closing.reverse();
    let trailers: Vec<(String, String)> = closing.iter().flat_map(|p| trailer_pairs(p)).collect();
    let body = rest.iter().map(|p| p.join("\n")).collect::<Vec<_>>().join("\n\n");
    let mut bugs = Bugs::default();
    for (k, v) in &trailers {
        trailer_bugs(&mut bugs, k, v);
    }
    for line in text.lines() {
        push_all(&mut bugs.launchpad, references(line, "lp:"));
        push_all(&mut bugs.debian, references(line, "closes:"));
    }
    // A bug both closed and mentioned is closed.
    bugs.launchpad_related.retain(|n| !bugs.launchpad.contains(n));
    Message { subject, body, trailers, bugs }
}

/// What one trailer says about bugs.
fn trailer_bugs(bugs: &mut Bugs, key: &str, value: &str) {
    match key.to_ascii_lowercase().as_str() {
        "closes-bug" => push_all(&mut bugs.launchpad, numbers(value, false)),
        "partial-bug" | "related-bug" => push_all(&mut bugs.launchpad_related, numbers(value, false)),
        // GitHub keywords: `Fixes #12`, `Closes #12, #13`, or a URL.
        k if GITHUB_KEYWORDS.contains(&k) && value.starts_with('#') => {
            push_all(&mut bugs.forge_issues, numbers(value, true));
        }
        "bug" | "bug-debian" | "bug-ubuntu" | "bug-launchpad" | "bug-url" | "bugs" | "fixes" | "closes"
        | "resolves" | "issue" | "link" | "buglink" => {
            for url in
                value.split([' ', ',']).filter(|w| w.starts_with("https://") || w.starts_with("http://"))
            {
                url_bug(bugs, url.trim_end_matches(['.', ')', ';', '>']));
            }
        }
        k if GITHUB_KEYWORDS.contains(&k) => {
            for url in value.split(' ').filter(|w| w.starts_with("https://") || w.starts_with("http://")) {
                url_bug(bugs, url.trim_end_matches(['.', ')', ';', '>']));
            }
        }
        _ => {}
    }
}

/// A bug URL: Debian's and Launchpad's trackers by number, every other as a forge bug.
/// A URL that is not a bug report (a commit, a review) is no bug.
fn url_bug(bugs: &mut Bugs, url: &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let last_number = |p: &str| p.rsplit(['/', '#', '=']).next().and_then(|s| s.parse::<u64>().ok());
    match host {
        "bugs.debian.org" => {
            // https://bugs.debian.org/123 or .../cgi-bin/bugreport.cgi?bug=123
            if let Some(n) = last_number(path) {
                push_all(&mut bugs.debian, vec![n]);
            }
        }
        "bugs.launchpad.net" | "launchpad.net" | "pad.lv" => {
            // .../bugs/N, .../+bug/N, pad.lv/N
            if (path.contains("bug") || host == "pad.lv")
                && let Some(n) = last_number(path)
            {
                push_all(&mut bugs.launchpad, vec![n]);
            }
        }
        _ => {
            let is_bug = path.contains("/issues/")
                || path.contains("/-/issues/")
                || path.contains("/pull/")
                || path.contains("/merge_requests/")
                || path.contains("show_bug.cgi")
                || path.contains("/bugs/")
                || path.contains("/ticket/")
                || host.starts_with("bugs.")
                || host.starts_with("bugzilla.");
            if is_bug {
                push_str(&mut bugs.forge, url.to_string());
            }
        }
    }
}

/// GitHub's closing keywords (docs.github.com, "Linking a pull request to an issue").
const GITHUB_KEYWORDS: &[&str] =
    &["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved"];

/// OpenStack's flag lines (the `*Impact` family, `TrivialFix`): commit metadata for the
/// docs and release teams, not part of what the patch describes.
fn is_flag_line(line: &str) -> bool {
    let word = line.trim();
    let word = word.split_once(':').map_or(word, |(k, _)| k);
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && (word.ends_with("Impact") || matches!(word, "TrivialFix" | "NO_DOC" | "Implements"))
}

/// `Fixes #12`, `Closes https://...`, curl's `Follow-up to 3c914bc6801`.
fn keyword_line(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.trim().split_once(' ')?;
    let v = v.trim();
    if GITHUB_KEYWORDS.contains(&k.to_ascii_lowercase().as_str())
        && (v.starts_with('#') && v[1..].starts_with(|c: char| c.is_ascii_digit())
            || v.starts_with("https://")
            || v.starts_with("http://"))
    {
        return Some((k, v));
    }
    let lower = line.trim().to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("follow-up to ").or_else(|| lower.strip_prefix("followup to ")) {
        let offset = line.trim().len() - rest.len();
        return Some(("Follow-up-to", line.trim()[offset..].trim()));
    }
    None
}

fn split_paragraphs(text: &str) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(line.trim_end());
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn trailer_key(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line.split_once(':')?;
    let ok = !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    // `Backported by: X` has a space in its key: not a trailer (git's rule).
    ok.then(|| (k, v.trim()))
}

fn is_cherry_pick_line(line: &str) -> bool {
    line.starts_with("(cherry picked from commit ") && line.ends_with(')')
}

fn is_continuation(line: &str) -> bool {
    line.starts_with(' ') || line.starts_with('\t')
}

fn is_trailer_block(p: &[&str]) -> bool {
    let first = p[0];
    !is_continuation(first)
        && p.iter().all(|l| {
            trailer_key(l).is_some()
                || is_cherry_pick_line(l)
                || is_flag_line(l)
                || keyword_line(l).is_some()
                || is_continuation(l)
        })
}

fn trailer_pairs(p: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in p {
        if is_continuation(l)
            && let Some(last) = out.last_mut()
        {
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else if is_cherry_pick_line(l) {
            out.push(("cherry-picked-from".into(), l.trim_matches(['(', ')']).to_string()));
        } else if is_flag_line(l) && !l.contains(':') {
            out.push((l.trim().to_string(), String::new()));
        } else if let Some((k, v)) = trailer_key(l) {
            out.push((k.to_string(), v.to_string()));
        } else if let Some((k, v)) = keyword_line(l) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn push_all(into: &mut Vec<u64>, more: Vec<u64>) {
    for n in more {
        if !into.contains(&n) {
            into.push(n);
        }
    }
}

fn push_str(into: &mut Vec<String>, s: String) {
    if !into.contains(&s) {
        into.push(s);
    }
}

/// The numbers in a bug list such as `#1, #2` or `1336568`. With `need_hash`, only
/// numbers written `#N` count (the text scan, where a bare number is not a bug). The list
/// ends at the first item that is neither (`#OSPRH-29345` names no Launchpad bug).
fn numbers(list: &str, need_hash: bool) -> Vec<u64> {
    let mut out = Vec::new();
    for item in list.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        let item = item.trim_end_matches(['.', ')', ';']);
        let digits = match item.strip_prefix('#') {
            Some(d) => d,
            None if need_hash => break,
            None => item,
        };
        match digits.parse::<u64>() {
            Ok(n) => out.push(n),
            Err(_) => break,
        }
    }
    out
}

/// `LP: #1, #2` or `Closes: #3` anywhere in a line (case-insensitive), as the Debian
/// changelog conventions write them; the list ends at the first item that is not `#N`.
fn references(line: &str, marker: &str) -> Vec<u64> {
    let lower = line.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(marker) {
        let start = from + at;
        // A marker must start a word: `(LP: #1)` counts, `HELP: #1` does not.
        let starts_word = start == 0 || !lower.as_bytes()[start - 1].is_ascii_alphanumeric();
        // `Closes-Bug:` is a different trailer; its `closes` is followed by `-`, not `:`.
        let after = start + marker.len();
        if starts_word {
            let rest = &line[after..];
            let list: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_digit() || matches!(c, '#' | ',' | ' '))
                .collect();
            out.extend(numbers(&list, true));
        }
        from = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_table() {
        // (message, description, launchpad bugs, debian bugs, trailer keys)
        type Case<'a> = (&'a str, &'a str, &'a [u64], &'a [u64], &'a [&'a str]);
        let cases: &[Case] = &[
            (
                "Add iscsi_write_cache option\n\nTgtadm writes it.\n\nChange-Id: I12\nCloses-Bug: #1336568\n",
                "Add iscsi_write_cache option\n\nTgtadm writes it.",
                &[1336568],
                &[],
                &["Change-Id", "Closes-Bug"],
            ),
            // The flagship's layout: the bug and a flag, then Gerrit's own paragraph.
            (
                "Configure write cache\n\nText.\n\nCloses-Bug: 1336568\nDocImpact\n\n\
                 Change-Id: I6c0c2a8e\nSigned-off-by: A <a@b>\n",
                "Configure write cache\n\nText.",
                &[1336568],
                &[],
                &["Closes-Bug", "DocImpact", "Change-Id", "Signed-off-by"],
            ),
            ("Fix\n\nPartial-Bug: 11\nRelated-Bug: 12\n", "Fix", &[], &[], &["Partial-Bug", "Related-Bug"]),
            ("Fix crash (LP: #7, #8)\n", "Fix crash (LP: #7, #8)", &[7, 8], &[], &[]),
            (
                "Fix\n\nBody says Closes: #900, #901.\n",
                "Fix\n\nBody says Closes: #900, #901.",
                &[],
                &[900, 901],
                &[],
            ),
            ("Fix\n\nCloses: #5\nLP: #6\n", "Fix", &[6], &[5], &["Closes", "LP"]),
            // Not a trailer block: a prose line in the last paragraph.
            ("Fix\n\nSee Foo: bar\nand more prose\n", "Fix\n\nSee Foo: bar\nand more prose", &[], &[], &[]),
            (
                "Fix\n\nSigned-off-by: A <a@b>\n(cherry picked from commit abc)\n",
                "Fix",
                &[],
                &[],
                &["Signed-off-by", "cherry-picked-from"],
            ),
            ("HELP: #3 is not a bug\n", "HELP: #3 is not a bug", &[], &[], &[]),
            ("Closes-Bug: 1\n", "Closes-Bug: 1", &[], &[], &[]),
            ("Fix\n\nCloses-Bug: #2\n  continued\n", "Fix", &[2], &[], &["Closes-Bug"]),
            // Lower-case key, as Gerrit users type it.
            ("Fix\n\nCloses-bug: #2059809\n", "Fix", &[2059809], &[], &["Closes-bug"]),
            // curl: Reported-by, Follow-up to, GitHub's keyword.
            (
                "hostip: include easy_lock.h\n\nSince that header.\n\nReported-by: M D\nFollow-up to 13718030ad4b3209\nCloses #11121\n",
                "hostip: include easy_lock.h\n\nSince that header.",
                &[],
                &[],
                &["Reported-by", "Follow-up-to", "Closes"],
            ),
            // gbp pq: DEP-3 in the commit message.
            (
                "Install x\n\nBug: https://bugzilla.mindrot.org/show_bug.cgi?id=1720\nBug-Debian: http://bugs.debian.org/441817\n\
                 Last-Update: 2013-09-14\n\nPatch-Name: x.patch\n",
                "Install x",
                &[],
                &[441817],
                &["Bug", "Bug-Debian", "Last-Update", "Patch-Name"],
            ),
            (
                "Fix\n\nBug-Ubuntu: https://bugs.launchpad.net/ubuntu/+source/tgt/+bug/42\n",
                "Fix",
                &[42],
                &[],
                &["Bug-Ubuntu"],
            ),
            // `Backported by:` has a space in its key: prose, so it stays.
            (
                "Fix\n\nCloses #1\n\nBackported by: D <d@e>:\n * refresh\n",
                "Fix\n\nCloses #1\n\nBackported by: D <d@e>:\n * refresh",
                &[],
                &[],
                &[],
            ),
        ];
        for (msg, desc, lp, deb, keys) in cases {
            let m = parse(msg);
            assert_eq!(m.description(), *desc, "{msg:?}");
            assert_eq!(m.bugs.launchpad, *lp, "{msg:?}");
            assert_eq!(m.bugs.debian, *deb, "{msg:?}");
            let got: Vec<&str> = m.trailers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(got, *keys, "{msg:?}");
        }
    }

    #[test]
    fn related_and_forge_bugs() {
        // (message, related Launchpad bugs, forge URLs, forge issue numbers)
        type Case<'a> = (&'a str, &'a [u64], &'a [&'a str], &'a [u64]);
        let cases: &[Case] = &[
            ("Fix\n\nPartial-Bug: 11\nRelated-Bug: #12\n", &[11, 12], &[], &[]),
            // A Jira key is no Launchpad bug.
            ("Fix\n\nCloses-Bug: #2149775\nRelated-Bug: #OSPRH-29345\n", &[], &[], &[]),
            ("Fix\n\nRelated-Bug: #5\nCloses-Bug: #5\n", &[], &[], &[]),
            (
                "Fix\n\nFixes: https://github.com/o/r/issues/7\n",
                &[],
                &["https://github.com/o/r/issues/7"],
                &[],
            ),
            (
                "Fix\n\nCloses: https://gitlab.com/g/p/-/issues/8\n",
                &[],
                &["https://gitlab.com/g/p/-/issues/8"],
                &[],
            ),
            (
                "Fix\n\nBug: https://bugzilla.redhat.com/show_bug.cgi?id=9\n",
                &[],
                &["https://bugzilla.redhat.com/show_bug.cgi?id=9"],
                &[],
            ),
            // The kernel's `Fixes: <sha> ("subject")` names a commit, not a bug.
            ("Fix\n\nFixes: 1234abcd (\"x: y\")\n", &[], &[], &[]),
            // A review link is no bug.
            ("Fix\n\nLink: https://review.opendev.org/c/x/+/1\n", &[], &[], &[]),
            ("Fix\n\nReported-by: A\nFixes #10976\nCloses #10977\n", &[], &[], &[10976, 10977]),
        ];
        for (msg, related, forge, issues) in cases {
            let m = parse(msg);
            assert_eq!(m.bugs.launchpad_related, *related, "{msg:?}");
            assert_eq!(m.bugs.forge, *forge, "{msg:?}");
            assert_eq!(m.bugs.forge_issues, *issues, "{msg:?}");
        }
    }

    #[test]
    fn forge_issues_become_urls_of_the_upstream_forge() {
        let table: &[(Option<&str>, &[&str], &[u64])] = &[
            (Some("https://github.com/curl/curl"), &["https://github.com/curl/curl/issues/1"], &[]),
            (
                Some("https://gitlab.com/libssh/libssh-mirror"),
                &["https://gitlab.com/libssh/libssh-mirror/-/issues/1"],
                &[],
            ),
            (Some("https://opendev.org/openstack/nova"), &[], &[1]),
            (None, &[], &[1]),
        ];
        for (web, urls, left) in table {
            let mut b = Bugs { forge_issues: vec![1], ..Bugs::default() };
            assert_eq!(b.resolve_forge(*web), *left, "{web:?}");
            assert_eq!(b.forge, *urls, "{web:?}");
            assert!(b.forge_issues.is_empty());
        }
    }

    #[test]
    fn flags_are_no_description() {
        for flag in ["DocImpact", "UpgradeImpact", "SecurityImpact", "APIImpact", "TrivialFix"] {
            let m = parse(&format!("Fix\n\nBody.\n\n{flag}\nChange-Id: I1\n"));
            assert_eq!(m.description(), "Fix\n\nBody.", "{flag}");
        }
        // A sentence is not a flag.
        assert!(!is_flag_line("This has no DocImpact"));
    }

    #[test]
    fn continuation_joins() {
        let m = parse("S\n\nCo-Authored-By: A\n  B <a@b>\n");
        assert_eq!(m.trailers, vec![("Co-Authored-By".into(), "A B <a@b>".into())]);
    }
}
