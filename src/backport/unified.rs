//! Renders the difference between two trees as the diff a quilt patch carries: `-p1`
//! (`a/`, `b/`), unified, 3 lines of context, and git's extended header lines only where a
//! plain unified diff cannot say it (a rename, a mode change, an empty or executable new
//! file), as GNU patch >= 2.7 and `git apply` read them. Also the "same change?" test that
//! tells an upstream patch from a backport: the hunks, compared without line numbers.

use git2::{Delta, Diff, DiffFindOptions, DiffOptions, FileMode, Repository, Tree};

/// One file's part of a diff: its paths and hunks (lines with their `+`/`-`/` ` prefix,
/// without the `@@` line numbers), for comparing two diffs of the same change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub old_path: Option<String>,
    pub new_path: Option<String>,
    pub hunks: Vec<Vec<u8>>,
    pub binary: bool,
    pub submodule: bool,
}

impl FileChange {
    pub fn path(&self) -> &str {
        self.new_path.as_deref().or(self.old_path.as_deref()).unwrap_or("")
    }
}

pub struct Rendered {
    pub text: Vec<u8>,
    pub files: Vec<FileChange>,
}

/// `old` -> `new`, with rename detection as `git diff -M` does (50 % similarity).
pub fn diff_trees<'r>(
    repo: &'r Repository,
    old: Option<&Tree<'_>>,
    new: &Tree<'_>,
) -> Result<Diff<'r>, git2::Error> {
    let mut opts = DiffOptions::new();
    opts.context_lines(3).interhunk_lines(0).show_binary(false);
    let mut diff = repo.diff_tree_to_tree(old, Some(new), Some(&mut opts))?;
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))?;
    Ok(diff)
}

pub fn render(diff: &Diff<'_>) -> Result<Rendered, git2::Error> {
    let mut text = Vec::new();
    let mut files = Vec::new();
    for idx in 0..diff.deltas().len() {
        let delta = diff.get_delta(idx).expect("index below the delta count");
        let status = delta.status();
        if status == Delta::Unmodified {
            continue;
        }
        let old_path = delta.old_file().path().map(|p| p.to_string_lossy().into_owned());
        let new_path = delta.new_file().path().map(|p| p.to_string_lossy().into_owned());
        let old_mode = delta.old_file().mode();
        let new_mode = delta.new_file().mode();
        let submodule = old_mode == FileMode::Commit || new_mode == FileMode::Commit;
        let (old_path, new_path) = match status {
            Delta::Added => (None, new_path),
            Delta::Deleted => (old_path, None),
            _ => (old_path, new_path),
        };
        // git2 gives no patch for a binary file.
        let patch = if submodule { None } else { git2::Patch::from_diff(diff, idx)? };
        let binary = !submodule && patch.as_ref().is_none_or(|p| p.delta().flags().is_binary());
        let Some(patch) = patch.filter(|_| !binary) else {
            files.push(FileChange { old_path, new_path, hunks: Vec::new(), binary, submodule });
            continue;
        };
        let mut hunks = Vec::new();
        let mut body = Vec::new();
        for h in 0..patch.num_hunks() {
            let (hunk, lines) = patch.hunk(h)?;
            body.extend_from_slice(hunk.header());
            let mut sig = Vec::new();
            for l in 0..lines {
                let line = patch.line_in_hunk(h, l)?;
                let origin = line.origin();
                if !matches!(origin, ' ' | '+' | '-') {
                    // git2's end-of-file markers; the missing newline is written below.
                    continue;
                }
                let mut out = vec![origin as u8];
                out.extend_from_slice(line.content());
                if !out.ends_with(b"\n") {
                    out.extend_from_slice(b"\n\\ No newline at end of file\n");
                }
                body.extend_from_slice(&out);
                sig.extend_from_slice(&out);
            }
            hunks.push(sig);
        }
        let change = FileChange { old_path, new_path, hunks, binary, submodule };
        header(&mut text, &change, status, old_mode, new_mode);
        text.extend_from_slice(&body);
        files.push(change);
    }
    Ok(Rendered { text, files })
}

fn mode_str(m: FileMode) -> String {
    format!("{:o}", u32::from(m))
}

fn header(out: &mut Vec<u8>, c: &FileChange, status: Delta, old_mode: FileMode, new_mode: FileMode) {
    let a = c.old_path.as_deref().unwrap_or_else(|| c.path());
    let b = c.new_path.as_deref().unwrap_or_else(|| c.path());
    let mut git = Vec::new();
    match status {
        Delta::Added if new_mode != FileMode::Blob || c.hunks.is_empty() => {
            git.push(format!("new file mode {}", mode_str(new_mode)));
        }
        Delta::Deleted if c.hunks.is_empty() => git.push(format!("deleted file mode {}", mode_str(old_mode))),
        Delta::Renamed => {
            git.push(format!("rename from {a}"));
            git.push(format!("rename to {b}"));
        }
        _ => {}
    }
    if matches!(status, Delta::Modified | Delta::Renamed) && old_mode != new_mode {
        git.insert(0, format!("new mode {}", mode_str(new_mode)));
        git.insert(0, format!("old mode {}", mode_str(old_mode)));
    }
    if !git.is_empty() {
        out.extend_from_slice(format!("diff --git a/{a} b/{b}\n").as_bytes());
        for l in git {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
    }
    if c.hunks.is_empty() {
        return;
    }
    let minus = c.old_path.as_ref().map(|p| format!("a/{p}")).unwrap_or_else(|| "/dev/null".into());
    let plus = c.new_path.as_ref().map(|p| format!("b/{p}")).unwrap_or_else(|| "/dev/null".into());
    out.extend_from_slice(format!("--- {minus}\n+++ {plus}\n").as_bytes());
}

/// Do two diffs make the same change? Same files, same hunks, line numbers aside.
pub fn same_change(a: &[FileChange], b: &[FileChange]) -> bool {
    let key = |f: &FileChange| (f.old_path.clone(), f.new_path.clone(), f.hunks.clone());
    let mut ka: Vec<_> = a.iter().map(key).collect();
    let mut kb: Vec<_> = b.iter().map(key).collect();
    ka.sort();
    kb.sort();
    ka == kb
}
