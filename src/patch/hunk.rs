//! Applies a file's hunks to its bytes with GNU patch's `-F0 -N` rules, as dpkg-source runs
//! it: no fuzz, offsets allowed (searched outward from the expected line, alternately after
//! and before), hunks in order and never overlapping, and a hunk with fewer leading than
//! trailing context lines anchored at the start of the file (fewer trailing: at the end),
//! as GNU patch 2.7's `locate_hunk` does. Lines are compared byte for byte.

use serde::Serialize;

use super::diff::Hunk;

/// A hunk that applied at an offset from where the patch said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HunkOffset {
    pub hunk: usize,
    pub offset: i64,
}

/// A hunk that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HunkFailure {
    /// 1-based hunk number within the file's section.
    pub hunk: usize,
    /// Line of the hunk's `@@` header in the patch file.
    pub patch_line: usize,
    pub reason: String,
    /// Where it would match with the least fuzz GNU patch knows (line, fuzz), if anywhere.
    pub nearest: Option<(usize, usize)>,
}

pub struct Applied {
    pub data: Vec<u8>,
    pub offsets: Vec<HunkOffset>,
}

/// Where each line starts, and where the last one ends: line `i` (0-based) is
/// `input[starts[i]..starts[i + 1]]`, with its newline. memchr finds the newlines (a patched
/// file is indexed once per patch, and most of a long series' files are large: a byte-by-byte
/// split was the engine's hottest loop), and the lines are never copied one by one.
fn line_starts(b: &[u8]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(memchr::memchr_iter(b'\n', b).count() + 2);
    starts.push(0);
    starts.extend(memchr::memchr_iter(b'\n', b).map(|i| i + 1));
    if starts.last() != Some(&b.len()) {
        starts.push(b.len());
    }
    starts
}

struct Matcher<'a> {
    input: &'a [u8],
    starts: Vec<usize>,
    in_offset: i64,
    last_frozen: i64,
}

impl Matcher<'_> {
    fn input_lines(&self) -> i64 {
        self.starts.len() as i64 - 1
    }

    /// Line `i`, 0-based, with its newline.
    fn line(&self, i: usize) -> &[u8] {
        &self.input[self.starts[i]..self.starts[i + 1]]
    }

    /// Lines `from..to` (0-based), as one slice of the input.
    fn lines(&self, from: usize, to: usize) -> &[u8] {
        &self.input[self.starts[from]..self.starts[to.max(from)]]
    }

    /// Does the hunk's old side match at `at` (1-based), ignoring `pf` leading and `sf`
    /// trailing lines (GNU patch's `patch_match`)?
    fn matches(&self, h: &Hunk, at: i64, pf: i64, sf: i64) -> bool {
        let pat = h.old.len() as i64;
        (pf..pat - sf).all(|p| {
            let i = at + p;
            i >= 1 && i <= self.input_lines() && self.line((i - 1) as usize) == h.old[p as usize].as_slice()
        })
    }

    /// GNU patch's `locate_hunk` for a given fuzz; 0 when nothing matches. Does not move
    /// `in_offset` (the caller does, on success).
    fn locate(&self, h: &Hunk, fuzz: i64) -> (i64, i64) {
        let first_guess = h.old_first + self.in_offset;
        let pat_lines = h.old.len() as i64;
        let (pc, sc) = (h.prefix_context, h.suffix_context);
        let context = pc.max(sc);
        let mut prefix_fuzz = fuzz + pc - context;
        let suffix_fuzz = fuzz + sc - context;
        let max_where = self.input_lines() - (pat_lines - suffix_fuzz) + 1;
        let min_where = self.last_frozen + 1;
        let max_pos_offset = max_where - first_guess;
        let mut max_neg_offset = first_guess - min_where;
        let max_offset = max_pos_offset.max(max_neg_offset);
        if pat_lines == 0 {
            return (first_guess, 0);
        }
        if first_guess <= max_neg_offset {
            max_neg_offset = first_guess - 1;
        }
        if prefix_fuzz < 0 && h.old_first <= 1 {
            // Can only match the start of the file.
            if suffix_fuzz < 0 && (pat_lines != self.input_lines() || pc < self.last_frozen) {
                return (0, 0);
            }
            let offset = 1 - first_guess;
            if self.last_frozen <= pc
                && offset <= max_pos_offset
                && self.matches(h, first_guess + offset, 0, suffix_fuzz)
            {
                return (first_guess + offset, offset);
            }
            return (0, 0);
        } else if prefix_fuzz < 0 {
            prefix_fuzz = 0;
        }
        if suffix_fuzz < 0 {
            // Can only match the end of the file.
            let offset = first_guess - (self.input_lines() - pat_lines + 1);
            if offset <= max_neg_offset && self.matches(h, first_guess - offset, prefix_fuzz, 0) {
                return (first_guess - offset, -offset);
            }
            return (0, 0);
        }
        let min_offset = if max_pos_offset < 0 {
            first_guess - max_where
        } else if max_neg_offset < 0 {
            first_guess - min_where
        } else {
            0
        };
        let mut offset = min_offset;
        while offset <= max_offset {
            if offset <= max_pos_offset && self.matches(h, first_guess + offset, prefix_fuzz, suffix_fuzz) {
                return (first_guess + offset, offset);
            }
            if offset <= max_neg_offset && self.matches(h, first_guess - offset, prefix_fuzz, suffix_fuzz) {
                return (first_guess - offset, -offset);
            }
            offset += 1;
        }
        (0, 0)
    }
}

/// Applies `hunks` to `input`; on the first hunk that does not apply, says which and why.
pub fn apply(input: &[u8], hunks: &[Hunk]) -> Result<Applied, HunkFailure> {
    let mut m = Matcher { input, starts: line_starts(input), in_offset: 0, last_frozen: 0 };
    let mut out: Vec<u8> = Vec::with_capacity(input.len() + 256);
    let mut after_newline = true;
    let mut offsets = Vec::new();
    for (n, h) in hunks.iter().enumerate() {
        let (at, offset) = m.locate(h, 0);
        let fail = |reason: &str, m: &Matcher| HunkFailure {
            hunk: n + 1,
            patch_line: h.line,
            reason: reason.to_string(),
            nearest: nearest(m, h),
        };
        if at == 0 {
            return Err(fail("its context or removed lines do not match (fuzz 0)", &m));
        }
        if at - 1 < m.last_frozen {
            return Err(fail("misordered hunks: it would apply before the previous hunk", &m));
        }
        m.in_offset += offset;
        // Like GNU patch's "Hunk #N succeeded at L (offset K lines)": the running offset.
        if m.in_offset != 0 {
            offsets.push(HunkOffset { hunk: n + 1, offset: m.in_offset });
        }
        // Copy the input up to the hunk, then the hunk's new side.
        let upto = (at - 1).min(m.input_lines());
        push_line(&mut out, m.lines(m.last_frozen as usize, upto as usize), &mut after_newline);
        for l in &h.new {
            push_line(&mut out, l, &mut after_newline);
        }
        m.last_frozen = (upto + h.old.len() as i64).min(m.input_lines());
    }
    let end = m.input_lines() as usize;
    push_line(&mut out, m.lines(m.last_frozen as usize, end), &mut after_newline);
    Ok(Applied { data: out, offsets })
}

/// GNU patch's copy rule: a line written after one that had no newline gets one first. `l`
/// is one line or a run of input lines (only the input's last line can lack its newline, so
/// the rule is the same for the run as for each of its lines).
fn push_line(out: &mut Vec<u8>, l: &[u8], after_newline: &mut bool) {
    if l.is_empty() {
        return;
    }
    if !*after_newline {
        out.push(b'\n');
    }
    out.extend_from_slice(l);
    *after_newline = l.ends_with(b"\n");
}

/// The least fuzz at which GNU patch would place this hunk, and where (for `check`).
fn nearest(m: &Matcher, h: &Hunk) -> Option<(usize, usize)> {
    let max = h.prefix_context.max(h.suffix_context);
    (1..=max).find_map(|fuzz| {
        let (at, _) = m.locate(h, fuzz);
        (at > 0).then_some((at as usize, fuzz as usize))
    })
}

#[cfg(test)]
mod tests {
    use super::super::diff;
    use super::*;

    fn hunks(patch: &str) -> Vec<Hunk> {
        diff::parse(patch.as_bytes(), 1).unwrap().sections.remove(0).hunks
    }

    fn run(input: &str, patch: &str) -> Result<(String, Vec<HunkOffset>), HunkFailure> {
        apply(input.as_bytes(), &hunks(patch)).map(|a| (String::from_utf8(a.data).unwrap(), a.offsets))
    }

    const P: &str = "--- a/f\n+++ b/f\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n";

    #[test]
    fn exact_and_offsets() {
        assert_eq!(run("a\nb\nc\nd\ne\nf\n", P).unwrap().0, "a\nb\nc\nD\ne\nf\n");
        let (out, offs) = run("x\ny\na\nb\nc\nd\ne\n", P).unwrap();
        assert_eq!(out, "x\ny\na\nb\nc\nD\ne\n");
        assert_eq!(offs, vec![HunkOffset { hunk: 1, offset: 2 }]);
        let (_, offs) = run("c\nd\ne\n", P).unwrap();
        assert_eq!(offs, vec![HunkOffset { hunk: 1, offset: -2 }]);
    }

    #[test]
    fn searches_outward_after_first() {
        // Same context at -1 and +1: GNU tries +offset before -offset.
        let input = "x\nc\nd\ne\nx\nx\nx\nc\nd\ne\n";
        let p = "--- a/f\n+++ b/f\n@@ -5,3 +5,3 @@\n c\n-d\n+D\n e\n";
        let (out, offs) = run(input, p).unwrap();
        assert_eq!(offs, vec![HunkOffset { hunk: 1, offset: 3 }]);
        assert_eq!(out, "x\nc\nd\ne\nx\nx\nx\nc\nD\ne\n");
    }

    #[test]
    fn no_fuzz_reports_nearest() {
        let err = run("a\nb\nX\nd\ne\nf\n", P).unwrap_err();
        assert_eq!(err.hunk, 1);
        assert_eq!(err.patch_line, 3);
        assert_eq!(err.nearest, Some((3, 1)));
        assert!(run("q\n", P).unwrap_err().nearest.is_none());
    }

    #[test]
    fn fewer_leading_context_anchors_at_start() {
        let p = "--- a/f\n+++ b/f\n@@ -1,3 +1,4 @@\n+new\n a\n b\n c\n";
        assert_eq!(run("a\nb\nc\nd\n", p).unwrap().0, "new\na\nb\nc\nd\n");
        // The same lines further down do not count: the hunk must be at line 1.
        assert!(run("z\na\nb\nc\n", p).is_err());
    }

    #[test]
    fn fewer_trailing_context_anchors_at_end() {
        let p = "--- a/f\n+++ b/f\n@@ -8,3 +8,4 @@\n x\n y\n z\n+end\n";
        assert_eq!(run("x\ny\nz\n", p).unwrap().0, "x\ny\nz\nend\n");
        assert!(run("x\ny\nz\nmore\n", p).is_err());
    }

    #[test]
    fn no_newline_at_end() {
        let p = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n";
        assert_eq!(run("a\nb", p).unwrap().0, "a\nc");
        assert!(run("a\nb\n", p).is_err(), "b with a newline is not b without");
        let add_nl = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-b\n\\ No newline at end of file\n+b\n";
        assert_eq!(run("b", add_nl).unwrap().0, "b\n");
    }

    #[test]
    fn crlf_lines_are_bytes() {
        let p = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n";
        assert_eq!(run("a\r\nb\r\n", p).unwrap().0, "a\r\nc\r\n");
        assert!(run("a\nb\n", p).is_err());
    }

    #[test]
    fn insertions_and_several_hunks() {
        let p = "--- a/f\n+++ b/f\n@@ -1,0 +2 @@\n+one\n@@ -3,0 +5 @@\n+three\n";
        assert_eq!(run("a\nb\nc\n", p).unwrap().0, "a\none\nb\nc\nthree\n");
        let new = "--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+x\n+y\n";
        assert_eq!(run("", new).unwrap().0, "x\ny\n");
    }

    #[test]
    fn hunks_apply_in_order() {
        let p = "--- a/f\n+++ b/f\n@@ -5,1 +5,1 @@\n-e\n+E\n@@ -1,1 +1,1 @@\n-e\n+X\n";
        // The second hunk may not go back before the first one.
        let err = run("a\nb\nc\nd\ne\n", p).unwrap_err();
        assert_eq!(err.hunk, 2);
    }

    #[test]
    fn line_starts_cover_every_byte_once() {
        for (input, starts) in [
            ("", vec![0]),
            ("a", vec![0, 1]),
            ("a\n", vec![0, 2]),
            ("a\nb", vec![0, 2, 3]),
            ("a\n\nb\n", vec![0, 2, 3, 5]),
        ] {
            assert_eq!(line_starts(input.as_bytes()), starts, "{input:?}");
        }
    }

    #[test]
    fn runs_of_lines_are_copied_whole_with_the_last_newline_rule() {
        // The input's last line has no newline and a hunk adds after it: the run copied
        // before the hunk gets the newline, as each line would.
        let p = "--- a/f\n+++ b/f\n@@ -3 +3,2 @@\n-c\n\\ No newline at end of file\n+C\n+d\n";
        assert_eq!(run("a\nb\nc", p).unwrap().0, "a\nb\nC\nd\n");
        let p = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+A\n";
        assert_eq!(run("a\nb\nc", p).unwrap().0, "A\nb\nc", "the tail run keeps its missing newline");
    }

    #[test]
    fn non_utf8() {
        let h = diff::parse(b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-\xff\n+\xfe\n", 1)
            .unwrap()
            .sections
            .remove(0)
            .hunks;
        assert_eq!(apply(b"\xff\n", &h).unwrap().data, b"\xfe\n");
    }
}
