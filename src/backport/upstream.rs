//! The upstream repository a backport picks from: opened read-only (a local path) or cloned
//! bare into `${XDG_CACHE_HOME:-~/.cache}/srukit/upstream/<hash>` (a URL), with every object
//! srukit creates kept in memory; the `--onto` tag found from a tree's debian/changelog; the
//! web address commits are cited by; the first tag that contains a commit.

use std::path::{Path, PathBuf};

use git2::{Commit, Oid, Repository};
use sha2::{Digest, Sha256};

use super::error::{BackportError, GitContext, Result};

pub struct Upstream {
    pub repo: Repository,
    /// What the user passed to --upstream (path or URL), for messages and the manifest.
    pub spec: String,
    /// Where the repository is on disk (the cache clone for a URL).
    pub path: PathBuf,
    /// `https://host/project`, when the repository (or its `origin`) has a web address.
    pub web_url: Option<String>,
}

/// srukit's cache directory: `${XDG_CACHE_HOME:-$HOME/.cache}/srukit`.
pub fn cache_dir() -> PathBuf {
    let base =
        std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache"),
        );
    base.join("srukit")
}

/// A URL (`scheme://...` or scp-like `user@host:path`) rather than a local path.
pub fn is_url(spec: &str) -> bool {
    if spec.contains("://") {
        return true;
    }
    match spec.split_once(':') {
        Some((host, _)) => host.contains('@') && !host.contains('/') && !Path::new(spec).exists(),
        None => false,
    }
}

impl Upstream {
    /// Opens a local repository or clones/fetches a URL into the cache. Objects the pick
    /// creates (merged blobs, trees) go to an in-memory object store put in front of the
    /// repository's own, so the repository on disk is never written.
    pub fn open(spec: &str) -> Result<Upstream> {
        if is_url(spec) {
            let dest = cache_dir().join("upstream").join(url_hash(spec));
            let repo = clone_or_fetch(spec, &dest)?;
            Upstream::with_repo(repo, dest, spec)
        } else {
            Upstream::open_at(Path::new(spec), spec)
        }
    }

    /// Opens the repository at `path` (a work tree or a bare cache clone) without fetching;
    /// `spec` is what the user called it (path or URL).
    pub fn open_at(path: &Path, spec: &str) -> Result<Upstream> {
        let repo = Repository::open(path).git(|| "could not open the repository".into(), spec)?;
        Upstream::with_repo(repo, path.to_path_buf(), spec)
    }

    fn with_repo(repo: Repository, path: PathBuf, spec: &str) -> Result<Upstream> {
        {
            let odb = repo.odb().git(|| "could not open the object database".into(), spec)?;
            // Priority above the loose and pack backends: every write lands here.
            odb.add_new_mempack_backend(1000)
                .git(|| "could not add an in-memory object store".into(), spec)?;
        }
        let web_url = if is_url(spec) {
            web_url(spec)
        } else {
            repo.find_remote("origin").ok().and_then(|r| r.url().ok().and_then(web_url))
        };
        Ok(Upstream { repo, spec: spec.to_string(), path, web_url })
    }

    /// The commit `rev` names (a SHA, a tag, a branch), peeled to a commit.
    pub fn commit(&self, rev: &str) -> Result<Commit<'_>> {
        let nf = || BackportError::NoSuchCommit { repo: self.spec.clone(), rev: rev.to_string() };
        let obj = self.repo.revparse_single(rev).map_err(|_| nf())?;
        obj.peel_to_commit().map_err(|_| nf())
    }

    /// How a DEP-3 header cites a commit: its web page, else `commit:<sha>` (DEP-3 Origin).
    pub fn commit_ref(&self, sha: Oid) -> String {
        match &self.web_url {
            Some(u) => format!("{u}/commit/{sha}"),
            None => format!("commit:{sha}"),
        }
    }

    /// The first tag (oldest tagged commit, then name) whose commit is `id` or descends
    /// from it: the first upstream release that carries the change. Tags are tried oldest
    /// first from a day before the commit (commit clocks drift), so a repository with
    /// thousands of tags costs a few ancestry checks, not thousands.
    pub fn first_tag_containing(&self, id: Oid) -> Result<Option<String>> {
        let names = self.repo.tag_names(None).git(|| "could not list tags".into(), &self.spec)?;
        let since = self.repo.find_commit(id).map(|c| c.time().seconds()).unwrap_or(i64::MIN) - 86_400;
        let mut tags: Vec<(i64, String, Oid)> = names
            .iter()
            .flatten()
            .flatten()
            .filter_map(|name| {
                let c = self.commit(&format!("refs/tags/{name}")).ok()?;
                let t = c.time().seconds();
                (t >= since).then(|| (t, name.to_string(), c.id()))
            })
            .collect();
        tags.sort();
        for (_, name, tag) in tags {
            if tag == id || self.repo.graph_descendant_of(tag, id).unwrap_or(false) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// The tag a tree is built from: the upstream version of the top debian/changelog
    /// entry (no epoch, no Debian revision), spelled as upstreams tag releases.
    /// Returns the tag, its commit and the upstream version.
    pub fn onto_from_tree(&self, tree: &Path) -> Result<(String, Oid, String)> {
        let changelog = tree.join("debian/changelog");
        let version = upstream_version(&changelog)?;
        let mut tried = Vec::new();
        for cand in tag_candidates(&version) {
            if let Ok(c) = self.commit(&format!("refs/tags/{cand}")) {
                return Ok((cand, c.id(), version));
            }
            tried.push(cand);
        }
        Err(BackportError::NoOntoTag { version, changelog, repo: self.spec.clone(), tried })
    }
}

/// The entries of a debian/changelog, newest first, relaxed (tabs and odd trailers are
/// common in old releases): package, version, first distribution.
pub fn changelog_entries(changelog: &Path) -> Result<Vec<(String, debversion::Version, Option<String>)>> {
    let bad = |msg: String| BackportError::Changelog { changelog: changelog.to_path_buf(), msg };
    let text = crate::fsx::read_to_string(changelog).map_err(|e| bad(e.to_string()))?;
    let cl = debian_changelog::ChangeLog::parse(&text).tree();
    let mut out = Vec::new();
    for (i, entry) in cl.iter().enumerate() {
        let version = match entry.try_version() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(bad(format!("bad version in entry {}: {e}", i + 1))),
            // debian-changelog parses a header missing `)` with no version: say so.
            None => return Err(bad(format!("entry {} has no version", i + 1))),
        };
        let package = entry.package().ok_or_else(|| bad(format!("entry {} has no package name", i + 1)))?;
        let dist = entry.distributions().and_then(|d| d.into_iter().next());
        out.push((package, version, dist));
    }
    if out.is_empty() {
        return Err(bad("no entries".into()));
    }
    Ok(out)
}

/// The top entry of a debian/changelog.
pub fn changelog_top(changelog: &Path) -> Result<(String, debversion::Version, Option<String>)> {
    Ok(changelog_entries(changelog)?.swap_remove(0))
}

fn upstream_version(changelog: &Path) -> Result<String> {
    Ok(changelog_top(changelog)?.1.upstream_version)
}

/// Tag spellings to try for an upstream version, in order. Debian's `~` (pre-release) is
/// `-` or nothing upstream; a repack suffix (`+dfsg`, `+ds`, `~ds`) is not upstream's.
pub fn tag_candidates(version: &str) -> Vec<String> {
    let mut versions = vec![version.to_string()];
    for sep in ["+dfsg", "+ds", "~ds", "+repack"] {
        if let Some(at) = version.find(sep) {
            versions.push(version[..at].to_string());
        }
    }
    if version.contains('~') {
        versions.push(version.replace('~', "-"));
        versions.push(version.replace('~', ""));
    }
    let mut out = Vec::new();
    for v in versions {
        for prefix in ["", "v", "upstream/", "release-"] {
            let cand = format!("{prefix}{v}");
            if !out.contains(&cand) {
                out.push(cand);
            }
        }
    }
    out
}

/// The web page of a repository from its clone URL: https for the usual forges' https,
/// git, ssh and scp-like URLs; nothing for local ones.
pub fn web_url(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (host, path) =
        if let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) {
            let (h, p) = rest.split_once('/')?;
            (h.rsplit('@').next()?.to_string(), p.to_string())
        } else if let Some(rest) = url.strip_prefix("git://").or_else(|| url.strip_prefix("ssh://")) {
            let (h, p) = rest.split_once('/')?;
            let h = h.rsplit('@').next()?;
            (h.split(':').next()?.to_string(), p.to_string())
        } else if !url.contains("://") && url.contains('@') {
            let (h, p) = url.split_once(':')?;
            (h.rsplit('@').next()?.to_string(), p.trim_start_matches('/').to_string())
        } else {
            return None;
        };
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("https://{host}/{path}"))
}

fn url_hash(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    crate::digest::hex(&digest[..8])
}

fn clone_or_fetch(url: &str, dest: &Path) -> Result<Repository> {
    let clone_err = |source| BackportError::Clone { url: url.to_string(), dest: dest.to_path_buf(), source };
    if dest.join("HEAD").exists() {
        let repo = Repository::open_bare(dest).map_err(clone_err)?;
        {
            let mut remote = repo.find_remote("origin").map_err(clone_err)?;
            let refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
            remote.fetch(&refspecs, None, None).map_err(clone_err)?;
        }
        return Ok(repo);
    }
    if let Some(parent) = dest.parent() {
        crate::fsx::create_dir_all(parent)
            .map_err(|e| BackportError::State { path: parent.to_path_buf(), msg: e.to_string() })?;
    }
    // Clone into a temporary sibling and rename, so an interrupted clone is not reused.
    let tmp = dest.with_extension("partial");
    let _ = crate::fsx::remove_dir_all(&tmp);
    // Branches land in refs/heads (as `git clone --mirror` would), so `main` and
    // `stable/x` resolve as they do in the upstream repository itself.
    let repo = git2::build::RepoBuilder::new()
        .bare(true)
        .remote_create(|repo, name, url| repo.remote_with_fetch(name, url, "+refs/heads/*:refs/heads/*"))
        .clone(url, &tmp)
        .map_err(clone_err)?;
    drop(repo);
    crate::fsx::rename(&tmp, dest)
        .map_err(|e| BackportError::State { path: dest.to_path_buf(), msg: e.to_string() })?;
    Repository::open_bare(dest).map_err(clone_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_urls() {
        let cases = [
            ("https://opendev.org/openstack/cinder.git", Some("https://opendev.org/openstack/cinder")),
            ("https://opendev.org/openstack/cinder/", Some("https://opendev.org/openstack/cinder")),
            ("git@github.com:fujita/tgt.git", Some("https://github.com/fujita/tgt")),
            ("ssh://git@salsa.debian.org:22/debian/tgt.git", Some("https://salsa.debian.org/debian/tgt")),
            ("git://git.kernel.org/pub/scm/git/git.git", Some("https://git.kernel.org/pub/scm/git/git")),
            ("file:///tmp/repo", None),
            ("/tmp/repo", None),
        ];
        for (url, want) in cases {
            assert_eq!(web_url(url).as_deref(), want, "{url}");
        }
    }

    #[test]
    fn tag_spellings() {
        let c = tag_candidates("2014.1.5");
        assert_eq!(c, ["2014.1.5", "v2014.1.5", "upstream/2014.1.5", "release-2014.1.5"]);
        let c = tag_candidates("1.0~rc1+dfsg");
        assert!(c.contains(&"v1.0-rc1+dfsg".to_string()), "{c:?}");
        assert!(c.contains(&"1.0~rc1".to_string()), "{c:?}");
        assert!(c.contains(&"v1.0rc1+dfsg".to_string()), "{c:?}");
    }

    #[test]
    fn urls_and_paths() {
        assert!(is_url("https://x/y"));
        assert!(is_url("git@github.com:a/b"));
        assert!(!is_url("/tmp/a"));
        assert!(!is_url("relative/dir"));
    }
}
