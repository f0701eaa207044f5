//! Applies one patch file to the overlay, all or nothing, with dpkg-source's GNU patch
//! options (`-t -F0 -N -u -E`, `-pN` from the series): which file each section patches,
//! creation, deletion, git renames, copies and modes. Records, per patch, each touched
//! file's state before the patch: the `.pc/<patch>/` backups quilt keeps.

use std::collections::BTreeMap;

use serde::Serialize;

use super::diff::{self, ParseError, Section};
use super::hunk::{self, HunkFailure};
use super::tree::{FileState, Overlay, PathProblem};
use crate::fsx::FsError;

/// A hunk applied at an offset, in a named file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOffset {
    pub file: String,
    pub hunk: usize,
    pub offset: i64,
}

#[derive(Debug)]
pub enum Failure {
    Parse(ParseError),
    Unsafe {
        line: usize,
        file: String,
        reason: String,
    },
    Io(FsError),
    /// A hunk does not apply (`hunk` holds the details).
    Hunk {
        file: String,
        fail: HunkFailure,
    },
    /// The file is not in the state the section needs (missing, already there, ...).
    File {
        line: usize,
        file: String,
        reason: String,
    },
}

pub struct PatchApplied {
    /// Each touched file's state before this patch (None: it did not exist).
    pub backups: BTreeMap<Vec<u8>, Option<FileState>>,
    pub offsets: Vec<FileOffset>,
}

fn shown(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// GNU patch's choice among existing names: fewest components, then shortest base name,
/// then shortest name; the old name wins ties.
fn best<'a>(names: &[&'a Vec<u8>]) -> Option<&'a Vec<u8>> {
    names.iter().copied().min_by_key(|n| {
        let comps = n.iter().filter(|&&b| b == b'/').count();
        let base = n.rsplit(|&b| b == b'/').next().map_or(0, <[u8]>::len);
        (comps, base, n.len())
    })
}

/// Applies `bytes` (a patch with strip level `strip`) to the overlay. On failure the overlay
/// is as it was before.
pub fn apply_patch(ov: &mut Overlay, bytes: &[u8], strip: u32) -> Result<PatchApplied, Failure> {
    let parsed = diff::parse(bytes, strip).map_err(Failure::Parse)?;
    let mut done = PatchApplied { backups: BTreeMap::new(), offsets: Vec::new() };
    for sec in &parsed.sections {
        if let Err(f) = apply_section(ov, sec, &mut done) {
            for (path, before) in std::mem::take(&mut done.backups) {
                ov.set(&path, before).map_err(|p| problem(sec, &path, p))?;
            }
            return Err(f);
        }
    }
    Ok(done)
}

fn problem(sec: &Section, path: &[u8], p: PathProblem) -> Failure {
    match p {
        PathProblem::Unsafe(reason) => Failure::Unsafe { line: sec.line, file: shown(path), reason },
        PathProblem::Io(e) => Failure::Io(e),
    }
}

fn state(ov: &mut Overlay, sec: &Section, path: &[u8]) -> Result<Option<FileState>, Failure> {
    ov.get(path).map(|s| s.cloned()).map_err(|p| problem(sec, path, p))
}

fn exists(ov: &mut Overlay, sec: &Section, path: &[u8]) -> Result<bool, Failure> {
    ov.get(path).map(|s| s.is_some()).map_err(|p| problem(sec, path, p))
}

fn apply_section(ov: &mut Overlay, sec: &Section, done: &mut PatchApplied) -> Result<(), Failure> {
    let file_err = |file: &[u8], reason: &str| Failure::File {
        line: sec.line,
        file: shown(file),
        reason: reason.into(),
    };
    // Which file is read (input) and which is written (output).
    let creation_hunk =
        sec.hunks.first().is_some_and(|h| h.old.is_empty() && h.old_first <= 1) && sec.hunks.len() == 1;
    let (input, output): (Option<Vec<u8>>, Option<Vec<u8>>) = if sec.old_absent {
        (None, sec.new.clone().or(sec.old.clone()))
    } else if sec.new_absent {
        (sec.old.clone().or(sec.new.clone()), None)
    } else if sec.git && (sec.rename || sec.copy) {
        (sec.old.clone(), sec.new.clone())
    } else {
        let names: Vec<&Vec<u8>> = [&sec.old, &sec.new].into_iter().flatten().collect();
        let mut existing = Vec::new();
        for n in &names {
            if exists(ov, sec, n)? {
                existing.push(*n);
            }
        }
        let pick = match best(&existing) {
            Some(p) => p.clone(),
            None if creation_hunk || sec.git => sec.new.clone().or(sec.old.clone()).expect("a name exists"),
            None => {
                let n = names.first().map(|n| n.as_slice()).unwrap_or_default();
                return Err(file_err(n, "can't find file to patch"));
            }
        };
        let exists = existing.contains(&&pick);
        (exists.then(|| pick.clone()), Some(pick))
    };
    if input.is_none() && output.is_none() {
        return Err(file_err(b"", "no usable file name"));
    };
    if let Some(p) = &input
        && !exists(ov, sec, p)?
    {
        return Err(file_err(p, "the file to patch does not exist"));
    }
    if let Some(out) = &output
        && input.as_ref() != Some(out)
        && let Some(existing) = ov.get(out).map_err(|e| problem(sec, out, e))?
        && !(input.is_none() && existing.data.is_empty())
    {
        // GNU patch -N: a creation over an existing file is a reversed or applied patch.
        return Err(file_err(out, "the file to create already exists"));
    }
    for p in [&input, &output].into_iter().flatten() {
        if !done.backups.contains_key(p) {
            let before = state(ov, sec, p)?;
            done.backups.insert(p.clone(), before);
        }
    }
    let target = output.as_ref().or(input.as_ref()).expect("one side named");
    // The input is borrowed from the overlay, not copied: only the result is new.
    let in_state = match &input {
        Some(p) => ov.peek(p).flatten(),
        None => None,
    };
    let source = in_state.map(|s| s.data.as_slice()).unwrap_or_default();
    let in_mode = in_state.map(|s| s.mode);
    let applied =
        hunk::apply(source, &sec.hunks).map_err(|fail| Failure::Hunk { file: shown(target), fail })?;
    for o in &applied.offsets {
        done.offsets.push(FileOffset { file: shown(target), hunk: o.hunk, offset: o.offset });
    }
    let mode = sec.new_mode.or(in_mode).unwrap_or(0o644);
    let set = |ov: &mut Overlay, p: &[u8], s: Option<FileState>| ov.set(p, s).map_err(|e| problem(sec, p, e));
    match &output {
        None => {
            if !applied.data.is_empty() {
                let p = input.as_ref().expect("deletion names its input");
                return Err(file_err(p, "not deleting the file: its content differs from the patch"));
            }
            set(ov, input.as_ref().expect("deletion names its input"), None)?;
        }
        Some(out) => {
            // dpkg-source passes -E: a file left empty is removed.
            let result =
                if applied.data.is_empty() { None } else { Some(FileState::new(applied.data, mode)) };
            set(ov, out, result)?;
            if let Some(inp) = &input
                && inp != out
                && sec.rename
            {
                set(ov, inp, None)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_name_rule() {
        let a = b"x/y/f.c".to_vec();
        let b = b"x/f.c.orig".to_vec();
        let c = b"x/f.c".to_vec();
        assert_eq!(best(&[&a, &b]), Some(&b));
        assert_eq!(best(&[&b, &c]), Some(&c));
        assert_eq!(best(&[&c, &c.clone()]), Some(&c));
    }
}
