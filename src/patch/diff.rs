//! Reads one patch file (bytes, never assumed UTF-8) into per-file sections and hunks, the
//! way GNU patch and dpkg-source's `Dpkg::Source::Patch::analyze` read it: prose before and
//! between diffs is skipped; `---`/`+++` headers, `diff --git` extended headers (new/deleted
//! file mode, old/new mode, rename, copy, /dev/null), CRLF patches, `\ No newline at end of
//! file`, and blank context lines chopped at the end of the file. Git binary patches are
//! refused.

use serde::Serialize;

/// Why a patch file cannot be read; the caller adds the patch's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Malformed { line: usize, reason: String },
    Binary { line: usize, file: String },
    Unsafe { line: usize, file: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LineKind {
    Context,
    Remove,
    Add,
}

/// One hunk. `old_first` is GNU patch's `pch_first`: the old start line, plus one for an
/// empty old range (an insertion goes after that line).
#[derive(Debug, Clone)]
pub struct Hunk {
    pub line: usize,
    pub old_first: i64,
    pub old: Vec<Vec<u8>>,
    pub new: Vec<Vec<u8>>,
    pub prefix_context: i64,
    pub suffix_context: i64,
}

/// One file's part of a patch, names already stripped of `-pN` components.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Line of the first header line of this section in the patch file.
    pub line: usize,
    pub git: bool,
    /// `None` for `/dev/null` (or a name stripped away entirely).
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
    /// The header says the old (new) side does not exist: /dev/null, `new file mode`,
    /// `deleted file mode`, or an all-zero git index.
    pub old_absent: bool,
    pub new_absent: bool,
    pub rename: bool,
    pub copy: bool,
    pub new_mode: Option<u32>,
    pub hunks: Vec<Hunk>,
}

pub struct PatchFile {
    pub sections: Vec<Section>,
}

fn malformed(line: usize, reason: impl Into<String>) -> ParseError {
    ParseError::Malformed { line, reason: reason.into() }
}

/// Splits into lines, each keeping its `\n` (the last one may lack it).
fn lines_of(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'\n').count() + 1);
    lines.extend(bytes.split_inclusive(|&b| b == b'\n'));
    lines
}

fn trim_eol(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

pub fn parse(bytes: &[u8], strip: u32) -> Result<PatchFile, ParseError> {
    let lines = lines_of(bytes);
    let mut sections = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = trim_eol(lines[i]);
        if l.starts_with(b"diff --git ") {
            let (sec, next) = parse_git(&lines, i, strip)?;
            sections.push(sec);
            i = next;
        } else if l.starts_with(b"--- ") {
            let mut sec = Section { line: i + 1, ..Section::default() };
            let next = parse_plain(&lines, i, strip, &mut sec)?;
            sections.push(sec);
            i = next;
        } else if l.starts_with(b"+++ ") || l.starts_with(b"@@ -") {
            // dpkg-source: "expected ^--- in line N"
            return Err(malformed(i + 1, "hunk or `+++` header without a `---` header"));
        } else if l.starts_with(b"GIT binary patch")
            || (l.starts_with(b"Binary files ") && l.ends_with(b" differ"))
        {
            return Err(ParseError::Binary { line: i + 1, file: String::from_utf8_lossy(l).into_owned() });
        } else {
            i += 1;
        }
    }
    Ok(PatchFile { sections })
}

/// `diff --git a/x b/y` and its extended headers, then an optional `---`/`+++` and hunks.
fn parse_git(lines: &[&[u8]], start: usize, strip: u32) -> Result<(Section, usize), ParseError> {
    let head = trim_eol(lines[start]);
    let mut sec = Section { line: start + 1, git: true, ..Section::default() };
    if let Some((a, b)) = split_git_names(&head[11..]) {
        sec.old = name_of(&a, strip, start + 1)?;
        sec.new = name_of(&b, strip, start + 1)?;
    }
    let mut i = start + 1;
    while i < lines.len() {
        let l = trim_eol(lines[i]);
        let word = |p: &[u8]| l.strip_prefix(p);
        if let Some(m) = word(b"new file mode ") {
            sec.new_mode = Some(mode_of(m, i + 1)?);
            sec.old_absent = true;
        } else if let Some(m) = word(b"deleted file mode ") {
            let _ = mode_of(m, i + 1)?;
            sec.new_absent = true;
        } else if let Some(m) = word(b"new mode ") {
            sec.new_mode = Some(mode_of(m, i + 1)?);
        } else if word(b"old mode ").is_some()
            || word(b"similarity index ").is_some()
            || word(b"dissimilarity index ").is_some()
        {
        } else if word(b"rename from ").is_some() || word(b"rename to ").is_some() {
            sec.rename = true;
        } else if word(b"copy from ").is_some() || word(b"copy to ").is_some() {
            sec.copy = true;
        } else if let Some(idx) = word(b"index ") {
            let (hashes, mode) = match idx.iter().position(|&b| b == b' ') {
                Some(p) => (&idx[..p], Some(&idx[p + 1..])),
                None => (idx, None),
            };
            if let Some(dots) = hashes.windows(2).position(|w| w == b"..") {
                let zero = |h: &[u8]| !h.is_empty() && h.iter().all(|&b| b == b'0');
                sec.old_absent |= zero(&hashes[..dots]);
                sec.new_absent |= zero(&hashes[dots + 2..]);
            }
            if let Some(m) = mode {
                let _ = mode_of(m, i + 1)?;
            }
        } else if l.starts_with(b"GIT binary patch")
            || (l.starts_with(b"Binary files ") && l.ends_with(b" differ"))
        {
            let file = sec.new.as_ref().or(sec.old.as_ref()).map(|n| String::from_utf8_lossy(n).into_owned());
            return Err(ParseError::Binary { line: i + 1, file: file.unwrap_or_default() });
        } else if l.starts_with(b"--- ") {
            // The ---/+++ names agree with `diff --git` for a sane patch; GNU patch takes the
            // `diff --git` names, and so do we, but /dev/null in them still marks absence.
            let (old, new, old_absent, new_absent) =
                (sec.old.clone(), sec.new.clone(), sec.old_absent, sec.new_absent);
            let next = parse_plain(lines, i, strip, &mut sec)?;
            sec.old_absent |= old_absent;
            sec.new_absent |= new_absent;
            if old.is_some() || new.is_some() {
                sec.old = old.or(sec.old.take());
                sec.new = new.or(sec.new.take());
            }
            sec.line = start + 1;
            return Ok((sec, next));
        } else {
            break;
        }
        i += 1;
    }
    if sec.old.is_none() && sec.new.is_none() {
        return Err(malformed(start + 1, "cannot read the file names of `diff --git`"));
    }
    Ok((sec, i))
}

fn mode_of(m: &[u8], line: usize) -> Result<u32, ParseError> {
    let s = std::str::from_utf8(m).ok().map(str::trim);
    match s.and_then(|s| u32::from_str_radix(s, 8).ok()) {
        Some(v) if v & 0o170000 == 0o100000 => Ok(v & 0o7777),
        Some(_) => Err(ParseError::Unsafe {
            line,
            file: String::new(),
            reason: format!("file mode {} is not a regular file", s.unwrap_or_default()),
        }),
        None => Err(malformed(line, "bad file mode")),
    }
}

/// `---`/`+++` at `start`, then hunks. Returns the index of the first line after them.
fn parse_plain(lines: &[&[u8]], start: usize, strip: u32, sec: &mut Section) -> Result<usize, ParseError> {
    let minus = lines[start];
    let Some(plus) = lines.get(start + 1).filter(|l| l.starts_with(b"+++ ")) else {
        // dpkg-source: "line after --- isn't as expected"
        return Err(malformed(start + 2, "expected a `+++` line after `---`"));
    };
    // GNU patch strips CRs from every hunk line when the header line ends in CRLF.
    let strip_cr = plus.ends_with(b"\r\n");
    let (old_raw, old_epoch) = header_name(&trim_eol(minus)[4..]);
    let (new_raw, new_epoch) = header_name(&trim_eol(plus)[4..]);
    sec.old_absent |= old_raw == b"/dev/null" || old_epoch;
    sec.new_absent |= new_raw == b"/dev/null" || new_epoch;
    sec.old = if old_raw == b"/dev/null" { None } else { name_of(&old_raw, strip, start + 1)? };
    sec.new = if new_raw == b"/dev/null" { None } else { name_of(&new_raw, strip, start + 2)? };
    if sec.old.is_none() && sec.new.is_none() {
        return Err(malformed(start + 1, "none of the file names in ---/+++ is usable"));
    }
    let mut i = start + 2;
    while i < lines.len() {
        let l = trim_eol(lines[i]);
        if l.starts_with(b"\\ ") {
            i += 1;
            continue;
        }
        if !l.starts_with(b"@@ -") {
            break;
        }
        let (hunk, next) = parse_hunk(lines, i, strip_cr)?;
        sec.hunks.push(hunk);
        i = next;
    }
    if sec.hunks.is_empty() && !sec.git {
        // dpkg-source: "expected ^@@ at line N"
        return Err(malformed(i + 1, "expected a hunk (`@@ -`) after the ---/+++ headers"));
    }
    Ok(i)
}

fn parse_range(s: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(s).ok()?;
    let (a, b) = match s.split_once(',') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || b.is_some_and(|b| !digits(b)) {
        return None;
    }
    Some((a.parse().ok()?, b.map_or(Some(1), |b| b.parse().ok())?))
}

fn parse_hunk(lines: &[&[u8]], start: usize, strip_cr: bool) -> Result<(Hunk, usize), ParseError> {
    let head = trim_eol(lines[start]);
    let bad = || malformed(start + 1, format!("malformed hunk header `{}`", String::from_utf8_lossy(head)));
    // dpkg-source: ^@@ -\d+(,\d+)? \+\d+(,\d+)? @@(?: .*)?$
    let rest = &head[4..];
    let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let (old_start, mut olines) = parse_range(&rest[..sp]).ok_or_else(bad)?;
    let rest = rest[sp + 1..].strip_prefix(b"+").ok_or_else(bad)?;
    let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
    let (_new_start, mut nlines) = parse_range(&rest[..sp]).ok_or_else(bad)?;
    let tail = &rest[sp + 1..];
    if !(tail == b"@@" || tail.starts_with(b"@@ ")) {
        return Err(bad());
    }
    let mut hunk = Hunk {
        line: start + 1,
        old_first: if olines == 0 { old_start + 1 } else { old_start },
        old: Vec::new(),
        new: Vec::new(),
        prefix_context: 0,
        suffix_context: 0,
    };
    let mut kinds: Vec<LineKind> = Vec::new();
    let mut i = start + 1;
    while olines > 0 || nlines > 0 {
        let Some(&raw) = lines.get(i) else {
            // GNU patch: "assume blank lines got chopped" near the end; dpkg-source allows it
            // only when the missing lines can all be context.
            if olines == nlines && olines < 3 {
                for _ in 0..olines {
                    hunk.old.push(b"\n".to_vec());
                    hunk.new.push(b"\n".to_vec());
                    kinds.push(LineKind::Context);
                }
                break;
            }
            return Err(malformed(
                i,
                format!("unexpected end of patch inside the hunk at line {}", start + 1),
            ));
        };
        let mut l = raw.to_vec();
        if strip_cr && l.ends_with(b"\r\n") {
            l.truncate(l.len() - 2);
            l.push(b'\n');
        }
        if l.starts_with(b"\\ ") {
            no_newline(&mut hunk, &kinds);
            i += 1;
            continue;
        }
        let (kind, body): (LineKind, Vec<u8>) = match l.first() {
            Some(b' ') => (LineKind::Context, l[1..].to_vec()),
            Some(b'\n') => (LineKind::Context, l.clone()),
            Some(b'\r') if l == b"\r\n" => (LineKind::Context, b"\n".to_vec()),
            Some(b'-') => (LineKind::Remove, l[1..].to_vec()),
            Some(b'+') => (LineKind::Add, l[1..].to_vec()),
            _ => return Err(malformed(i + 1, "expected ` `, `-` or `+` at the start of a hunk line")),
        };
        match kind {
            LineKind::Context => {
                olines -= 1;
                nlines -= 1;
                hunk.old.push(body.clone());
                hunk.new.push(body);
            }
            LineKind::Remove => {
                olines -= 1;
                hunk.old.push(body);
            }
            LineKind::Add => {
                nlines -= 1;
                hunk.new.push(body);
            }
        }
        if olines < 0 || nlines < 0 {
            return Err(malformed(
                i + 1,
                format!("hunk at line {} has more lines than its header says", start + 1),
            ));
        }
        kinds.push(kind);
        i += 1;
    }
    if lines.get(i).is_some_and(|l| l.starts_with(b"\\ ")) {
        no_newline(&mut hunk, &kinds);
        i += 1;
    }
    hunk.prefix_context = kinds.iter().take_while(|k| **k == LineKind::Context).count() as i64;
    hunk.suffix_context = kinds.iter().rev().take_while(|k| **k == LineKind::Context).count() as i64;
    if hunk.prefix_context as usize == kinds.len() {
        hunk.suffix_context = 0;
    }
    Ok((hunk, i))
}

/// `\ No newline at end of file`: the line before it has no trailing newline.
fn no_newline(hunk: &mut Hunk, kinds: &[LineKind]) {
    let chop = |v: &mut Vec<Vec<u8>>| {
        if let Some(last) = v.last_mut()
            && last.ends_with(b"\n")
        {
            last.pop();
        }
    };
    match kinds.last() {
        Some(LineKind::Remove) => chop(&mut hunk.old),
        Some(LineKind::Add) => chop(&mut hunk.new),
        Some(LineKind::Context) => {
            chop(&mut hunk.old);
            chop(&mut hunk.new);
        }
        None => {}
    }
}

/// The file name of a `---`/`+++` line (dpkg-source's `_fetch_filename`: C-quoted, or up to
/// a tab, or else up to the first blank), and whether its timestamp is the epoch (old diffs
/// mark a missing file that way).
fn header_name(h: &[u8]) -> (Vec<u8>, bool) {
    if h.first() == Some(&b'"')
        && let Some((name, rest)) = unquote(h)
    {
        return (name, is_epoch(rest));
    }
    let cut = h.iter().position(|&b| b == b'\t').or_else(|| h.iter().position(|&b| b == b' ' || b == b'\t'));
    match cut {
        Some(p) => (h[..p].to_vec(), is_epoch(&h[p..])),
        None => (h.to_vec(), false),
    }
}

fn is_epoch(ts: &[u8]) -> bool {
    let t = String::from_utf8_lossy(ts);
    let t = t.trim();
    t.starts_with("1970-01-01 00:00:00") && (t.ends_with("+0000") || !t.contains('+') && !t.contains(" -"))
        || t.starts_with("Thu Jan  1 00:00:00 1970")
}

/// C-style quoted name as git writes it: returns the name and what follows the quote.
fn unquote(s: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some((out, &s[i + 1..])),
            b'\\' => {
                let c = *s.get(i + 1)?;
                i += 2;
                match c {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'r' => out.push(b'\r'),
                    b'0'..=b'7' => {
                        let mut v = u32::from(c - b'0');
                        for _ in 0..2 {
                            match s.get(i) {
                                Some(&d @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(d - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v as u8);
                    }
                    other => out.push(other),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// The two names of `diff --git A B`: quoted, or split where ` b/`-style second name starts
/// (the names are equal but for the prefix in every non-rename case).
fn split_git_names(s: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if s.first() == Some(&b'"') {
        let (a, rest) = unquote(s)?;
        let rest = rest.strip_prefix(b" ")?;
        let b = if rest.first() == Some(&b'"') { unquote(rest)?.0 } else { rest.to_vec() };
        return Some((a, b));
    }
    if let Some(q) = s.windows(2).position(|w| w == b" \"") {
        let (b, _) = unquote(&s[q + 1..])?;
        return Some((s[..q].to_vec(), b));
    }
    // Try every space: the split where both halves minus their first component agree.
    let spaces: Vec<usize> = s.iter().enumerate().filter(|(_, b)| **b == b' ').map(|(i, _)| i).collect();
    let tail = |x: &[u8]| x.iter().position(|&b| b == b'/').map(|p| x[p + 1..].to_vec());
    for &p in &spaces {
        let (a, b) = (&s[..p], &s[p + 1..]);
        if tail(a).is_some() && tail(a) == tail(b) {
            return Some((a.to_vec(), b.to_vec()));
        }
    }
    let p = *spaces.get(spaces.len() / 2)?;
    Some((s[..p].to_vec(), s[p + 1..].to_vec()))
}

/// Strips `strip` leading components (GNU patch counts runs of slashes as one) and refuses
/// names that could leave the tree: absolute, or with a `..` component (dpkg-source's
/// "insecure path" rule, applied to the name as written).
fn name_of(raw: &[u8], strip: u32, line: usize) -> Result<Option<Vec<u8>>, ParseError> {
    let shown = String::from_utf8_lossy(raw).into_owned();
    if raw.starts_with(b"/") {
        return Err(ParseError::Unsafe { line, file: shown, reason: "absolute path".into() });
    }
    if raw.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(ParseError::Unsafe { line, file: shown, reason: "path with a `..` component".into() });
    }
    let mut rest = raw;
    for _ in 0..strip {
        match rest.iter().position(|&b| b == b'/') {
            Some(p) => {
                rest = &rest[p..];
                while rest.first() == Some(&b'/') {
                    rest = &rest[1..];
                }
            }
            None => return Ok(None),
        }
    }
    let comps: Vec<&[u8]> = rest.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    if comps.is_empty() {
        return Ok(None);
    }
    Ok(Some(comps.join(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(p: &[u8]) -> Section {
        let mut f = parse(p, 1).unwrap();
        assert_eq!(f.sections.len(), 1);
        f.sections.remove(0)
    }

    #[test]
    fn prose_then_plain_diff() {
        let s = one(b"Description: x\n---\n f.c | 2 +-\nbut prose\n\n--- a/f.c\t2020\n+++ b/f.c\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n");
        assert_eq!(s.old.as_deref(), Some(&b"f.c"[..]));
        assert_eq!(s.hunks.len(), 1);
        assert_eq!(s.hunks[0].old, vec![b"a\n".to_vec(), b"b\n".to_vec()]);
        assert_eq!(s.hunks[0].new, vec![b"a\n".to_vec(), b"c\n".to_vec()]);
    }

    #[test]
    fn header_rules() {
        // dpkg-source: a `---` that is not followed by `+++` is an error, even in prose.
        assert!(matches!(parse(b"--- x\nprose\n", 1), Err(ParseError::Malformed { line: 2, .. })));
        assert!(matches!(
            parse(b"--- a/x\n+++ b/x\n@@ -1 +1 @@junk\n-a\n+b\n", 1),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            parse(b"--- a/x\n+++ b/x\n@@ -1,x +1 @@\n", 1),
            Err(ParseError::Malformed { line: 3, .. })
        ));
        assert!(matches!(
            parse(b"--- a/x\n+++ b/x\n@@ -1,5 +1,5 @@\n-a\n+b\n", 1),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(parse(b"--- a/x\n+++ b/x\nnothing\n", 1), Err(ParseError::Malformed { .. })));
    }

    #[test]
    fn chopped_blank_context_at_eof() {
        let s = one(b"--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n-a\n+b\n c\n");
        assert_eq!(s.hunks[0].old.last().unwrap(), b"\n");
    }

    #[test]
    fn names_strip_and_safety() {
        assert_eq!(name_of(b"a//b/./c", 1, 1).unwrap(), Some(b"b/c".to_vec()));
        assert_eq!(name_of(b"x", 1, 1).unwrap(), None);
        assert_eq!(name_of(b"x/y", 0, 1).unwrap(), Some(b"x/y".to_vec()));
        assert!(matches!(name_of(b"/etc/passwd", 1, 7), Err(ParseError::Unsafe { line: 7, .. })));
        assert!(matches!(name_of(b"a/../../x", 1, 1), Err(ParseError::Unsafe { .. })));
    }

    #[test]
    fn git_headers() {
        let p = b"From abc\nSubject: y\n---\n f | 1 +\n\ndiff --git a/old name b/new name\nsimilarity index 90%\nrename from old name\nrename to new name\nold mode 100644\nnew mode 100755\n--- a/old name\n+++ b/new name\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/n b/n\nnew file mode 100755\nindex 0000000..e69de29\ndiff --git a/d b/d\ndeleted file mode 100644\n--- a/d\n+++ /dev/null\n@@ -1 +0,0 @@\n-z\n-- \n2.39\n";
        let f = parse(p, 1).unwrap();
        assert_eq!(f.sections.len(), 3);
        let r = &f.sections[0];
        assert!(r.rename && r.git);
        assert_eq!(r.old.as_deref(), Some(&b"old name"[..]));
        assert_eq!(r.new.as_deref(), Some(&b"new name"[..]));
        assert_eq!(r.new_mode, Some(0o755));
        assert!(f.sections[1].old_absent && f.sections[1].hunks.is_empty());
        assert!(f.sections[2].new_absent);
    }

    #[test]
    fn binary_is_refused() {
        let p = b"diff --git a/x.png b/x.png\nindex 1..2 100644\nGIT binary patch\nliteral 1\n";
        assert!(matches!(parse(p, 1), Err(ParseError::Binary { line: 3, .. })));
        assert!(matches!(
            parse(b"diff --git a/x b/x\nBinary files a/x and b/x differ\n", 1),
            Err(ParseError::Binary { .. })
        ));
    }

    #[test]
    fn crlf_and_no_newline() {
        // Whole patch in CRLF: GNU patch strips the CRs of hunk lines.
        let s = one(b"--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n\\ No newline at end of file\r\n");
        assert_eq!(s.hunks[0].old, vec![b"a\n".to_vec()]);
        assert_eq!(s.hunks[0].new, vec![b"b".to_vec()]);
        // LF headers, CRLF content: the CRs are content.
        let s = one(b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\r\n+b\r\n");
        assert_eq!(s.hunks[0].new, vec![b"b\r\n".to_vec()]);
    }

    #[test]
    fn non_utf8_bytes_do_not_panic() {
        let s = one(b"\xff\xfe prose\n--- a/\xe9t\xe9\n+++ b/\xe9t\xe9\n@@ -1 +1 @@\n-\xff\n+\xfe\n");
        assert_eq!(s.new.as_deref(), Some(&b"\xe9t\xe9"[..]));
        assert_eq!(s.hunks[0].new, vec![b"\xfe\n".to_vec()]);
    }

    #[test]
    fn insertion_hunk_first_line() {
        let s = one(b"--- a/x\n+++ b/x\n@@ -5,0 +6,1 @@\n+n\n");
        assert_eq!(s.hunks[0].old_first, 6);
        assert!(s.hunks[0].old.is_empty());
    }
}
