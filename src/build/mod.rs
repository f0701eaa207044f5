//! Building: the source upload (.dsc, source-only .changes) and binary packages in a clean
//! testbed, described by a manifest.
//!
//! `build()` reads the user's tree and writes only under `--out`: everything is made in
//! `--out/.staging`, and only a complete build is moved into place, with `manifest.json`
//! written last and atomically. A failed build leaves the previous good build (and its
//! manifest) untouched, and its logs in `--out/failed/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::exit::{Exit, ExitCodeOf};
use crate::fsx::{self, FsError};
use crate::process::ProcessError;
use crate::reporter::Reporter;

pub mod binary;
pub mod changelog;
pub mod layer;
pub mod lintian;
pub mod log;
pub mod manifest;
pub mod orig;
pub mod source;
pub mod tar_ignore;

pub use manifest::{FileEntry, Manifest};

use changelog::Changelog;
use log::Log;

/// Which packages to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Both,
    SourceOnly,
    BinaryOnly,
}

/// A build, as `srukit build` takes it.
#[derive(Debug, Clone)]
pub struct Request {
    pub tree: PathBuf,
    pub out: PathBuf,
    /// More directories to look for the orig tarball in, after the tree's parent.
    pub orig_dirs: Vec<PathBuf>,
    /// dpkg-genchanges -v: default, the changelog's previous entry.
    pub since: Option<String>,
    /// debsign -k KEYID; unsigned when None.
    pub sign: Option<String>,
    pub lintian: bool,
    pub what: What,
    /// The testbed definition binaries are built in.
    pub testbed: String,
    /// A host directory the package's build may keep a cache in across builds (bound
    /// read-write into the build testbed, named by `$SRUKIT_BUILD_CACHE` there); None: the
    /// build sees nothing but the source package and the archive.
    pub cache: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{} is not a source tree: {what}", path.display())]
    NotATree { path: PathBuf, what: String },
    #[error("{}: {detail}", path.display())]
    Changelog { path: PathBuf, detail: String },
    #[error("{step} failed: `{cmd}` {status}\nlog: {}\n--- last lines ---\n{tail}", log.display())]
    StepFailed { step: String, cmd: String, status: String, log: PathBuf, tail: String },
    #[error("could not run {step}")]
    Tool {
        step: String,
        #[source]
        source: Box<ProcessError>,
    },
    #[error("--out {} is inside the tree {}: the build would copy its own output (a 3.0 (native) tree may tar-ignore it in debian/source/options)", out.display(), tree.display())]
    OutInsideTree { out: PathBuf, tree: PathBuf },
    #[error("{}: {detail}", path.display())]
    Manifest { path: PathBuf, detail: String },
    #[error("testbed")]
    Testbed(#[source] Box<crate::testbed::TestbedError>),
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl BuildError {
    pub(crate) fn testbed(e: crate::testbed::TestbedError) -> BuildError {
        BuildError::Testbed(Box::new(e))
    }
}

impl ExitCodeOf for BuildError {
    fn exit(&self) -> Exit {
        match self {
            BuildError::NotATree { .. }
            | BuildError::Changelog { .. }
            | BuildError::Manifest { .. }
            | BuildError::OutInsideTree { .. } => Exit::BadInput,
            // The build itself failed: the thing checked ("this tree builds") is not true.
            BuildError::StepFailed { .. } => Exit::NotTrue,
            BuildError::Tool { .. } => Exit::CouldNotRun,
            BuildError::Testbed(e) => e.exit(),
            BuildError::Fs(e) => e.exit(),
        }
    }
}

/// Builds what `req` asks for and returns the manifest it wrote into `req.out`.
pub fn build(req: &Request, rep: &dyn Reporter) -> Result<Manifest, BuildError> {
    let started = Instant::now();
    let tree = fsx::canonicalize(&req.tree)
        .map_err(|e| BuildError::NotATree { path: req.tree.clone(), what: e.source.to_string() })?;
    if !tree.join("debian/control").is_file() {
        return Err(BuildError::NotATree { path: tree, what: "no debian/control".into() });
    }
    let req = Request { tree, ..req.clone() };
    let cl = Changelog::read(&req.tree)?;
    // Inside the tree only where the source copy leaves it out (e.g. tar-ignored, as
    // srukit-out/ is in srukit's own tree): else the build would copy its own output.
    // Checked before anything is created, so a refusal writes nothing.
    let out = fsx::canonicalize_to_be(&req.out)?;
    if let Ok(rel) = out.strip_prefix(&req.tree)
        && !source::CopyFilter::for_tree(&req.tree)?.skips(rel)
    {
        return Err(BuildError::OutInsideTree { out, tree: req.tree.clone() });
    }
    fsx::create_dir_all(&out)?;
    // One staging directory per --out: two builds into one --out at once are not supported.
    let staging = out.join(".staging");
    fsx::remove_dir_all(&staging)?;
    fsx::create_dir_all(&staging.join("logs"))?;

    match phases(&req, &cl, &staging, rep) {
        Ok((mut manifest, artifacts)) => {
            manifest.timings.insert("total".into(), started.elapsed().as_secs_f64());
            publish(&out, &staging, &artifacts, &manifest)?;
            Ok(manifest)
        }
        Err(err) => Err(keep_failed(&out, &staging, err)),
    }
}

/// Runs the phases in the staging directory; returns the manifest and the artifacts
/// (paths in staging) it describes.
fn phases(
    req: &Request,
    cl: &Changelog,
    staging: &Path,
    rep: &dyn Reporter,
) -> Result<(Manifest, Vec<PathBuf>), BuildError> {
    let entry = cl.newest();
    let mut manifest = Manifest {
        schema: 1,
        source: cl.source.clone(),
        version: entry.version.clone(),
        distribution: entry.distribution.clone(),
        architectures: Vec::new(),
        since: None,
        files: Vec::new(),
        orig: None,
        testbed: None,
        logs: BTreeMap::new(),
        timings: BTreeMap::new(),
        lintian: None,
        signed: false,
    };
    let mut artifacts: Vec<PathBuf> = Vec::new();
    let mut lint_files: Vec<PathBuf> = Vec::new();

    // The source package is needed for a binary build too: the testbed builds from the .dsc.
    let step = rep.step("source package");
    let mut log = Log::create(&staging.join("logs/source.log"))?;
    manifest.logs.insert("source".into(), "logs/source.log".into());
    let src = source::build(req, cl, &staging.join("work"), &mut log)?;
    manifest.timings.insert("source".into(), step.finish(&src.dsc).as_secs_f64());
    if let Some(o) = &src.orig
        && let orig::OrigOrigin::Created { mtime } = o.origin
    {
        // A warning, not a note: an upload must carry the archive's orig, not a new one.
        rep.warn(&format!(
            "no orig tarball beside the tree or in --orig-dir: created {} from the tree (mtime @{mtime}); \
             for an upload, put the archive's orig beside the tree or pass --orig-dir",
            o.files[0]
        ));
    }
    if req.what != What::BinaryOnly {
        for name in source::dsc_files(&src.work, &src.dsc)? {
            artifacts.push(src.work.join(name));
        }
        artifacts.push(src.work.join(&src.changes));
        lint_files.push(src.work.join(&src.dsc));
        manifest.architectures.push("source".into());
        manifest.since = src.since.clone();
        manifest.orig = src.orig.clone();
        manifest.signed = req.sign.is_some();
    }

    if req.what != What::SourceOnly {
        let testbed = Path::new(&req.testbed)
            .file_stem()
            .map_or(req.testbed.clone(), |s| s.to_string_lossy().into_owned());
        let step = rep.step(&format!("binary packages ({testbed})"));
        let mut log = Log::create(&staging.join("logs/binary.log"))?;
        manifest.logs.insert("binary".into(), "logs/binary.log".into());
        let bin = binary::build(req, &src, &staging.join("bin"), &mut log, rep)?;
        // The packages, not the .changes and .buildinfo beside them: one short line.
        let debs: Vec<String> = bin
            .files
            .iter()
            .filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("deb" | "udeb")))
            .filter_map(|f| f.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        let outcome = match debs.as_slice() {
            [one] => one.clone(),
            many => format!("{} packages: {}", many.len(), many.join(" ")),
        };
        manifest.timings.insert("binary".into(), step.finish(&outcome).as_secs_f64());
        for f in &bin.files {
            if matches!(f.extension().and_then(|e| e.to_str()), Some("deb" | "udeb")) {
                lint_files.push(f.clone());
            }
        }
        artifacts.extend(bin.files);
        manifest.architectures.extend(bin.architectures);
        manifest.testbed = Some(bin.testbed);
    }

    if req.lintian {
        let step = rep.step("lintian");
        let mut log = Log::create(&staging.join("logs/lintian.log"))?;
        manifest.logs.insert("lintian".into(), "logs/lintian.log".into());
        let names: Vec<String> = lint_files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let mut result = lintian::run(staging, &names, &mut log)?;
        result.log = "logs/lintian.log".into();
        let summary: Vec<String> = result.counts.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        manifest.timings.insert("lintian".into(), step.finish(&summary.join(" ")).as_secs_f64());
        manifest.lintian = Some(result);
    }

    for path in &artifacts {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (size, sha256) = manifest::hash_file(path)?;
        let kind = manifest::kind_of(&name).to_string();
        manifest.files.push(FileEntry { name, size, sha256, kind });
    }
    Ok((manifest, artifacts))
}

/// Moves a complete build into `out`: the old manifest goes first (from then on `out` has
/// no manifest rather than a wrong one), the artifacts and logs are renamed into place
/// (same filesystem), and the new manifest is written last, atomically.
/// The previous build's artifacts go too, so `out` holds exactly what the manifest lists.
fn publish(out: &Path, staging: &Path, artifacts: &[PathBuf], manifest: &Manifest) -> Result<(), BuildError> {
    let previous = Manifest::read(out).ok();
    fsx::remove_file_if_exists(&out.join(manifest::FILE_NAME))?;
    for old in previous.iter().flat_map(|m| &m.files) {
        // Only plain names: a hand-edited manifest must not make srukit delete elsewhere.
        if !old.name.contains('/') && !old.name.starts_with('.') {
            fsx::remove_file_if_exists(&out.join(&old.name))?;
        }
    }
    for path in artifacts {
        let name = path.file_name().expect("artifacts are files");
        fsx::rename(path, &out.join(name))?;
    }
    fsx::remove_dir_all(&out.join("logs"))?;
    fsx::rename(&staging.join("logs"), &out.join("logs"))?;
    // A success supersedes an earlier failure's logs.
    fsx::remove_dir_all(&out.join("failed"))?;
    fsx::remove_dir_all(staging)?;
    let json = serde_json::to_string_pretty(manifest).expect("a manifest serializes");
    fsx::write_atomic(&out.join(manifest::FILE_NAME), format!("{json}\n"))?;
    Ok(())
}

/// After a failure: the logs go to `out/failed/` (the staging work is removed), the error's
/// log path is rewritten to where the log now is, and `out`'s previous build is untouched.
fn keep_failed(out: &Path, staging: &Path, mut err: BuildError) -> BuildError {
    let failed = out.join("failed");
    let moved = fsx::remove_dir_all(&failed)
        .and_then(|_| fsx::rename(&staging.join("logs"), &failed))
        .and_then(|_| fsx::remove_dir_all(staging));
    if moved.is_ok()
        && let BuildError::StepFailed { log, .. } = &mut err
        && let Some(name) = log.file_name()
    {
        *log = failed.join(name);
    }
    err
}
