//! Reads an upstream commit message: subject, body without its trailer block, the trailers,
//! and the bug numbers a DEP-3 header carries (`Bug-Launchpad`, `Bug-Debian`).
//!
//! The trailer block is the message's last paragraph when every line in it is a
//! `Token: value` line, an indented continuation, or git's `(cherry picked from commit ...)`
//! line, which is how `git interpret-trailers` finds it. Bug references follow the
//! conventions upstreams and Debian use: OpenStack's `Closes-Bug:`, `Partial-Bug:` and
//! `Related-Bug:` trailers (Launchpad), `LP: #N` (Launchpad, as dpkg-parsechangelog's
//! Launchpad-Bugs-Fixed reads it) and `Closes: #N` (Debian, as the BTS reads it), the last
//! two also inside the text.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bugs {
    pub launchpad: Vec<u64>,
    pub debian: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The first paragraph, joined into one line (as git's `%s`).
    pub subject: String,
    /// The paragraphs after the subject, trailer block removed, trimmed.
    pub body: String,
    /// `(key, value)` in the order written, continuation lines joined with a space.
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
    let paragraphs: Vec<Vec<&str>> = split_paragraphs(&text);
    let mut paragraphs = paragraphs.into_iter();
    let subject = paragraphs.next().map(|p| p.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "));
    let subject = subject.unwrap_or_default();
    let mut rest: Vec<Vec<&str>> = paragraphs.collect();
    let mut trailers = Vec::new();
    if let Some(last) = rest.last()
        && is_trailer_block(last)
    {
        trailers = trailer_pairs(last);
        rest.pop();
    }
    let body = rest.iter().map(|p| p.join("\n")).collect::<Vec<_>>().join("\n\n");
    let mut bugs = Bugs::default();
    for (k, v) in &trailers {
        match k.to_ascii_lowercase().as_str() {
            "closes-bug" | "partial-bug" | "related-bug" => {
                push_all(&mut bugs.launchpad, numbers(v, false));
            }
            // `LP: #N` and `Closes: #N` trailers are found by the text scan below.
            _ => {}
        }
    }
    for line in text.lines() {
        push_all(&mut bugs.launchpad, references(line, "lp:"));
        push_all(&mut bugs.debian, references(line, "closes:"));
    }
    Message { subject, body, trailers, bugs }
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
    ok.then(|| (k, v.trim()))
}

fn is_cherry_pick_line(line: &str) -> bool {
    line.starts_with("(cherry picked from commit ") && line.ends_with(')')
}

fn is_trailer_block(p: &[&str]) -> bool {
    let first = p[0];
    (trailer_key(first).is_some() || is_cherry_pick_line(first))
        && p.iter().all(|l| {
            trailer_key(l).is_some() || is_cherry_pick_line(l) || l.starts_with(' ') || l.starts_with('\t')
        })
}

fn trailer_pairs(p: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in p {
        if (l.starts_with(' ') || l.starts_with('\t'))
            && let Some(last) = out.last_mut()
        {
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else if let Some((k, v)) = trailer_key(l) {
            out.push((k.to_string(), v.to_string()));
        } else {
            out.push(("cherry-picked-from".into(), l.trim_matches(['(', ')']).to_string()));
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

/// The numbers in a bug list such as `#1, #2` or `1336568`. With `need_hash`, only
/// numbers written `#N` count (the text scan, where a bare number is not a bug).
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
            (
                "Fix\n\nPartial-Bug: 11\nRelated-Bug: 12\n",
                "Fix",
                &[11, 12],
                &[],
                &["Partial-Bug", "Related-Bug"],
            ),
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
    fn continuation_joins() {
        let m = parse("S\n\nCo-Authored-By: A\n  B <a@b>\n");
        assert_eq!(m.trailers, vec![("Co-Authored-By".into(), "A B <a@b>".into())]);
    }
}
