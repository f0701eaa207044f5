//! `run --archive`: the packages a target is verified on when nothing is built: the plan's
//! first `install` package as the series' release has it (from the source version the
//! manifest targets) against the same package from the target's pocket. Reads the archive's
//! indexes through a private apt (verify::archive); starts no testbed.

use crate::backport::manifest::Backport;
use crate::pipeline::PipelineError;
use crate::verify::archive::{Archive, Suite};
use crate::verify::packages::PackageSource;
use crate::verify::plan::Plan;

/// The two sides of an archive verification.
#[derive(Debug, Clone)]
pub struct Sides {
    /// The binary package both sides are taken by.
    pub package: String,
    /// `apt:PKG=VERSION@SERIES`: pinned to what the check saw.
    pub before: PackageSource,
    pub before_version: String,
    /// `apt:PKG@POCKET`.
    pub after: PackageSource,
}

/// The sides for `bp`'s target, checked: the release's package must come from the source
/// and version the manifest targets, else the pocket's package is not an update of it and
/// the verification would compare unrelated uploads.
pub fn check(bp: &Backport, plan: &Plan) -> Result<Sides, PipelineError> {
    let series = &bp.manifest.target.series;
    let Some(package) = plan.raw.install.first() else {
        return Err(PipelineError::Input(format!(
            "{}: --archive verifies the plan's first `install` package, and the plan installs none",
            plan.path.display()
        )));
    };
    let input = |what: String| {
        PipelineError::Input(format!("{}: target {series}: {what}", bp.manifest_path.display()))
    };
    let release = Suite::parse(series).map_err(|e| input(e.to_string()))?;
    let pocket_name = bp.pocket();
    let pocket = Suite::parse(&pocket_name).map_err(|e| input(e.to_string()))?;
    let resolved = Archive::open(&release)?.resolve(package, None)?;
    if resolved.source_package != bp.source() || resolved.source_version != bp.target_version.as_str() {
        return Err(input(format!(
            "--archive: {series} has {package} {} built from {} {}, but the target is {} {}: the \
             release's package is not the one this update is for (is `version` the series' point \
             release?)",
            resolved.version,
            resolved.source_package,
            resolved.source_version,
            bp.source(),
            bp.target_version
        )));
    }
    Ok(Sides {
        package: package.clone(),
        before: PackageSource::Apt {
            name: package.clone(),
            version: Some(resolved.version.clone()),
            suite: Some(release),
        },
        before_version: resolved.version,
        after: PackageSource::Apt { name: package.clone(), version: None, suite: Some(pocket) },
    })
}
