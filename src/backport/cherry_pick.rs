//! The 3-way pick, in memory: the commit's change (its parent -> it, excluded paths put
//! back as they were) merged onto the older tree with git's merge (rename detection on, as
//! `git cherry-pick` does). Reads the upstream repository; writes nothing to disk (new
//! objects go to the in-memory store `Upstream::open` set up).

use git2::{FileMode, Index, IndexEntry, MergeFileInput, MergeFileOptions, MergeOptions, Oid, Tree};
use serde::Serialize;

use super::error::{BackportError, GitContext, Result};
use super::glob;
use super::unified::{self, FileChange};
use super::upstream::Upstream;

/// What to pick, and onto what.
pub struct Pick {
    pub commit: Oid,
    pub onto: Oid,
    /// Label of `onto` in conflict markers (the tag or ref name).
    pub onto_label: String,
    pub excludes: Vec<String>,
}

pub enum Merged {
    Clean { tree: Oid },
    Conflicts { index: Index, conflicts: Vec<Conflict> },
}

pub struct PickResult {
    pub merged: Merged,
    /// Paths the commit changes that `--exclude` dropped.
    pub dropped: Vec<String>,
    /// `--exclude` patterns that matched none of the commit's paths (likely a typo).
    pub unused_excludes: Vec<String>,
    /// The commit's own change, excluded paths removed: the reference for "is this still
    /// upstream's patch?".
    pub upstream_files: Vec<FileChange>,
    /// The commit's own change rendered, excluded paths removed.
    pub upstream_diff: Vec<u8>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub path: String,
    /// `content` (both sides changed the text), `deleted-in-onto` (the file is not in the
    /// older tree), `deleted-upstream` (the commit deletes a file the older tree changed).
    pub kind: String,
    pub mode: u32,
    #[serde(skip)]
    pub content: Vec<u8>,
    pub hunks: Vec<ConflictHunk>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictHunk {
    /// 1-based line of the `<<<<<<<` marker in the written file.
    pub line: usize,
    pub ours: String,
    pub theirs: String,
}

pub fn pick(up: &Upstream, req: &Pick) -> Result<PickResult> {
    let repo = &up.repo;
    let spec = up.spec.as_str();
    let commit =
        repo.find_commit(req.commit).git(|| format!("could not read commit {}", req.commit), spec)?;
    let short = short_id(req.commit);
    let ancestor = match commit.parent_count() {
        0 => empty_tree(up)?,
        1 => commit
            .parent(0)
            .and_then(|p| p.tree())
            .git(|| format!("could not read {short}'s parent"), spec)?,
        n => return Err(BackportError::MergeCommit { commit: req.commit.to_string(), parents: n }),
    };
    let theirs_full = commit.tree().git(|| format!("could not read {short}'s tree"), spec)?;
    let onto = repo
        .find_commit(req.onto)
        .and_then(|c| c.tree())
        .git(|| format!("could not read {}", req.onto), spec)?;

    let (theirs, dropped) = without_excluded(up, &ancestor, &theirs_full, &req.excludes)?;
    let diff = unified::diff_trees(repo, Some(&ancestor), &theirs)
        .git(|| format!("could not diff {short}"), spec)?;
    let rendered = unified::render(&diff).git(|| format!("could not diff {short}"), spec)?;
    for f in &rendered.files {
        if f.submodule {
            return Err(BackportError::Submodule {
                commit: req.commit.to_string(),
                path: f.path().to_string(),
            });
        }
        if f.binary {
            return Err(BackportError::Binary { commit: req.commit.to_string(), path: f.path().to_string() });
        }
    }
    if rendered.files.is_empty() {
        return Err(BackportError::Empty { commit: req.commit.to_string(), onto: req.onto_label.clone() });
    }

    let mut opts = MergeOptions::new();
    opts.find_renames(true);
    let mut index = repo
        .merge_trees(&ancestor, &onto, &theirs, Some(&opts))
        .git(|| format!("could not merge {short} onto {}", req.onto_label), spec)?;
    let merged = if index.has_conflicts() {
        let subject = String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned();
        let theirs_label = format!("{short} ({subject})");
        let conflicts = conflicts(up, &index, &req.onto_label, &theirs_label)?;
        Merged::Conflicts { index, conflicts }
    } else {
        let tree = index.write_tree_to(repo).git(|| "could not write the merged tree".into(), spec)?;
        Merged::Clean { tree }
    };
    let unused_excludes =
        req.excludes.iter().filter(|g| !dropped.iter().any(|p| glob::excludes(g, p))).cloned().collect();
    Ok(PickResult {
        merged,
        dropped,
        unused_excludes,
        upstream_files: rendered.files,
        upstream_diff: rendered.text,
    })
}

pub fn short_id(id: Oid) -> String {
    id.to_string()[..10].to_string()
}

fn empty_tree<'r>(up: &'r Upstream) -> Result<Tree<'r>> {
    let tb = up.repo.treebuilder(None).git(|| "could not build a tree".into(), &up.spec)?;
    let id = tb.write().git(|| "could not write the empty tree".into(), &up.spec)?;
    up.repo.find_tree(id).git(|| "could not read the empty tree".into(), &up.spec)
}

/// The commit's tree with every excluded path it changes put back as in its parent, and the
/// list of those paths.
fn without_excluded<'r>(
    up: &'r Upstream,
    ancestor: &Tree<'_>,
    theirs: &Tree<'r>,
    excludes: &[String],
) -> Result<(Tree<'r>, Vec<String>)> {
    let repo = &up.repo;
    if excludes.is_empty() {
        return Ok((theirs.clone(), Vec::new()));
    }
    // No rename detection here: each side of a rename is a path of its own to put back.
    let diff = repo
        .diff_tree_to_tree(Some(ancestor), Some(theirs), None)
        .git(|| "could not diff".into(), &up.spec)?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    let mut dropped = Vec::new();
    for delta in diff.deltas() {
        let path =
            delta.new_file().path().or(delta.old_file().path()).map(|p| p.to_string_lossy().into_owned());
        let Some(path) = path else { continue };
        if !excludes.iter().any(|g| glob::excludes(g, &path)) {
            continue;
        }
        match ancestor.get_path(std::path::Path::new(&path)) {
            Ok(entry) => {
                let mode = file_mode(entry.filemode() as u32);
                update.upsert(path.as_str(), entry.id(), mode);
            }
            Err(_) => {
                update.remove(path.as_str());
            }
        }
        dropped.push(path);
    }
    if dropped.is_empty() {
        return Ok((theirs.clone(), dropped));
    }
    let id =
        update.create_updated(repo, theirs).git(|| "could not drop the excluded paths".into(), &up.spec)?;
    let tree = repo.find_tree(id).git(|| "could not read the filtered tree".into(), &up.spec)?;
    Ok((tree, dropped))
}

pub fn file_mode(raw: u32) -> FileMode {
    match raw {
        0o100755 => FileMode::BlobExecutable,
        0o120000 => FileMode::Link,
        0o160000 => FileMode::Commit,
        0o040000 => FileMode::Tree,
        _ => FileMode::Blob,
    }
}

fn entry_path(e: &IndexEntry) -> String {
    String::from_utf8_lossy(&e.path).into_owned()
}

fn blob(up: &Upstream, e: &IndexEntry) -> Result<Vec<u8>> {
    let b = up.repo.find_blob(e.id).git(|| format!("could not read {}", entry_path(e)), &up.spec)?;
    Ok(b.content().to_vec())
}

/// Each conflicted path with its text as git writes it into a work tree (standard
/// `<<<<<<<`/`=======`/`>>>>>>>` markers). A file only one side has is written whole
/// between markers, so it cannot be taken by accident: the user keeps, edits or deletes it.
fn conflicts(up: &Upstream, index: &Index, ours_label: &str, theirs_label: &str) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    let iter = index.conflicts().git(|| "could not list conflicts".into(), &up.spec)?;
    for c in iter {
        let c = c.git(|| "could not read a conflict".into(), &up.spec)?;
        let path =
            c.their.as_ref().or(c.our.as_ref()).or(c.ancestor.as_ref()).map(entry_path).unwrap_or_default();
        let (kind, content, mode) = match (&c.ancestor, &c.our, &c.their) {
            (_, None, Some(t)) => {
                let text = blob(up, t)?;
                (
                    "deleted-in-onto",
                    whole_file_markers(&[], &text, &format!("{ours_label} (no such file)"), theirs_label),
                    t.mode,
                )
            }
            (_, Some(o), None) => {
                let text = blob(up, o)?;
                (
                    "deleted-upstream",
                    whole_file_markers(&text, &[], ours_label, &format!("{theirs_label} (deletes the file)")),
                    o.mode,
                )
            }
            (a, Some(o), Some(t)) => {
                let base = match a {
                    Some(a) => blob(up, a)?,
                    None => Vec::new(),
                };
                let (ours, theirs) = (blob(up, o)?, blob(up, t)?);
                let mut input_a = MergeFileInput::new();
                input_a.content(&base);
                let mut input_o = MergeFileInput::new();
                input_o.content(&ours);
                let mut input_t = MergeFileInput::new();
                input_t.content(&theirs);
                let mut opts = MergeFileOptions::new();
                opts.our_label(ours_label).their_label(theirs_label).style_standard(true);
                let merged = git2::merge_file(&input_a, &input_o, &input_t, Some(&mut opts))
                    .git(|| format!("could not merge {path}"), &up.spec)?;
                ("content", merged.content().to_vec(), t.mode)
            }
            (_, None, None) => continue,
        };
        let hunks = marker_hunks(&content);
        out.push(Conflict { path, kind: kind.to_string(), mode, content, hunks });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn whole_file_markers(ours: &[u8], theirs: &[u8], ours_label: &str, theirs_label: &str) -> Vec<u8> {
    let mut out = format!("<<<<<<< {ours_label}\n").into_bytes();
    out.extend_from_slice(ours);
    if !ours.is_empty() && !ours.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(b"=======\n");
    out.extend_from_slice(theirs);
    if !theirs.is_empty() && !theirs.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!(">>>>>>> {theirs_label}\n").as_bytes());
    out
}

/// The conflict regions of a file with standard markers.
pub fn marker_hunks(content: &[u8]) -> Vec<ConflictHunk> {
    let text = String::from_utf8_lossy(content);
    let mut out = Vec::new();
    let mut cur: Option<(usize, String, String, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("<<<<<<<") {
            cur = Some((i + 1, String::new(), String::new(), false));
        } else if line.starts_with("=======") && cur.is_some() {
            if let Some(c) = cur.as_mut() {
                c.3 = true;
            }
        } else if line.starts_with(">>>>>>>") {
            if let Some((line, ours, theirs, _)) = cur.take() {
                out.push(ConflictHunk { line, ours, theirs });
            }
        } else if let Some(c) = cur.as_mut() {
            let side = if c.3 { &mut c.2 } else { &mut c.1 };
            side.push_str(line);
            side.push('\n');
        }
    }
    out
}

/// The first line (1-based) that still holds a conflict marker, if any.
pub fn first_marker(content: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(content)
        .lines()
        .position(|l| {
            l.starts_with("<<<<<<< ")
                || l == "<<<<<<<"
                || l.starts_with(">>>>>>> ")
                || l == ">>>>>>>"
                || l == "======="
        })
        .map(|i| i + 1)
}

/// A conflicted path as the user resolved it: content and mode, or `None` (deleted).
pub type Resolution = (String, Option<(Vec<u8>, u32)>);

/// The merged tree with each conflicted path replaced by the user's resolution (`None`:
/// the user deleted the file).
pub fn resolve(up: &Upstream, index: &mut Index, resolved: &[Resolution]) -> Result<Oid> {
    let repo = &up.repo;
    // Every path any conflict touches (a rename conflict has several) leaves the index; the
    // user's files are the resolution.
    let mut paths = Vec::new();
    for c in index.conflicts().git(|| "could not list conflicts".into(), &up.spec)? {
        let c = c.git(|| "could not read a conflict".into(), &up.spec)?;
        paths.extend([c.ancestor, c.our, c.their].iter().flatten().map(entry_path));
    }
    paths.sort();
    paths.dedup();
    for p in &paths {
        index.conflict_remove(std::path::Path::new(p)).git(|| format!("could not resolve {p}"), &up.spec)?;
        let _ = index.remove_path(std::path::Path::new(p));
    }
    for (path, content) in resolved {
        if let Some((bytes, mode)) = content {
            let id = repo.blob(bytes).git(|| format!("could not store {path}"), &up.spec)?;
            let entry = IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: *mode,
                uid: 0,
                gid: 0,
                file_size: bytes.len() as u32,
                id,
                flags: (path.len().min(0xfff)) as u16,
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            };
            index.add(&entry).git(|| format!("could not store {path}"), &up.spec)?;
        }
    }
    index.write_tree_to(repo).git(|| "could not write the resolved tree".into(), &up.spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_found() {
        let text = b"a\n<<<<<<< v1\nold\n=======\nnew\nnew2\n>>>>>>> abc (fix)\nb\n";
        let h = marker_hunks(text);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].line, 2);
        assert_eq!(h[0].ours, "old\n");
        assert_eq!(h[0].theirs, "new\nnew2\n");
        assert_eq!(first_marker(text), Some(2));
        assert_eq!(first_marker(b"a\n==== heading\n"), None);
    }
}
