//! `srukit apply`: a backport folder onto a distro source tree. Checks the tree is the right
//! package at the right version, copies the patches into `debian/patches/`, inserts them in
//! the series, checks strictly that the whole series applies (fuzz 0), and prepends the
//! changelog entry. All or nothing: reads and writes `debian/changelog`,
//! `debian/patches/series`, the new patch files (and `.pc/` with `--push`), and restores
//! them byte for byte on any failure.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::snapshot::Snapshot;
use crate::backport::manifest::{Backport, BackportPatch, Dep3Warning};
use crate::exit::{Exit, ExitCodeOf};
use crate::formats::changelog::{self, ChangelogError, DpkgParseError, NewEntry, TopEntry};
use crate::formats::distro_info::{Distro, DistroInfo, DistroInfoError};
use crate::formats::series::Series;
use crate::formats::version::{BumpRequest, Version, VersionError, next_version};
use crate::fsx::{self, FsError};
use crate::patch::{CheckReport, PatchError, PatchStatus, Quilt, Target};
use crate::reporter::Reporter;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "{}:{line}: the tree is source package `{found}`, the backport {} is for `{expected}`",
        changelog.display(), manifest.display()
    )]
    WrongPackage { changelog: PathBuf, line: usize, found: String, expected: String, manifest: PathBuf },
    #[error(
        "{}:{line}: the tree is at version {found}, the backport {} expects {expected}",
        changelog.display(), manifest.display()
    )]
    WrongVersion { changelog: PathBuf, line: usize, found: String, expected: String, manifest: PathBuf },
    #[error("{}:1: source format is `{found}`, apply needs `3.0 (quilt)`", path.display())]
    NotQuilt { path: PathBuf, found: String },
    #[error("{}: {count} patch(es) are applied; the tree must be unpatched (quilt pop -a)", pc.display())]
    Patched { pc: PathBuf, count: usize },
    #[error("{}: a different patch of that name is already in the tree (from {})", existing.display(), ours.display())]
    PatchConflict { existing: PathBuf, ours: PathBuf },
    #[error("{}:{line}: the series already lists `{name}`, but the tree's patch differs or is missing", series.display())]
    SeriesConflict { series: PathBuf, line: usize, name: String },
    #[error("{}: partly applied: {why}", tree.display())]
    PartlyApplied { tree: PathBuf, why: String },
    #[error("{}: `after = \"{after}\"` for {patch}: the series {} has no such patch", manifest.display(), series.display())]
    NoSuchAfter { manifest: PathBuf, patch: String, after: String, series: PathBuf },
    #[error("{}:{line}: hunk #{hunk} of {file} does not apply (fuzz 0): {reason}", patch.display())]
    DoesNotApply { patch: PathBuf, line: usize, file: String, hunk: usize, reason: String },
    #[error("{}: {source}", manifest.display())]
    Version {
        manifest: PathBuf,
        #[source]
        source: VersionError,
    },
    #[error("the new changelog entry is not what dpkg-parsechangelog reads back: {why}")]
    EntryMismatch { why: String },
    #[error(transparent)]
    Changelog(#[from] ChangelogError),
    #[error(transparent)]
    DpkgParse(#[from] DpkgParseError),
    #[error(transparent)]
    DistroInfo(#[from] DistroInfoError),
    #[error(transparent)]
    Patch(#[from] PatchError),
    #[error(transparent)]
    Io(#[from] FsError),
    #[error(transparent)]
    Manifest(#[from] crate::backport::manifest::ManifestError),
}

impl ExitCodeOf for ApplyError {
    fn exit(&self) -> Exit {
        match self {
            ApplyError::Manifest(e) => e.exit(),
            ApplyError::DoesNotApply { .. } => Exit::NotTrue,
            ApplyError::Changelog(e) => e.exit(),
            ApplyError::DpkgParse(e) => e.exit(),
            ApplyError::DistroInfo(e) => e.exit(),
            ApplyError::Patch(e) => e.exit(),
            ApplyError::Io(e) => e.exit(),
            ApplyError::EntryMismatch { .. } => Exit::CouldNotRun,
            _ => Exit::BadInput,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Do everything on a copy of the tree and report; the tree is not touched.
    pub dry_run: bool,
    /// Leave the series pushed (for inspection); default: unpatched, as dpkg-source wants.
    pub push: bool,
    /// The next series' version, overriding the manifest's `target.below`.
    pub below: Option<Version>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    pub backport: String,
    pub tree: PathBuf,
    pub package: String,
    pub old_version: String,
    pub new_version: String,
    pub distribution: String,
    /// The patches added, each with the series entry it follows (None: first line).
    pub patches: Vec<AddedPatch>,
    /// The series after the apply, in order.
    pub series: Vec<String>,
    /// The strict check of the whole series from the unpatched tree (offsets included).
    pub check: Option<CheckReport>,
    pub changelog_entry: String,
    pub launchpad_bugs_fixed: Vec<String>,
    pub closes: Vec<String>,
    pub already_applied: bool,
    pub dry_run: bool,
    pub pushed: bool,
    /// DEP-3 problems of the patches taken with `dep3 = "warn"`: applied, and said so.
    pub warnings: Vec<Dep3Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddedPatch {
    pub name: String,
    pub after: Option<String>,
}

/// The paths apply reads and writes, relative to the tree.
struct Paths {
    changelog: PathBuf,
    patches: PathBuf,
    series: PathBuf,
    format: PathBuf,
    pc: PathBuf,
}

impl Paths {
    fn of(tree: &Path) -> Paths {
        let patches = tree.join("debian/patches");
        Paths {
            changelog: tree.join("debian/changelog"),
            series: patches.join("series"),
            patches,
            format: tree.join("debian/source/format"),
            pc: tree.join(".pc"),
        }
    }
}

/// Everything computed before the tree is touched.
struct Plan {
    top: TopEntry,
    new_version: Version,
    series_bytes: Vec<u8>,
    series_names: Vec<String>,
    added: Vec<AddedPatch>,
    entry_text: String,
    changelog_bytes: Vec<u8>,
    dpkg_fields: std::collections::BTreeMap<String, String>,
}

pub fn apply(
    bp: &Backport,
    tree: &Path,
    opts: &ApplyOptions,
    rep: &dyn Reporter,
) -> Result<ApplyReport, ApplyError> {
    // With several [[target]]s the version, scheme and patches depend on the one chosen.
    if bp.is_multi() && bp.chosen.is_none() {
        return Err(crate::backport::manifest::ManifestError::TargetNeeded {
            path: bp.manifest_path.clone(),
            known: bp.series().join(", "),
        }
        .into());
    }
    let tree = fsx::canonicalize(tree)?;
    let paths = Paths::of(&tree);
    for w in bp.warnings() {
        rep.warn(&w.to_string());
    }
    let old_changelog = fsx::read(&paths.changelog)?;
    let top = changelog::top_entry(&old_changelog, &paths.changelog)?;
    if top.package != bp.source() {
        return Err(ApplyError::WrongPackage {
            changelog: paths.changelog,
            line: top.line,
            found: top.package,
            expected: bp.source().to_string(),
            manifest: bp.manifest_path.clone(),
        });
    }
    let new_version = bump(bp, opts, &bp.target_version)?;
    if let Some(report) = already_applied(bp, &tree, &paths, &top, &new_version)? {
        return Ok(report);
    }
    if top.version != bp.target_version {
        return Err(ApplyError::WrongVersion {
            changelog: paths.changelog,
            line: top.line,
            found: top.version.to_string(),
            expected: bp.target_version.to_string(),
            manifest: bp.manifest_path.clone(),
        });
    }
    let format = fsx::read_optional(&paths.format)?.map(|b| String::from_utf8_lossy(&b).trim().to_string());
    if format.as_deref() != Some("3.0 (quilt)") {
        return Err(ApplyError::NotQuilt {
            path: paths.format,
            found: format.unwrap_or_else(|| "1.0 (no file)".into()),
        });
    }
    let applied = Quilt::open(&tree)?.applied().len();
    if applied > 0 {
        return Err(ApplyError::Patched { pc: paths.pc, count: applied });
    }
    let plan = plan(bp, &paths, top, new_version, &old_changelog)?;

    let step = rep.step("apply");
    let result = if opts.dry_run {
        // A copy, so a dry run proves the same strict check without touching the tree.
        let tmp = tempfile::tempdir().map_err(|source| FsError {
            op: "create",
            path: std::env::temp_dir(),
            source,
        })?;
        let copy = tmp.path().join("tree");
        fsx::copy_tree(&tree, &copy)?;
        write_and_check(bp, &copy, &plan, false, rep)
    } else {
        let mut files = vec![paths.changelog.clone(), paths.series.clone()];
        files.extend(bp.patches.iter().map(|p| paths.patches.join(&p.name)));
        let pc = opts.push.then_some(paths.pc.as_path());
        // Every directory a patch lands in (patches in subdirectories: `CVE-1/01.patch`).
        let mut dirs: Vec<PathBuf> = vec![paths.patches.clone()];
        for p in &bp.patches {
            let dest = paths.patches.join(&p.name);
            dirs.extend(dest.ancestors().skip(1).take_while(|d| *d != paths.patches).map(Path::to_path_buf));
        }
        dirs.sort();
        dirs.dedup();
        let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let snap = Snapshot::take(&files, &dirs, pc)?;
        let r = write_and_check(bp, &tree, &plan, opts.push, rep);
        if r.is_err() {
            snap.restore()?;
        }
        r
    };
    let check = result?;
    step.finish(if opts.dry_run { "dry run" } else { "ok" });
    let field_list = |k: &str| -> Vec<String> {
        plan.dpkg_fields.get(k).map(|v| v.split_whitespace().map(String::from).collect()).unwrap_or_default()
    };
    Ok(ApplyReport {
        backport: bp.name().to_string(),
        tree,
        package: plan.top.package.clone(),
        old_version: plan.top.version.to_string(),
        new_version: plan.new_version.to_string(),
        distribution: bp.distribution().to_string(),
        patches: plan.added.clone(),
        series: plan.series_names.clone(),
        check: Some(check),
        changelog_entry: plan.entry_text.clone(),
        launchpad_bugs_fixed: field_list("Launchpad-Bugs-Fixed"),
        closes: field_list("Closes"),
        already_applied: false,
        dry_run: opts.dry_run,
        pushed: opts.push && !opts.dry_run,
        warnings: bp.warnings(),
    })
}

/// The new version: the scheme applied to the manifest's version, below the next series.
fn bump(bp: &Backport, opts: &ApplyOptions, old: &Version) -> Result<Version, ApplyError> {
    let scheme = bp.manifest.version.scheme;
    let target = &bp.manifest.target;
    let info;
    let release = if scheme.needs_release() {
        info = DistroInfo::load(target.distro)?;
        Some(info.number(&target.series)?)
    } else {
        None
    };
    let below = opts.below.as_ref().or(bp.below.as_ref());
    next_version(&BumpRequest { old, scheme, release, below })
        .map_err(|source| ApplyError::Version { manifest: bp.manifest_path.clone(), source })
}

/// Same backport applied before: every patch present byte for byte and in the series, and
/// the changelog at the version this backport makes. A different patch under one of our
/// names is an error; so is half of a backport.
fn already_applied(
    bp: &Backport,
    tree: &Path,
    paths: &Paths,
    top: &TopEntry,
    new_version: &Version,
) -> Result<Option<ApplyReport>, ApplyError> {
    let series = match fsx::read_optional(&paths.series)? {
        Some(b) => Some(Series::parse(&b, &paths.series).map_err(PatchError::from)?),
        None => None,
    };
    let mut identical = Vec::new();
    for p in &bp.patches {
        let dest = paths.patches.join(&p.name);
        match fsx::read_optional(&dest)? {
            Some(existing) if existing == p.bytes => identical.push(p.name.clone()),
            Some(_) => return Err(ApplyError::PatchConflict { existing: dest, ours: p.path.clone() }),
            None => {}
        }
        let listed = series.as_ref().and_then(|s| s.entries().into_iter().find(|e| e.name == p.name));
        if let Some(e) = listed.filter(|_| !identical.contains(&p.name)) {
            return Err(ApplyError::SeriesConflict {
                series: paths.series.clone(),
                line: e.line,
                name: p.name.clone(),
            });
        }
    }
    if identical.is_empty() {
        return Ok(None);
    }
    let partly = |why: String| Err(ApplyError::PartlyApplied { tree: tree.to_path_buf(), why });
    if identical.len() != bp.patches.len() {
        return partly(format!(
            "only {} of the backport's patches are in debian/patches",
            identical.join(", ")
        ));
    }
    let all_listed = bp.patches.iter().all(|p| series.as_ref().is_some_and(|s| s.contains(&p.name)));
    if !all_listed {
        return partly("the patches are in debian/patches but not all in the series".into());
    }
    if top.version != *new_version {
        return partly(format!(
            "the patches are there but the changelog is at {}, not {new_version}",
            top.version
        ));
    }
    Ok(Some(ApplyReport {
        backport: bp.name().to_string(),
        tree: tree.to_path_buf(),
        package: top.package.clone(),
        old_version: bp.target_version.to_string(),
        new_version: top.version.to_string(),
        distribution: top.distributions.join(" "),
        patches: Vec::new(),
        series: series.map(|s| s.entries().into_iter().map(|e| e.name).collect()).unwrap_or_default(),
        check: None,
        changelog_entry: String::new(),
        launchpad_bugs_fixed: Vec::new(),
        closes: Vec::new(),
        already_applied: true,
        dry_run: false,
        pushed: false,
        warnings: bp.warnings(),
    }))
}

fn plan(
    bp: &Backport,
    paths: &Paths,
    top: TopEntry,
    new_version: Version,
    old_changelog: &[u8],
) -> Result<Plan, ApplyError> {
    let mut series = match fsx::read_optional(&paths.series)? {
        Some(b) => Series::parse(&b, &paths.series).map_err(PatchError::from)?,
        None => Series::empty(&paths.series),
    };
    let mut added = Vec::new();
    for BackportPatch { name, after, .. } in &bp.patches {
        if let Some(a) = after.as_deref().filter(|a| !series.contains(a)) {
            return Err(ApplyError::NoSuchAfter {
                manifest: bp.manifest_path.clone(),
                patch: name.clone(),
                after: a.to_string(),
                series: paths.series.clone(),
            });
        }
        series.insert_after(after.as_deref(), name);
        let entries = series.entries();
        let idx = entries.iter().position(|e| &e.name == name).expect("just inserted");
        added.push(AddedPatch {
            name: name.clone(),
            after: idx.checked_sub(1).map(|i| entries[i].name.clone()),
        });
    }
    let target = &bp.manifest.target;
    let entry = NewEntry {
        package: top.package.clone(),
        version: new_version.clone(),
        distribution: bp.distribution().to_string(),
        urgency: bp.manifest.changelog.urgency,
        bullets: bp.bullets(),
        maintainer: changelog::maintainer_from_env(bp.manifest.changelog.maintainer.as_deref())?,
        date: changelog::entry_date(),
    };
    let entry_text = entry.render()?;
    let changelog_bytes = changelog::prepend(old_changelog, &entry)?;
    // dpkg-parsechangelog is the judge dpkg-source will use: it must read back our entry.
    let fields = changelog::dpkg_parse(&changelog_bytes, target.distro)?;
    let mismatch = |why: String| Err(ApplyError::EntryMismatch { why });
    if fields.get("Version").map(String::as_str) != Some(new_version.as_str()) {
        return mismatch(format!("Version is {:?}, want {new_version}", fields.get("Version")));
    }
    if fields.get("Distribution").map(String::as_str) != Some(bp.distribution()) {
        return mismatch(format!(
            "Distribution is {:?}, want {}",
            fields.get("Distribution"),
            bp.distribution()
        ));
    }
    if target.distro == Distro::Ubuntu {
        let lp = fields.get("Launchpad-Bugs-Fixed").map(String::as_str).unwrap_or("");
        for bug in &bp.manifest.bugs.launchpad {
            if !lp.split_whitespace().any(|b| b == bug.to_string()) {
                return mismatch(format!("Launchpad-Bugs-Fixed `{lp}` lacks {bug}"));
            }
        }
    }
    Ok(Plan {
        top,
        new_version,
        series_names: series.entries().into_iter().map(|e| e.name).collect(),
        series_bytes: series.to_bytes(),
        added,
        entry_text,
        changelog_bytes,
        dpkg_fields: fields,
    })
}

/// The writes, then the strict check, then (optionally) the push. The caller restores the
/// snapshot if this fails.
fn write_and_check(
    bp: &Backport,
    tree: &Path,
    plan: &Plan,
    push: bool,
    rep: &dyn Reporter,
) -> Result<CheckReport, ApplyError> {
    let paths = Paths::of(tree);
    fsx::create_dir_all(&paths.patches)?;
    for p in &bp.patches {
        let dest = paths.patches.join(&p.name);
        if let Some(parent) = dest.parent() {
            fsx::create_dir_all(parent)?;
        }
        fsx::write_atomic(&dest, &p.bytes)?;
    }
    fsx::write_atomic(&paths.series, &plan.series_bytes)?;
    let quilt = Quilt::open(tree)?;
    let check = quilt.check()?;
    for p in &check.patches {
        if let PatchStatus::Fails { file, hunk, patch_line, reason, .. } = &p.status {
            return Err(ApplyError::DoesNotApply {
                patch: paths.patches.join(&p.name),
                line: *patch_line,
                file: file.clone(),
                hunk: *hunk,
                reason: reason.clone(),
            });
        }
        if let PatchStatus::Offsets { hunks } = &p.status {
            rep.note(&format!("{} applies with offsets: {hunks:?}", p.name));
        }
    }
    fsx::write_atomic(&paths.changelog, &plan.changelog_bytes)?;
    if push {
        Quilt::open(tree)?.push(Target::All, rep)?;
    }
    Ok(check)
}
