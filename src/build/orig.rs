//! The upstream tarball a non-native source package needs: found beside the tree or in an
//! `--orig-dir`, or created reproducibly from the tree minus debian/. Reads the tree, writes
//! only into the staging directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::BuildError;
use super::changelog::{Changelog, upstream_version};
use super::log::Log;
use crate::fsx;
use crate::process::Cmd;

/// Where the orig tarball came from, recorded in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum OrigOrigin {
    /// Found in this directory (beside the tree, or an --orig-dir).
    Found(PathBuf),
    /// Made from the tree: tar --sort=name, fixed mtime and owner, gzip -n.
    Created { mtime: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Orig {
    /// The tarball's file name, plus any component tarballs and signatures copied with it.
    pub files: Vec<String>,
    pub origin: OrigOrigin,
}

/// Is the package native (no orig at all)? dpkg-source: "3.0 (native)", or format 1.0
/// (the default when debian/source/format is missing) with a version without a revision.
pub fn is_native(tree: &Path, version: &str) -> Result<bool, BuildError> {
    Ok(match format(tree)?.as_str() {
        "3.0 (native)" => true,
        "3.0 (quilt)" => false,
        _ => !super::changelog::without_epoch(version).contains('-'),
    })
}

/// The tree's source format, `debian/source/format` (`1.0` without one).
pub fn format(tree: &Path) -> Result<String, BuildError> {
    Ok(fsx::read_optional(&tree.join("debian/source/format"))?
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_else(|| "1.0".into()))
}

/// Puts the orig tarball (and its signature, and component tarballs) into `dest`, which is
/// the directory dpkg-source -b will look in.
pub fn provide(
    tree: &Path,
    cl: &Changelog,
    orig_dirs: &[PathBuf],
    dest: &Path,
    log: &mut Log,
) -> Result<Orig, BuildError> {
    let up = upstream_version(&cl.newest().version);
    let prefix = format!("{}_{up}.orig", cl.source);
    let mut search: Vec<PathBuf> = Vec::new();
    if let Some(parent) = tree.parent() {
        search.push(if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() });
    }
    search.extend(orig_dirs.iter().cloned());
    for dir in &search {
        let files = matching(dir, &prefix)?;
        // A main tarball must be there; a lone component or signature is not an orig.
        if files.iter().any(|f| is_main_tarball(f, &prefix)) {
            for f in &files {
                fsx::copy(&dir.join(f), &dest.join(f))?;
            }
            log.append(
                format!("srukit: using orig {} from {}\n", files.join(", "), dir.display()).as_bytes(),
            )?;
            return Ok(Orig { files, origin: OrigOrigin::Found(dir.clone()) });
        }
    }
    create(tree, cl, &prefix, dest, log)
}

fn is_main_tarball(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|r| r.strip_prefix(".tar."))
        .is_some_and(|ext| ["gz", "xz", "bz2", "lzma"].contains(&ext))
}

/// Files named `<prefix>.tar.*` or `<prefix>-<component>.tar.*` (and their `.asc`).
fn matching(dir: &Path, prefix: &str) -> Result<Vec<String>, BuildError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = fsx::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(prefix)
                .is_some_and(|r| r.starts_with(".tar.") || (r.starts_with('-') && r.contains(".tar.")))
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Creates `<prefix>.tar.gz` from the tree minus debian/, .pc/ and VCS directories, with
/// sorted names, one mtime, owner 0 and `gzip -n`, so the same tree always gives the same
/// bytes. A tree with quilt patches applied is first unpatched in a copy (`quilt pop -a`):
/// the orig must be upstream's code, not the patched code.
fn create(tree: &Path, cl: &Changelog, prefix: &str, dest: &Path, log: &mut Log) -> Result<Orig, BuildError> {
    let mtime = cl.upstream_epoch();
    let dirname = format!("{}-{}", cl.source, upstream_version(&cl.newest().version));
    let applied =
        fsx::read_optional(&tree.join(".pc/applied-patches"))?.is_some_and(|b| !b.trim_ascii().is_empty());
    let scratch = dest.join(".orig-src");
    let src = if applied {
        fsx::remove_dir_all(&scratch)?;
        fsx::copy_tree(tree, &scratch)?;
        log.run(
            "unapply patches for the orig tarball",
            &Cmd::new("quilt")
                .args(["pop", "-a", "-q"])
                .cwd(&scratch)
                .env("QUILT_PATCHES", "debian/patches")
                .env("QUILT_PC", ".pc"),
        )?;
        scratch.clone()
    } else {
        tree.to_path_buf()
    };
    let tar = dest.join(format!("{prefix}.tar"));
    log.run(
        "create the orig tarball",
        &Cmd::new("tar")
            // GNU format: no pax headers carrying atime/ctime; modes without group/other
            // write, so a checkout's umask does not leak in; LC_ALL=C: a byte sort.
            .args(["--format=gnu", "--sort=name", &format!("--mtime=@{mtime}"), "--owner=0", "--group=0"])
            .args(["--numeric-owner", "--mode=a+rX,u+w,go-w"])
            .args(["--exclude-vcs", "--exclude=./debian", "--exclude=./.pc"])
            // S: leave symlink targets alone; only member names get the top directory.
            .arg(format!("--transform=s,^\\.,{dirname},S"))
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .env("LC_ALL", "C"),
    )?;
    log.run("compress the orig tarball", &Cmd::new("gzip").args(["-n", "-9", "-f"]).arg(&tar))?;
    if applied {
        fsx::remove_dir_all(&scratch)?;
    }
    let name = format!("{prefix}.tar.gz");
    log.append(
        format!("srukit: no orig tarball found; created {name} from the tree (mtime @{mtime})\n").as_bytes(),
    )?;
    Ok(Orig { files: vec![name], origin: OrigOrigin::Created { mtime } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_tarball_names() {
        assert!(is_main_tarball("hello_2.10.orig.tar.gz", "hello_2.10.orig"));
        assert!(!is_main_tarball("hello_2.10.orig.tar.gz.asc", "hello_2.10.orig"));
        assert!(!is_main_tarball("hello_2.10.orig-doc.tar.gz", "hello_2.10.orig"));
    }
}
