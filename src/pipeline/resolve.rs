//! Where the target tree comes from: a directory the user names, a Debian source package
//! from the mirror (`PKG=VERSION`, via `apt-get source`), or the fixture the backport's
//! manifest names. The tree is copied into the resolve stage's dir; the original is only read.

use std::path::{Path, PathBuf};

use crate::backport::manifest::Backport;
use crate::fsx;
use crate::pipeline::PipelineError;
use crate::process::Cmd;

/// A resolved tree and the dirs where its orig tarball may be.
pub struct Source {
    pub tree: PathBuf,
    pub orig_dirs: Vec<PathBuf>,
    pub described: String,
}

pub fn locate(bp: &Backport, tree: Option<&Path>, source: Option<&str>) -> Result<Source, PipelineError> {
    if let Some(t) = tree {
        if !t.join("debian/changelog").is_file() {
            return Err(PipelineError::Input(format!(
                "{}: not a source tree (no debian/changelog)",
                t.display()
            )));
        }
        let parent = t.parent().map(Path::to_path_buf).into_iter().collect();
        return Ok(Source { tree: t.to_path_buf(), orig_dirs: parent, described: t.display().to_string() });
    }
    if let Some(spec) = source {
        return apt_source(spec);
    }
    let fixture = bp.manifest.target.fixture.as_deref().ok_or_else(|| {
        PipelineError::Input(format!(
            "{}: no [target] fixture; give --tree DIR or --source PKG=VERSION",
            bp.manifest_path.display()
        ))
    })?;
    // The manifest names the fixture relative to the repository that holds the backport.
    for dir in bp.dir.ancestors() {
        let candidate = dir.join(fixture);
        if candidate.join("debian/changelog").is_file() {
            return Ok(Source { tree: candidate, orig_dirs: Vec::new(), described: fixture.to_string() });
        }
    }
    Err(PipelineError::Input(format!(
        "{}: fixture {fixture} not found in any folder above {}",
        bp.manifest_path.display(),
        bp.dir.display()
    )))
}

/// `apt-get source --download-only PKG=VERSION` into the cache, unpacked without its
/// patches applied, as `srukit apply` wants it.
fn apt_source(spec: &str) -> Result<Source, PipelineError> {
    let (pkg, version) = spec
        .split_once('=')
        .ok_or_else(|| PipelineError::Input(format!("--source {spec}: expected PKG=VERSION")))?;
    let cache = crate::testbed::cache_root().join("sources").join(format!("{pkg}_{version}"));
    fsx::create_dir_all(&cache)?;
    let upstream_version = version.split_once(':').map_or(version, |(_, v)| v);
    let dsc = cache.join(format!("{pkg}_{upstream_version}.dsc"));
    if !dsc.is_file() {
        Cmd::new("apt-get").args(["source", "--download-only", "-q"]).arg(spec).cwd(&cache).run()?;
    }
    let tree = cache.join("tree");
    if !tree.join("debian/changelog").is_file() {
        fsx::remove_dir_all(&tree)?;
        Cmd::new("dpkg-source").args(["-x", "--skip-patches"]).arg(&dsc).arg(&tree).cwd(&cache).run()?;
    }
    Ok(Source { tree, orig_dirs: vec![cache], described: format!("apt-get source {spec}") })
}
