//! The source upload: `dpkg-source -b` on a copy of the tree in the staging directory, then a
//! source-only `.changes` with `dpkg-genchanges -S -v<since>` and, if asked, `debsign`.
//! Reads the user's tree; writes only under the staging directory.

use std::path::{Path, PathBuf};

use super::changelog::{Changelog, upstream_version, without_epoch};
use super::log::Log;
use super::orig::{self, Orig};
use super::tar_ignore::TarIgnore;
use super::{BuildError, Request};
use crate::formats::changelog::DpkgVendor;
use crate::formats::distro_info::distro_of;
use crate::fsx;
use crate::process::Cmd;

/// Version control directories: never part of a source package.
const VCS_DIRS: &[&str] = &[".git", ".bzr", ".hg", ".svn"];

/// What the staging copy of a tree leaves out: what dpkg-source would leave out anyway, as a
/// checkout's build and VCS dirs can be far larger than the package. A 3.0 (native) package
/// is its tree minus `tar-ignore`; for any other format only VCS dirs are dropped (dpkg-source
/// diff-ignores them; anything else may be part of the diff against the orig).
pub struct CopyFilter {
    tar_ignore: Option<TarIgnore>,
}

impl CopyFilter {
    pub fn for_tree(tree: &Path) -> Result<CopyFilter, BuildError> {
        let tar_ignore =
            if orig::format(tree)? == "3.0 (native)" { Some(TarIgnore::for_tree(tree)?) } else { None };
        Ok(CopyFilter { tar_ignore })
    }

    /// Whether a walk that does not enter skipped directories skips this path (relative to
    /// the tree): checks the path alone, not the directories above it.
    pub fn skips_entry(&self, rel: &Path) -> bool {
        match &self.tar_ignore {
            Some(t) => t.excludes(&rel.to_string_lossy()),
            None => rel.file_name().is_some_and(|n| VCS_DIRS.iter().any(|v| n == *v)),
        }
    }

    /// Whether a path relative to the tree is left out, itself or by a directory above it.
    pub fn skips(&self, rel: &Path) -> bool {
        rel.ancestors().any(|a| !a.as_os_str().is_empty() && self.skips_entry(a))
    }
}

/// What the source phase made, in `work`.
pub struct SourcePackage {
    /// The directory holding the .dsc, its tarballs and the .changes.
    pub work: PathBuf,
    /// The unpacked tree copy dpkg-source built from.
    pub tree: PathBuf,
    pub dsc: String,
    pub changes: String,
    pub orig: Option<Orig>,
    pub since: Option<String>,
}

pub fn build(req: &Request, cl: &Changelog, work: &Path, log: &mut Log) -> Result<SourcePackage, BuildError> {
    let version = &cl.newest().version;
    let dirname = format!("{}-{}", cl.source, upstream_version(version));
    fsx::create_dir_all(work)?;
    let native = orig::is_native(&req.tree, version)?;
    let orig = if native { None } else { Some(orig::provide(&req.tree, cl, &req.orig_dirs, work, log)?) };

    // A copy, so neither dpkg-source (which applies patches and writes .pc when the tree
    // has them unapplied) nor anything else writes beside or into the user's tree.
    let tree = work.join(&dirname);
    fsx::remove_dir_all(&tree)?;
    let skip = CopyFilter::for_tree(&req.tree)?;
    fsx::copy_tree_except(&req.tree, &tree, |rel| skip.skips_entry(rel))?;
    log.run("dpkg-source -b", &Cmd::new("dpkg-source").arg("-b").arg(&dirname).cwd(work))?;

    let noepoch = without_epoch(version);
    let dsc = format!("{}_{noepoch}.dsc", cl.source);
    let changes = format!("{}_{noepoch}_source.changes", cl.source);
    // SRU convention: the upload's .changes covers every entry since the last published
    // version, by default the entry before the newest.
    let since = req.since.clone().or_else(|| cl.previous_version().map(str::to_string));
    let mut genchanges = Cmd::new("dpkg-genchanges").arg("-S");
    if let Some(v) = &since {
        genchanges = genchanges.arg(format!("-v{v}"));
    }
    genchanges = genchanges.arg(format!("-O../{changes}")).cwd(&tree);
    // The .changes follows the target distro's dpkg rules, not the host's: an Ubuntu upload
    // needs Launchpad-Bugs-Fixed (Launchpad and the SRU tools track bugs by it), which only
    // Ubuntu's dpkg vendor writes. A distribution of neither distro keeps the host's rules.
    let target = distro_of(&cl.newest().distribution).map(|(d, _)| d);
    let vendor = target.map(DpkgVendor::new).transpose()?;
    if let Some(v) = &vendor {
        genchanges = v.apply(genchanges);
        log.append(format!("srukit: dpkg-genchanges under the {} vendor\n", v.vendor()).as_bytes())?;
    }
    // --binary-only publishes no source upload: its .changes would be made to be thrown away.
    if req.what == super::What::BinaryOnly {
        return Ok(SourcePackage { work: work.to_path_buf(), tree, dsc, changes, orig, since });
    }
    log.run("dpkg-genchanges -S", &genchanges)?;

    if let Some(key) = &req.sign {
        log.run(
            "debsign",
            &Cmd::new("debsign").arg(format!("-k{key}")).arg("--no-re-sign").arg(&changes).cwd(work),
        )?;
    }
    Ok(SourcePackage { work: work.to_path_buf(), tree, dsc, changes, orig, since })
}

/// The files the .dsc names, plus the .dsc itself: the source package to copy anywhere.
pub fn dsc_files(work: &Path, dsc: &str) -> Result<Vec<String>, BuildError> {
    let text = fsx::read_to_string(&work.join(dsc))?;
    let mut names = vec![dsc.to_string()];
    let mut in_files = false;
    for line in text.lines() {
        if line.starts_with(' ') {
            if in_files && let Some(name) = line.split_whitespace().nth(2) {
                names.push(name.to_string());
            }
        } else {
            // Checksums-Sha256 lists the same files as Files; one list is enough.
            in_files = line.starts_with("Files:");
        }
    }
    Ok(names)
}

/// The `Files:` entries of a .changes: the files an upload carries.
pub fn changes_files(path: &Path) -> Result<Vec<String>, BuildError> {
    let text = fsx::read_to_string(path)?;
    let mut names = Vec::new();
    let mut in_files = false;
    for line in text.lines() {
        if line.starts_with(' ') {
            if in_files && let Some(name) = line.split_whitespace().last() {
                names.push(name.to_string());
            }
        } else {
            in_files = line.starts_with("Files:");
        }
    }
    Ok(names)
}

/// One field of a deb822 file (.changes, .dsc), single-line fields only.
pub fn field(path: &Path, name: &str) -> Result<Option<String>, BuildError> {
    let text = fsx::read_to_string(path)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(format: &str, options: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("debian/source")).unwrap();
        std::fs::write(dir.path().join("debian/source/format"), format).unwrap();
        std::fs::write(dir.path().join("debian/source/options"), options).unwrap();
        dir
    }

    #[test]
    fn native_skips_what_tar_ignore_names_and_everything_below() {
        let dir = tree("3.0 (native)\n", "tar-ignore = target\ntar-ignore = debian/cargo-target\n");
        let f = CopyFilter::for_tree(dir.path()).unwrap();
        for rel in ["target", "target/release/srukit", "debian/cargo-target/x", "src/target/a.rs"] {
            assert!(f.skips(Path::new(rel)), "{rel}");
        }
        assert!(!f.skips(Path::new(".git/config")), "explicit patterns drop dpkg's default list");
        assert!(!f.skips(Path::new("src/main.rs")));
        let dflt = tree("3.0 (native)\n", "# none\n");
        let f = CopyFilter::for_tree(dflt.path()).unwrap();
        assert!(f.skips(Path::new(".git/config")) && f.skips(Path::new(".git/HEAD")));
        assert!(!f.skips(Path::new("target/debug")));
    }

    #[test]
    fn with_an_orig_only_vcs_dirs_are_skipped() {
        let dir = tree("3.0 (quilt)\n", "tar-ignore = target\n");
        let f = CopyFilter::for_tree(dir.path()).unwrap();
        assert!(f.skips(Path::new(".git/objects/ab")) && f.skips(Path::new("sub/.hg")));
        assert!(!f.skips(Path::new("target/x")) && !f.skips(Path::new("a.o")));
        assert!(f.skips_entry(Path::new(".svn")) && !f.skips_entry(Path::new(".svn/entries")));
    }
}
