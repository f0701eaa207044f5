//! `srukit backport` as steps: open the upstream repository, find the tree to pick onto,
//! pick in memory, then either export the patch (and list it in backport.toml) or write the
//! conflicted files into a work dir for `--continue`. Reads the upstream repository and
//! --tree's debian/changelog; writes `patches/<name>/` only when the pick is clean.

use std::path::{Path, PathBuf};

use git2::Oid;
use serde::Serialize;

use super::cherry_pick::{self, Conflict, Merged, Pick};
use super::continue_;
use super::error::{BackportError, GitContext, Result};
use super::export::{self, BackportPatch, HeaderInput, OriginKind};
use super::manifest_edit::{self, ManifestChange, NewManifest, TreeFacts};
use super::trailers;
use super::unified;
use super::upstream::{self, Upstream};
use crate::reporter::Reporter;

/// What the user asked for.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Request {
    pub upstream: String,
    pub commit: String,
    pub onto: Option<String>,
    pub tree: Option<PathBuf>,
    /// `patches/<name>`.
    pub into: PathBuf,
    pub excludes: Vec<String>,
    pub workdir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Report {
    Exported(Exported),
    Conflicts(Conflicted),
}

#[derive(Debug, Serialize)]
pub struct Exported {
    pub patch: PathBuf,
    pub patch_change: export::FileChange,
    /// How `onto` was chosen, when srukit chose it.
    pub onto_from: Option<String>,
    pub origin: OriginKind,
    pub commit: String,
    pub onto: String,
    pub onto_commit: String,
    pub dropped: Vec<String>,
    pub manifest: PathBuf,
    pub manifest_change: ManifestChange,
    pub fields: Vec<(String, String)>,
    /// `Fixes #N` issue numbers that could not become URLs: the upstream's forge is unknown.
    pub unplaced_issues: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct Conflicted {
    pub commit: String,
    pub onto: String,
    pub onto_from: Option<String>,
    pub workdir: PathBuf,
    pub conflicts: Vec<Conflict>,
    pub dropped: Vec<String>,
}

/// Where `--onto` came from, said to the user.
pub struct Onto {
    pub label: String,
    pub id: Oid,
    /// Why this ref, when srukit chose it from --tree.
    pub from: Option<String>,
}

pub fn backport(req: &Request, reporter: &dyn Reporter) -> Result<Report> {
    let up = if upstream::is_url(&req.upstream) {
        let step = reporter.step(&format!("fetch {}", req.upstream));
        let up = Upstream::open(&req.upstream)?;
        step.finish("ok");
        up
    } else {
        Upstream::open(&req.upstream)?
    };
    let commit = up.commit(&req.commit)?.id();
    let onto = resolve_onto(&up, req, reporter)?;
    // Fail before picking, not after the user resolved conflicts.
    tree_facts(req)?;
    let pick = Pick { commit, onto: onto.id, onto_label: onto.label.clone(), excludes: req.excludes.clone() };
    let result = cherry_pick::pick(&up, &pick)?;
    for g in &result.unused_excludes {
        reporter.warn(&format!("--exclude {g} matched no path the commit changes"));
    }
    match result.merged {
        Merged::Clean { tree } => {
            let mut e = export_tree(&up, req, &pick, tree, &result.upstream_files, &result.dropped, false)?;
            e.onto_from = onto.from;
            if !e.unplaced_issues.is_empty() {
                let list: Vec<String> = e.unplaced_issues.iter().map(|n| format!("#{n}")).collect();
                reporter.warn(&format!(
                    "the commit names issue(s) {} of a forge srukit cannot tell (no GitHub/GitLab origin): \
                     add their URLs as `Bug:` to {} by hand",
                    list.join(", "),
                    e.patch.display()
                ));
            }
            Ok(Report::Exported(e))
        }
        Merged::Conflicts { conflicts, .. } => {
            let workdir = match &req.workdir {
                Some(w) => w.clone(),
                None => upstream::cache_dir().join("backport-work").join(format!(
                    "{}-{}",
                    cherry_pick::short_id(commit),
                    patch_set_name(&backport_folder(&req.into)?.0)
                )),
            };
            continue_::write_workdir(&workdir, req, &up, &pick, &conflicts, &result.upstream_diff)?;
            Ok(Report::Conflicts(Conflicted {
                commit: commit.to_string(),
                onto: onto.label,
                onto_from: onto.from,
                workdir,
                conflicts,
                dropped: result.dropped,
            }))
        }
    }
}

/// What a new backport.toml needs from --tree, when there is no backport.toml yet.
fn tree_facts(req: &Request) -> Result<Option<TreeFacts>> {
    let manifest = backport_folder(&req.into)?.0.join(manifest_edit::MANIFEST);
    if manifest.exists() {
        return Ok(None);
    }
    match &req.tree {
        Some(tree) => Ok(Some(TreeFacts::read(tree)?)),
        None => Err(BackportError::Manifest {
            path: manifest,
            msg: "does not exist yet: pass --tree DIR, whose debian/changelog gives the source package, \
                  series and version srukit writes into it"
                .into(),
        }),
    }
}

fn resolve_onto(up: &Upstream, req: &Request, reporter: &dyn Reporter) -> Result<Onto> {
    match (&req.onto, &req.tree) {
        (Some(r), _) => Ok(Onto { label: r.clone(), id: up.commit(r)?.id(), from: None }),
        (None, Some(tree)) => {
            let (label, id, version) = up.onto_from_tree(tree)?;
            let from =
                format!("the tag of upstream version {version} in {}/debian/changelog", tree.display());
            reporter.note(&format!("picking onto {label}, {from}"));
            Ok(Onto { label, id, from: Some(from) })
        }
        (None, None) => Err(BackportError::State {
            path: req.into.clone(),
            msg: "say what to pick onto: --onto REF, or --tree DIR to use the tag of its upstream version"
                .into(),
        }),
    }
}

/// The backport folder `--into` writes to, and the patch's subdirectory in it: `--into` below
/// a folder that holds backport.toml (`patches/lp1/CVE-2026-1`) puts the patch in that
/// subdirectory, listed as `CVE-2026-1/<slug>.patch` (the same relative path apply gives it
/// in debian/patches); otherwise `--into` is the folder. `..` and symlinks on the way are
/// refused: the path is kept below debian/patches, which it must not leave.
pub fn backport_folder(into: &Path) -> Result<(PathBuf, PathBuf)> {
    use std::path::Component;
    let refuse = |msg: String| Err(BackportError::State { path: into.to_path_buf(), msg });
    if into.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return refuse("--into: give a path without `..` or `.`".into());
    }
    let folder = into
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .find(|a| a.join(manifest_edit::MANIFEST).is_file())
        .unwrap_or(into);
    let sub = into.strip_prefix(folder).unwrap_or(Path::new("")).to_path_buf();
    let mut at = folder.to_path_buf();
    for c in sub.components() {
        at.push(c);
        if crate::fsx::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return refuse(format!(
                "--into goes through the symlink {}: give the directory itself",
                at.display()
            ));
        }
    }
    Ok((folder.to_path_buf(), sub))
}

pub fn patch_set_name(into: &Path) -> String {
    into.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "backport".into())
}

/// The picked tree as `patches/<name>/<slug>.patch`, listed in backport.toml. `resolved`:
/// the user resolved conflicts, so the patch is a backport whatever its diff.
pub fn export_tree(
    up: &Upstream,
    req: &Request,
    pick: &Pick,
    tree: Oid,
    upstream_files: &[unified::FileChange],
    dropped: &[String],
    resolved: bool,
) -> Result<Exported> {
    let repo = &up.repo;
    let spec = up.spec.as_str();
    let commit = repo.find_commit(pick.commit).git(|| format!("could not read {}", pick.commit), spec)?;
    let onto_tree =
        repo.find_commit(pick.onto).and_then(|c| c.tree()).git(|| "could not read --onto".into(), spec)?;
    let new_tree = repo.find_tree(tree).git(|| "could not read the picked tree".into(), spec)?;
    let diff = unified::diff_trees(repo, Some(&onto_tree), &new_tree)
        .git(|| "could not diff the pick".into(), spec)?;
    let rendered = unified::render(&diff).git(|| "could not diff the pick".into(), spec)?;
    if rendered.files.is_empty() {
        return Err(BackportError::Empty { commit: pick.commit.to_string(), onto: pick.onto_label.clone() });
    }
    if let Some(f) = rendered.files.iter().find(|f| f.binary || f.submodule) {
        return Err(BackportError::Binary { commit: pick.commit.to_string(), path: f.path().to_string() });
    }
    let same = unified::same_change(&rendered.files, upstream_files);
    let origin_kind =
        if same && dropped.is_empty() && !resolved { OriginKind::Upstream } else { OriginKind::Backport };
    let mut message = trailers::parse(&String::from_utf8_lossy(commit.message_bytes()));
    let unplaced = message.bugs.resolve_forge(up.web_url.as_deref());
    let author = commit.author();
    let author = format!("{} <{}>", author.name().unwrap_or(""), author.email().unwrap_or(""));
    let input = HeaderInput {
        message: &message,
        author,
        origin_kind,
        commit_ref: up.commit_ref(pick.commit),
        first_tag: up.first_tag_containing(pick.commit)?,
        dropped,
        today: export::today(),
    };
    let patch = BackportPatch::new(&input, rendered.text);
    // Everything the manifest needs is known before the first byte is written.
    let facts = tree_facts(req)?;
    let (folder, sub) = backport_folder(&req.into)?;
    let (path, patch_change) = patch.write(&req.into)?;

    let manifest = folder.join(manifest_edit::MANIFEST);
    let name = patch_set_name(&folder);
    let facts = match facts {
        Some(f) => f,
        // The manifest exists: only its [[patches]] change.
        None => TreeFacts {
            source: String::new(),
            version: String::new(),
            distro: String::new(),
            series: String::new(),
        },
    };
    let bullet = bullet(&message);
    let new = NewManifest {
        name: &name,
        summary: &message.subject,
        bugs: &message.bugs,
        tree: &facts,
        repository: up.web_url.as_deref().unwrap_or(&up.spec),
        commit: &pick.commit.to_string(),
        bullet,
    };
    let file = sub.join(&patch.file_name).to_string_lossy().into_owned();
    let manifest_change = manifest_edit::add_patch(&manifest, &file, &new)?;
    Ok(Exported {
        patch: path,
        patch_change,
        onto_from: None,
        origin: origin_kind,
        commit: pick.commit.to_string(),
        onto: pick.onto_label.clone(),
        onto_commit: pick.onto.to_string(),
        dropped: dropped.to_vec(),
        manifest,
        manifest_change,
        fields: patch.fields,
        unplaced_issues: unplaced,
    })
}

/// The changelog bullet for a new manifest: the subject, with `(LP: #N)` and
/// `(Closes: #N)` for the bugs the commit closes, as Ubuntu's and Debian's changelogs close
/// them (dpkg's Launchpad-Bugs-Fixed and Closes). Related bugs are not closed.
fn bullet(m: &trailers::Message) -> String {
    let list = |bugs: &[u64]| -> Vec<String> {
        bugs.iter().filter(|n| !m.subject.contains(&format!("#{n}"))).map(|n| format!("#{n}")).collect()
    };
    let mut out = m.subject.clone();
    let lp = list(&m.bugs.launchpad);
    if !lp.is_empty() {
        out.push_str(&format!(" (LP: {})", lp.join(", ")));
    }
    let deb = list(&m.bugs.debian);
    if !deb.is_empty() {
        out.push_str(&format!(" (Closes: {})", deb.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn into_below_a_backport_folder_is_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        let bp = dir.path().join("patches/lp1");
        crate::fsx::create_dir_all(&bp.join("CVE-2026-1")).unwrap();
        crate::fsx::write(&bp.join(manifest_edit::MANIFEST), "").unwrap();
        let (folder, sub) = backport_folder(&bp.join("CVE-2026-1/part")).unwrap();
        assert_eq!((folder.as_path(), sub.as_path()), (bp.as_path(), Path::new("CVE-2026-1/part")));
        assert_eq!(backport_folder(&bp).unwrap(), (bp.clone(), PathBuf::new()));
        // No backport.toml above: --into is the (new) folder.
        let new = dir.path().join("patches/lp2");
        assert_eq!(backport_folder(&new).unwrap(), (new.clone(), PathBuf::new()));
        std::os::unix::fs::symlink(bp.join("CVE-2026-1"), bp.join("link")).unwrap();
        let err = backport_folder(&bp.join("link/x")).unwrap_err().to_string();
        assert!(err.contains("goes through the symlink"), "{err}");
        let err = backport_folder(&bp.join("../lp1/x")).unwrap_err().to_string();
        assert!(err.contains("without `..`"), "{err}");
    }
}
