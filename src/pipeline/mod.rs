//! `srukit run`: the whole SRU pipeline for one backport folder, as the release engineer
//! would do it by hand: resolve the target tree, build the old package from the untouched
//! tree, apply the backport, build the new package, verify both, write the reports. Each
//! stage owns a dir under `--out` with a `stage.json`; a stage whose inputs did not change
//! is skipped, and `--from STAGE` resumes there.

pub mod archive;
pub mod resolve;
pub mod stage;
pub mod targets;

pub use targets::{TargetPlan, targets};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::backport::apply::{ApplyOptions, apply};
use crate::backport::manifest::Backport;
use crate::build::{self, What};
use crate::exit::{Exit, ExitCodeOf};
use crate::fsx;
use crate::report::{self, Format};
use crate::reporter::Reporter;
use crate::verify::engine;
use crate::verify::packages::PackageSource;
use crate::verify::plan::Plan;
use crate::verify::result::{BugRef, PlanInfo, Tracker, Verdict};
use stage::{InputHash, Record, Stage};

/// The testbed binaries are built in, unless a plan or user says otherwise.
pub const BUILD_TESTBED: &str = "bookworm-build";

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Input(String),
    #[error("--from {0}: the earlier stage {1} has not finished in {2}; run without --from first")]
    NotResumable(&'static str, &'static str, PathBuf),
    #[error(transparent)]
    Manifest(#[from] crate::backport::manifest::ManifestError),
    #[error(transparent)]
    Apply(#[from] crate::backport::apply::ApplyError),
    #[error(transparent)]
    Build(#[from] crate::build::BuildError),
    #[error(transparent)]
    Plan(#[from] crate::verify::plan::PlanError),
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

impl ExitCodeOf for PipelineError {
    fn exit(&self) -> Exit {
        match self {
            PipelineError::Input(_) | PipelineError::NotResumable(..) => Exit::BadInput,
            PipelineError::Manifest(e) => e.exit(),
            PipelineError::Apply(e) => e.exit(),
            PipelineError::Build(e) => e.exit(),
            PipelineError::Plan(e) => e.exit(),
            PipelineError::Verify(e) => e.exit(),
            PipelineError::Report(e) => e.exit(),
            PipelineError::Process(e) => e.exit(),
            PipelineError::Fs(e) => e.exit(),
        }
    }
}

pub struct Options {
    pub backport: PathBuf,
    pub tree: Option<PathBuf>,
    /// `PKG=VERSION`, fetched with `apt-get source`.
    pub source: Option<String>,
    /// Default: `./srukit-out/<backport name>`.
    pub out: Option<PathBuf>,
    pub from: Option<Stage>,
    /// How many verification testbeds run at once within a target.
    pub jobs: usize,
    /// How many targets run at once (multi-target manifests); `None`: the number of targets,
    /// at most 2.
    pub target_jobs: Option<usize>,
    /// The `[[target]]` series to run; empty: all.
    pub targets: Vec<String>,
    /// Verify the archive's packages (release vs the target's pocket): no build.
    pub archive: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    pub stage: Stage,
    /// `ran`, `skipped` (inputs unchanged) or `resumed` (before `--from`).
    pub status: &'static str,
    pub seconds: f64,
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub backport: String,
    pub out: PathBuf,
    pub tree: String,
    pub before_version: String,
    pub after_version: String,
    pub verdict: Verdict,
    pub reason: String,
    /// Only for packages from the archive's proposed or security pocket.
    pub tag: Option<String>,
    /// Where the after packages came from (`local-build` for the pipeline's own builds).
    pub provenance: crate::verify::result::Provenance,
    /// The tag the same verdict would set on packages from the proposed pocket.
    pub would_tag: Option<String>,
    pub reports: BTreeMap<String, PathBuf>,
    pub stages: Vec<StageSummary>,
    pub seconds: f64,
}

/// `srukit run` for a single-`[target]` manifest: the stages in `OUT/<stage>/`.
pub fn run(opts: &Options, rep: &dyn Reporter) -> Result<PipelineReport, PipelineError> {
    let started = Instant::now();
    // Everything the user gave is read and checked before any stage writes anything.
    let bp = Backport::load(&opts.backport)?;
    if bp.is_multi() {
        return Err(PipelineError::Input(format!(
            "{}: the manifest has [[target]]s: run them with `srukit run` (targets::run_all)",
            bp.manifest_path.display()
        )));
    }
    if opts.targets.iter().any(|t| t != &bp.manifest.target.series) {
        return Err(PipelineError::Input(format!(
            "--target {}: the manifest's one target is {}",
            opts.targets.join(","),
            bp.manifest.target.series
        )));
    }
    let plan_path = plan_path(&bp)?;
    let plan = Plan::load(&plan_path)?;
    let out = opts.out.clone().unwrap_or_else(|| PathBuf::from("srukit-out").join(bp.name()));
    let archive = if opts.archive { Some(archive::check(&bp, &plan)?) } else { None };
    let source = match &archive {
        Some(_) => None,
        None => Some(resolve::locate(&bp, opts.tree.as_deref(), opts.source.as_deref())?),
    };
    fsx::create_dir_all(&out)?;
    let out = fsx::canonicalize(&out)?;
    let one = One { bp: &bp, plan: &plan, plan_path: &plan_path, out, from: opts.from, jobs: opts.jobs };
    let mut report = match archive {
        Some(sides) => one.run_archive(&sides, rep)?,
        None => one.run(source.expect("a tree unless --archive"), rep)?,
    };
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One target's pipeline: its backport view, plan, and stage dirs under `out`.
pub(crate) struct One<'a> {
    pub bp: &'a Backport,
    pub plan: &'a Plan,
    pub plan_path: &'a Path,
    pub out: PathBuf,
    pub from: Option<Stage>,
    pub jobs: usize,
}

impl One<'_> {
    pub(crate) fn run(
        &self,
        source: resolve::Source,
        rep: &dyn Reporter,
    ) -> Result<PipelineReport, PipelineError> {
        let started = Instant::now();
        let (bp, plan_path, out) = (self.bp, self.plan_path, self.out.clone());
        let mut p = Pipeline { out: out.clone(), from: self.from, rep, stages: Vec::new() };
        let mut resolve_in = InputHash::default().tree("tree", &source.tree)?;
        if let Some(script) = &source.make_orig {
            resolve_in = resolve_in.file("make-orig", script)?;
        }
        let resolve_in = resolve_in.finish();
        let resolved = p.staged(Stage::Resolve, &resolve_in, |dir| {
            fsx::copy_tree(&source.tree, &dir.join("tree"))?;
            // Beside the tree copy, where both builds look for it.
            let made = resolve::make_orig(&source, dir)?;
            Ok(serde_json::json!({ "source": source.described, "orig_made": made }))
        })?;
        let before_tree = Stage::Resolve.dir(&out).join("tree");
        // The after tree is elsewhere: its build looks for the orig where the before build found it.
        let mut orig_dirs = source.orig_dirs.clone();
        orig_dirs.push(Stage::Resolve.dir(&out));

        let (build_name, build_testbed) = build_testbed(bp);
        let build_before_in = chain(&resolved, "build", &build_name);
        let built_before = p.in_place(Stage::BuildBefore, &build_before_in, |dir| {
            let rep = &InStage::new(rep, Stage::BuildBefore);
            let m = build::build(&build_request(&before_tree, dir, orig_dirs.clone(), &build_testbed), rep)?;
            Ok(serde_json::json!({ "version": m.version }))
        })?;

        let apply_in =
            InputHash::default().text("resolved", &resolved.inputs).tree("backport", &bp.dir)?.finish();
        let applied = p.staged(Stage::Apply, &apply_in, |dir| {
            let tree = dir.join("tree");
            fsx::copy_tree(&before_tree, &tree)?;
            let report = apply(bp, &tree, &ApplyOptions::default(), &InStage::new(rep, Stage::Apply))?;
            Ok(serde_json::to_value(&report).unwrap_or_default())
        })?;
        let after_tree = Stage::Apply.dir(&out).join("tree");

        let build_after_in = chain(&applied, "build", &build_name);
        let built_after = p.in_place(Stage::BuildAfter, &build_after_in, |dir| {
            let rep = &InStage::new(rep, Stage::BuildAfter);
            let m = build::build(&build_request(&after_tree, dir, orig_dirs.clone(), &build_testbed), rep)?;
            Ok(serde_json::json!({ "version": m.version }))
        })?;

        let verify_in = InputHash::default()
            .text("before", &built_before.inputs)
            .text("after", &built_after.inputs)
            .file("plan", plan_path)?;
        let before = PackageSource::Dir(Stage::BuildBefore.dir(&out));
        let after = PackageSource::Dir(Stage::BuildAfter.dir(&out));
        let result = self.verify_and_report(&mut p, verify_in, before, after, rep)?;
        let series = bp.manifest.target.series.clone();

        let versions = (version_of(&built_before), version_of(&built_after));
        Ok(summary(bp, source.described, versions, &result, &series, p.stages, out, started))
    }
}

impl One<'_> {
    /// The verify and report stages, on the sides' packages; `verify_in` holds what decided
    /// the packages.
    fn verify_and_report(
        &self,
        p: &mut Pipeline,
        verify_in: InputHash,
        before: PackageSource,
        after: PackageSource,
        rep: &dyn Reporter,
    ) -> Result<crate::verify::result::VerifyResult, PipelineError> {
        let (bp, plan, out) = (self.bp, self.plan, &self.out);
        let mut verify_in = verify_in.text("srukit", env!("CARGO_PKG_VERSION"));
        // Only an override joins the hash: a single-target run's stages stay as they were.
        if bp.testbed_override().is_some() {
            verify_in = verify_in.text("testbed", &plan.raw.testbed);
        }
        let verify_in = verify_in.finish();
        let info = plan_info(bp, self.plan_path);
        let verified = p.in_place(Stage::Verify, &verify_in, |dir| {
            let result = engine::verify(
                plan,
                &engine::Options {
                    before: Some(before),
                    after: Some(after),
                    only: None,
                    out: dir.to_path_buf(),
                    jobs: self.jobs,
                    backend: None,
                    info: Some(info.clone()),
                },
                &InStage::new(rep, Stage::Verify),
            )?;
            Ok(serde_json::json!({ "verdict": result.verdict }))
        })?;
        let result = report::load(&Stage::Verify.dir(out))?;
        let report_in = chain(&verified, "formats", "launchpad markdown json junit");
        let series = bp.manifest.target.series.clone();
        p.staged(Stage::Report, &report_in, |dir| {
            for (format, file) in REPORTS {
                let text = report::render(&result, *format, Some(&series))?;
                fsx::write(&dir.join(file), text)?;
            }
            Ok(serde_json::json!({ "files": REPORTS.iter().map(|(_, f)| *f).collect::<Vec<_>>() }))
        })?;
        Ok(result)
    }

    /// `--archive`: the release's packages against the pocket's, no build; the stages are
    /// verify and report.
    pub(crate) fn run_archive(
        &self,
        sides: &archive::Sides,
        rep: &dyn Reporter,
    ) -> Result<PipelineReport, PipelineError> {
        let started = Instant::now();
        let out = self.out.clone();
        let mut p = Pipeline { out: out.clone(), from: self.from, rep, stages: Vec::new() };
        // The archive moves: the resolved versions are the inputs, so a new upload reruns.
        let verify_in = InputHash::default()
            .text("before", &sides.before.describe())
            .text("before-version", &sides.before_version)
            .text("after", &sides.after.describe())
            .file("plan", self.plan_path)?;
        let result =
            self.verify_and_report(&mut p, verify_in, sides.before.clone(), sides.after.clone(), rep)?;
        let series = self.bp.manifest.target.series.clone();
        let version = |side| {
            result
                .side(side)
                .and_then(|s| s.packages.iter().find(|p| p.name == sides.package))
                .map(|p| p.version.clone())
                .unwrap_or_default()
        };
        let tree = format!("{} and {}", sides.before.describe(), sides.after.describe());
        let versions =
            (version(crate::verify::result::Side::Before), version(crate::verify::result::Side::After));
        Ok(summary(self.bp, tree, versions, &result, &series, p.stages, out, started))
    }
}

const REPORTS: &[(Format, &str)] = &[
    (Format::Launchpad, "launchpad.txt"),
    (Format::Markdown, "report.md"),
    (Format::Json, "result.json"),
    (Format::Junit, "junit.xml"),
];

fn plan_path(bp: &Backport) -> Result<PathBuf, PipelineError> {
    let plan = bp.manifest.plan.as_deref().ok_or_else(|| {
        PipelineError::Input(format!(
            "{}: no `plan`: srukit run needs a verification plan",
            bp.manifest_path.display()
        ))
    })?;
    Ok(bp.dir.join(plan))
}

fn plan_info(bp: &Backport, plan_path: &Path) -> PlanInfo {
    let mut info = PlanInfo::new(bp.name(), plan_path.display().to_string(), bp.manifest.summary.clone());
    info.series = Some(bp.manifest.target.series.clone());
    info.distro = bp.manifest.target.distro.to_string();
    info.warnings = bp.warnings().iter().map(ToString::to_string).collect();
    let bugs = &bp.manifest.bugs;
    info.bugs = bugs
        .launchpad
        .iter()
        .map(|id| BugRef { tracker: Tracker::Launchpad, id: *id })
        .chain(bugs.debian.iter().map(|id| BugRef { tracker: Tracker::Debian, id: *id }))
        .collect();
    info
}

fn build_request(tree: &Path, out: &Path, orig_dirs: Vec<PathBuf>, testbed: &str) -> build::Request {
    build::Request {
        tree: tree.to_path_buf(),
        out: out.to_path_buf(),
        orig_dirs,
        since: None,
        sign: None,
        lintian: false,
        what: What::Both,
        testbed: testbed.to_string(),
        cache: None,
    }
}

/// The build testbed's definition: the one beside the backport folder's repository (a
/// backport run from anywhere builds with its own repository's testbeds), else by name in
/// the usual places.
/// One target's summary from its verification result: the same for a built and an
/// archive run.
#[allow(clippy::too_many_arguments)]
fn summary(
    bp: &Backport,
    tree: String,
    (before_version, after_version): (String, String),
    result: &crate::verify::result::VerifyResult,
    series: &str,
    stages: Vec<StageSummary>,
    out: PathBuf,
    started: Instant,
) -> PipelineReport {
    PipelineReport {
        backport: bp.name().to_string(),
        tree,
        before_version,
        after_version,
        verdict: result.verdict,
        reason: result.reason.clone(),
        tag: result.tag(Some(series)),
        provenance: result.provenance(),
        would_tag: result.would_tag(Some(series)),
        reports: REPORTS
            .iter()
            .map(|(f, file)| (f.as_str().to_string(), Stage::Report.dir(&out).join(file)))
            .collect(),
        stages,
        out,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The testbed a target builds in, by name and by what to open: `<series>-build` where a
/// definition of that name is found (a trixie update builds with trixie's toolchain), else
/// `bookworm-build` (a series srukit has no image for, such as the flagship's trusty).
fn build_testbed(bp: &Backport) -> (String, String) {
    let own = format!("{}-build", bp.manifest.target.series);
    for name in [own.as_str(), BUILD_TESTBED] {
        if let Ok(p) = crate::testbed::definition::find_near(name, Some(&bp.dir)) {
            return (name.to_string(), p.display().to_string());
        }
    }
    (BUILD_TESTBED.to_string(), BUILD_TESTBED.to_string())
}

fn chain(prev: &Record, label: &str, value: &str) -> String {
    InputHash::default().text("previous", &prev.inputs).text(label, value).finish()
}

fn version_of(rec: &Record) -> String {
    rec.summary["version"].as_str().unwrap_or_default().to_string()
}

/// The reporter a stage's work gets. The stage's own step is its one line: a step the work
/// opens under the stage's name (apply's `apply`) is not a second one.
struct InStage<'a> {
    rep: &'a dyn Reporter,
    stage: Stage,
}

impl<'a> InStage<'a> {
    fn new(rep: &'a dyn Reporter, stage: Stage) -> InStage<'a> {
        InStage { rep, stage }
    }
}

impl Reporter for InStage<'_> {
    fn step(&self, name: &str) -> crate::reporter::Step {
        if name == self.stage.name() { crate::reporter::Quiet.step(name) } else { self.rep.step(name) }
    }
    fn note(&self, msg: &str) {
        self.rep.note(msg)
    }
    fn warn(&self, msg: &str) {
        self.rep.warn(msg)
    }
}

struct Pipeline<'a> {
    out: PathBuf,
    from: Option<Stage>,
    rep: &'a dyn Reporter,
    stages: Vec<StageSummary>,
}

impl Pipeline<'_> {
    /// A stage that builds its dir aside and renames it into place: a failure leaves the
    /// previous output as it was.
    fn staged<F>(&mut self, stage: Stage, inputs: &str, body: F) -> Result<Record, PipelineError>
    where
        F: FnOnce(&Path) -> Result<serde_json::Value, PipelineError>,
    {
        let dir = stage.dir(&self.out);
        if let Some(rec) = self.reuse(stage, inputs)? {
            return Ok(rec);
        }
        let staging = self.out.join(format!(".{}.new", stage.name()));
        fsx::remove_dir_all(&staging)?;
        fsx::create_dir_all(&staging)?;
        let rec = self.execute(stage, inputs, &staging, body)?;
        fsx::remove_dir_all(&dir)?;
        fsx::rename(&staging, &dir)?;
        Ok(rec)
    }

    /// A stage whose module keeps its own output whole on failure (build, verify).
    fn in_place<F>(&mut self, stage: Stage, inputs: &str, body: F) -> Result<Record, PipelineError>
    where
        F: FnOnce(&Path) -> Result<serde_json::Value, PipelineError>,
    {
        let dir = stage.dir(&self.out);
        if let Some(rec) = self.reuse(stage, inputs)? {
            return Ok(rec);
        }
        fsx::create_dir_all(&dir)?;
        // A record left from other inputs must not survive an interrupted run.
        fsx::remove_file_if_exists(&stage::record_path(&dir))?;
        self.execute(stage, inputs, &dir, body)
    }

    fn reuse(&mut self, stage: Stage, inputs: &str) -> Result<Option<Record>, PipelineError> {
        let dir = stage.dir(&self.out);
        let status = match self.from {
            Some(from) if stage < from => {
                let bytes = fsx::read_optional(&stage::record_path(&dir))?;
                let rec = bytes
                    .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
                    .ok_or_else(|| PipelineError::NotResumable(from.name(), stage.name(), dir.clone()))?;
                self.rep.note(&format!("{}: resumed from {}", stage.name(), dir.display()));
                Some((rec, "resumed"))
            }
            Some(_) => None,
            None => stage::finished_with(&dir, inputs).map(|rec| (rec, "skipped")),
        };
        Ok(status.map(|(rec, status)| {
            let step = self.rep.step(stage.name());
            step.finish(if status == "skipped" { "skipped: inputs unchanged" } else { "resumed" });
            self.stages.push(StageSummary { stage, status, seconds: 0.0, dir });
            rec
        }))
    }

    fn execute<F>(&mut self, stage: Stage, inputs: &str, dir: &Path, body: F) -> Result<Record, PipelineError>
    where
        F: FnOnce(&Path) -> Result<serde_json::Value, PipelineError>,
    {
        let step = self.rep.step(stage.name());
        let summary = body(dir)?;
        let seconds = step.finish("done").as_secs_f64();
        let rec = Record {
            stage,
            inputs: inputs.to_string(),
            finished: chrono::Utc::now().to_rfc3339(),
            seconds,
            summary,
        };
        // A verification that could not run proves nothing: it is never recorded as
        // finished, so the next run tries again.
        if rec.summary["verdict"] != "error" {
            stage::write_record(dir, &rec)?;
        }
        self.stages.push(StageSummary { stage, status: "ran", seconds, dir: stage.dir(&self.out) });
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_cover_every_format() {
        let names: Vec<&str> = REPORTS.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["launchpad", "markdown", "json", "junit"]);
    }
}
