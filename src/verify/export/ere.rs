//! A plan's goss pattern as the exported test's `grep` decides it: `text` and `/re/` mapped
//! to `LC_ALL=C grep -a -F` / `grep -a -E` only where grep answers exactly as srukit's Rust
//! regex does on the same output, else refused with the reason. Pure: reads the pattern,
//! writes nothing.
//!
//! Why line-by-line grep can decide a multi-line match: srukit matches `(?m)RE` against the
//! whole (lossily decoded) text. When RE cannot match a newline, a match lies within one
//! `\n`-separated segment, and `^`/`$`/`\b` see a segment's ends as they see the text's. grep
//! reads the same segments, except the empty one after a final newline (or the empty text):
//! there RE matches iff it matches "" — a constant known here (`matches_empty_segment`).
//! grep runs in the C locale (bytes); the mapping keeps only what means the same on bytes as
//! on characters: ASCII classes, literals, and a class that holds every non-ASCII character
//! (`.`, `[^ ]`) only as the direct operand of `*` or `+` (a run of characters is a run of
//! bytes). Unicode classes (`\d`, `\w`, `\s`, `(?i)` on k or s), text anchors and newlines
//! are refused.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// How the exported test decides one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrepPattern {
    /// `grep -F -e TEXT`: the text holds it.
    Fixed(String),
    /// `grep -E -e ERE`, and whether the empty segment after a final newline matches.
    Extended { ere: Vec<u8>, matches_empty_segment: bool },
}

/// Maps a goss pattern body (without `!`) to grep, or says why grep could not decide it as
/// srukit does.
pub fn map(body: &str) -> Result<GrepPattern, String> {
    if body.contains('\u{fffd}') {
        return Err("holds U+FFFD, which srukit also sees where output is not UTF-8".into());
    }
    if body.contains('\0') {
        return Err("holds a NUL byte, which no command-line argument can carry".into());
    }
    match body.strip_prefix('/').and_then(|b| b.strip_suffix('/')) {
        Some(re) if body.len() >= 2 => {
            let full = format!("(?m){re}");
            let hir = regex_syntax::Parser::new().parse(&full).map_err(|e| format!("does not parse: {e}"))?;
            let mut ere = Vec::new();
            emit(&hir, &mut ere, false)?;
            let empty = regex::Regex::new(&full).map_err(|e| e.to_string())?.is_match("");
            Ok(GrepPattern::Extended { ere, matches_empty_segment: empty })
        }
        _ => {
            if body.contains('\n') {
                return Err("spans lines; grep reads one line at a time".into());
            }
            Ok(GrepPattern::Fixed(body.to_string()))
        }
    }
}

/// The ERE of `h`. `wide_ok`: `h` is the direct operand of `*` or `+`.
fn emit(h: &Hir, out: &mut Vec<u8>, wide_ok: bool) -> Result<(), String> {
    match h.kind() {
        HirKind::Empty => out.extend_from_slice(b"()"),
        HirKind::Literal(lit) => literal(&lit.0, out)?,
        HirKind::Class(c) => class(c, out, wide_ok)?,
        HirKind::Look(l) => out.extend_from_slice(match l {
            Look::StartLF => b"^",
            Look::EndLF => b"$",
            Look::WordAscii => b"\\b",
            Look::WordAsciiNegate => b"\\B",
            Look::Start | Look::End => {
                return Err("anchors at the whole text (\\A, \\z or (?-m)); grep reads lines".into());
            }
            Look::WordUnicode | Look::WordUnicodeNegate => {
                return Err("`\\b` is a Unicode word boundary; use (?-u:\\b) for ASCII words".into());
            }
            other => return Err(format!("the assertion {other:?} has no grep -E equivalent")),
        }),
        HirKind::Repetition(r) => {
            let wide = r.min <= 1 && r.max.is_none();
            let group = !matches!(r.sub.kind(), HirKind::Class(_) | HirKind::Capture(_))
                && !matches!(r.sub.kind(), HirKind::Literal(l) if l.0.len() == 1);
            if group {
                out.push(b'(');
            }
            emit(&r.sub, out, wide)?;
            if group {
                out.push(b')');
            }
            let op = match (r.min, r.max) {
                (0, None) => "*".to_string(),
                (1, None) => "+".to_string(),
                (0, Some(1)) => "?".to_string(),
                (m, None) => format!("{{{m},}}"),
                (m, Some(n)) if m == n => format!("{{{m}}}"),
                (m, Some(n)) => format!("{{{m},{n}}}"),
            };
            out.extend_from_slice(op.as_bytes());
        }
        // An alternation brings its own parentheses.
        HirKind::Capture(c) if matches!(c.sub.kind(), HirKind::Alternation(_)) => emit(&c.sub, out, wide_ok)?,
        HirKind::Capture(c) => {
            out.push(b'(');
            emit(&c.sub, out, wide_ok)?;
            out.push(b')');
        }
        HirKind::Concat(hs) => {
            for h in hs {
                emit(h, out, false)?;
            }
        }
        HirKind::Alternation(hs) => {
            out.push(b'(');
            for (i, h) in hs.iter().enumerate() {
                if i > 0 {
                    out.push(b'|');
                }
                emit(h, out, false)?;
            }
            out.push(b')');
        }
    }
    Ok(())
}

const ERE_SPECIAL: &[u8] = b".[]()*+?{}|^$\\";

fn literal(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    for &b in bytes {
        match b {
            b'\n' => return Err("matches a newline; grep reads one line at a time".into()),
            0 => return Err("matches a NUL byte, which no command-line argument can carry".into()),
            b if ERE_SPECIAL.contains(&b) => out.extend_from_slice(&[b'\\', b]),
            b => out.push(b),
        }
    }
    Ok(())
}

/// A class: ASCII members only, or every non-ASCII character (then only under `*`/`+`).
fn class(c: &Class, out: &mut Vec<u8>, wide_ok: bool) -> Result<(), String> {
    let mut ascii = [false; 128];
    let mut non_ascii: Vec<(u32, u32)> = Vec::new();
    let mut add = |lo: u32, hi: u32| {
        for v in lo..=hi.min(127) {
            ascii[v as usize] = true;
        }
        if hi >= 128 {
            non_ascii.push((lo.max(128), hi));
        }
    };
    match c {
        Class::Unicode(u) => u.ranges().iter().for_each(|r| add(r.start() as u32, r.end() as u32)),
        Class::Bytes(b) => b.ranges().iter().for_each(|r| add(r.start() as u32, r.end() as u32)),
    }
    if ascii[b'\n' as usize] {
        return Err(
            "a class here matches a newline (a negated class or \\s); exclude \\n, e.g. [^ \\n]".into()
        );
    }
    if non_ascii.is_empty() {
        return bracket(&ascii, false, out);
    }
    if !covers_all_non_ascii(&non_ascii, matches!(c, Class::Bytes(_))) {
        return Err("a class here matches some non-ASCII characters but not all (a Unicode class such as \\d, \\w, \\s, or (?i) on a letter with a non-ASCII case): use an ASCII class such as [0-9]".into());
    }
    if !wide_ok {
        return Err("`.` or a negated class counts one character, grep counts one byte: use it only as `.*`/`.+` (or `[^ ]+`)".into());
    }
    // Every non-ASCII character: in the C locale every byte >= 0x80; so the complement is
    // the ASCII bytes not in the class (a line never holds `\n`).
    let mut complement = [false; 128];
    for (i, c) in complement.iter_mut().enumerate() {
        *c = !ascii[i] && i != b'\n' as usize;
    }
    if complement.iter().all(|c| !c) {
        out.push(b'.');
        return Ok(());
    }
    bracket(&complement, true, out)
}

/// Whether the ranges (all >= 0x80) cover every Unicode scalar value from 0x80 up (or every
/// byte, for a byte class). Surrogates are no characters: a range may skip them.
fn covers_all_non_ascii(ranges: &[(u32, u32)], bytes: bool) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let top = if bytes { 0xFF } else { 0x10FFFF };
    let mut next = 128u32;
    for (lo, hi) in sorted {
        if next == 0xD800 {
            next = 0xE000;
        }
        if lo > next {
            return false;
        }
        next = next.max(hi + 1);
    }
    next > top
}

/// A bracket expression of ASCII members, written so that no member is read as syntax:
/// `]` first, `-` last, `^` never first, `[` and `\` alone (POSIX 9.3.5).
fn bracket(set: &[bool; 128], negate: bool, out: &mut Vec<u8>) -> Result<(), String> {
    if set[0] {
        return Err("a class here matches a NUL byte, which no command-line argument can carry".into());
    }
    let members: Vec<u8> = (0u8..128).filter(|b| set[*b as usize]).collect();
    if members.is_empty() {
        return Err("a class here matches nothing".into());
    }
    if !negate && members.len() == 1 {
        return literal(&members, out);
    }
    let special = |b: u8| matches!(b, b']' | b'-' | b'^' | b'[' | b'\\');
    let mut body: Vec<u8> = Vec::new();
    if set[b']' as usize] {
        body.push(b']');
    }
    let mut i = 0;
    while i < members.len() {
        let b = members[i];
        if special(b) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j + 1 < members.len() && members[j + 1] == members[j] + 1 && !special(members[j + 1]) {
            j += 1;
        }
        if j - i >= 2 {
            body.extend_from_slice(&[b, b'-', members[j]]);
        } else {
            body.extend_from_slice(&members[i..=j]);
        }
        i = j + 1;
    }
    for b in [b'[', b'\\', b'^'] {
        if set[b as usize] {
            body.push(b);
        }
    }
    if set[b'-' as usize] {
        body.push(b'-');
    }
    // `^` alone would read as a negation: it never stands first after `[`.
    if body.first() == Some(&b'^') {
        body.rotate_left(1);
    }
    out.push(b'[');
    if negate {
        out.push(b'^');
    }
    out.extend_from_slice(&body);
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ere(p: &str) -> Result<String, String> {
        match map(p)? {
            GrepPattern::Extended { ere, .. } => Ok(String::from_utf8(ere).unwrap()),
            GrepPattern::Fixed(t) => Ok(format!("F:{t}")),
        }
    }

    #[test]
    fn mapped_patterns() {
        let table: &[(&str, &str)] = &[
            ("segmentation violation", "F:segmentation violation"),
            ("/^ENABLED=1$/", "^ENABLED=1$"),
            ("/warning: .*/", "warning: .*"),
            ("/sh: 1: .*: not found/", "sh: 1: .*: not found"),
            ("/a.c+/", "ERR"),
            ("/(?m)^\"ababab\"$/", "^\"ababab\"$"),
            ("/[0-9]+ files?/", "[0-9]+ files?"),
            ("/x{2,3}y{4}/", "x{2,3}y{4}"),
            ("/(a|bc)d/", "(a|bc)d"),
            ("/a\\.b\\(c\\)/", "a\\.b\\(c\\)"),
            ("/[^ \\n]+=/", "[^ ]+="),
            ("/[]a-]x/", "[]a-]x"),
            ("/(?i)x/", "[Xx]"),
            ("/(?-u:\\b)ok(?-u:\\b)/", "\\bok\\b"),
            ("/é+/", "(é)+"),
            ("/[a-z_]+/", "[_a-z]+"),
        ];
        for (p, want) in table {
            let got = ere(p).unwrap_or_else(|_| "ERR".into());
            assert_eq!(&got, want, "{p}");
        }
    }

    #[test]
    fn refused_patterns_say_why() {
        let table: &[(&str, &str)] = &[
            ("/\\d+/", "non-ASCII"),
            ("/\\w/", "non-ASCII"),
            ("/\\s/", "newline"),
            ("/[^ ]+/", "newline"),
            ("/a\\nb/", "newline"),
            ("/\\Aa/", "whole text"),
            ("/(?-m)^a/", "whole text"),
            ("/\\bword/", "Unicode word boundary"),
            ("/(?i)k/", "non-ASCII"),
            ("/a.b/", "one byte"),
            ("/(?s).*/", "newline"),
            ("two\nlines", "spans lines"),
            ("/(/", "does not parse"),
            ("bad \u{fffd}", "U+FFFD"),
        ];
        for (p, want) in table {
            let err = map(p).unwrap_err();
            assert!(err.contains(want), "{p}: {err}");
        }
    }

    #[test]
    fn empty_segment_matches_are_known() {
        let empty = |p: &str| match map(p).unwrap() {
            GrepPattern::Extended { matches_empty_segment, .. } => matches_empty_segment,
            _ => unreachable!(),
        };
        assert!(empty("/^$/"));
        assert!(empty("/x*/"));
        assert!(!empty("/^x$/"));
    }
}
