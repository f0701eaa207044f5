//! Where the target tree comes from: a directory the user names, a Debian source package
//! from the mirror (`PKG=VERSION`, via `apt-get source`), or the fixture the backport's
//! manifest names. The tree is copied into the resolve stage's dir; the original is only read.

use std::path::{Path, PathBuf};

use crate::backport::manifest::Backport;
use crate::fsx;
use crate::pipeline::PipelineError;
use crate::process::Cmd;

/// A resolved tree and the dirs where its orig tarball may be.
#[derive(Debug, Clone)]
pub struct Source {
    pub tree: PathBuf,
    pub orig_dirs: Vec<PathBuf>,
    pub described: String,
    /// How the fixture's orig tarball is made, when no orig lies beside it: the
    /// `make-orig.sh` of the fixtures folder (`make-orig.sh FIXTURE OUTDIR`), run by the
    /// resolve stage so both builds use the same, reproducible orig and none is invented.
    pub make_orig: Option<PathBuf>,
}

/// The script a fixtures folder declares its origs are made with.
pub const MAKE_ORIG: &str = "make-orig.sh";

pub fn locate(bp: &Backport, tree: Option<&Path>, source: Option<&str>) -> Result<Source, PipelineError> {
    if let Some(t) = tree {
        if !t.join("debian/changelog").is_file() {
            return Err(PipelineError::Input(format!(
                "{}: not a source tree (no debian/changelog)",
                t.display()
            )));
        }
        let parent = t.parent().map(Path::to_path_buf).into_iter().collect();
        return Ok(Source {
            tree: t.to_path_buf(),
            orig_dirs: parent,
            described: t.display().to_string(),
            make_orig: None,
        });
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
            let folder = candidate.parent().map(Path::to_path_buf).unwrap_or_default();
            let script = folder.join(MAKE_ORIG);
            let make_orig = script.is_file().then_some(script);
            return Ok(Source {
                tree: candidate,
                orig_dirs: vec![folder],
                described: fixture.to_string(),
                make_orig,
            });
        }
    }
    Err(PipelineError::Input(format!(
        "{}: fixture {fixture} not found in any folder above {}",
        bp.manifest_path.display(),
        bp.dir.display()
    )))
}

/// Makes the fixture's orig tarball into `dir` with the fixtures folder's script, unless an
/// orig of the tree's upstream version already lies in one of `orig_dirs`. Returns whether
/// it made one.
pub fn make_orig(source: &Source, dir: &Path) -> Result<bool, PipelineError> {
    let Some(script) = &source.make_orig else { return Ok(false) };
    let cl = crate::build::changelog::Changelog::read(&source.tree)?;
    let up = crate::build::changelog::upstream_version(&cl.newest().version);
    let prefix = format!("{}_{up}.orig.tar.", cl.source);
    for d in &source.orig_dirs {
        let found = fsx::read_dir(d).ok().into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().strip_prefix(&prefix).is_some_and(|ext| !ext.ends_with(".asc"))
        });
        if found {
            return Ok(false);
        }
    }
    Cmd::new("bash").arg(script).arg(&source.tree).arg(dir).run()?;
    Ok(true)
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
    Ok(Source { tree, orig_dirs: vec![cache], described: format!("apt-get source {spec}"), make_orig: None })
}
