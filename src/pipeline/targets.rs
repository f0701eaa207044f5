//! `srukit run` over a manifest's `[[target]]`s: each target's pipeline in
//! `OUT/<series>/<stage>/`, up to `jobs` targets at once on threads (a target that fails is
//! that target's error; the others go on), then the combined `OUT/result.json` and
//! `OUT/report/` (a section and a tag per series), written last.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use super::{One, Options, PipelineError, PipelineReport, archive, plan_path, resolve};
use crate::backport::manifest::Backport;
use crate::exit::{Exit, ExitCodeOf};
use crate::fsx;
use crate::report::combined::{CombinedResult, TargetResult};
use crate::report::{self, Format};
use crate::reporter::Reporter;
use crate::verify::plan::Plan;
use crate::verify::result::Verdict;

/// One target of a backport: what other parts (dispatch) need to find its run.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    pub series: String,
    /// The manifest as this target sees it (`Backport::for_target`).
    pub backport: Backport,
    /// The target's stage dirs, relative to the run's out dir (empty: the single-target
    /// layout, `OUT/<stage>/`).
    pub out: PathBuf,
    /// The plan's testbed for this target, when its `[[target]]` overrides it.
    pub testbed: Option<String>,
}

/// Every target of `bp`, in manifest order; the single `[target]` form is one target in the
/// out dir itself.
pub fn targets(bp: &Backport) -> Vec<TargetPlan> {
    if !bp.is_multi() {
        return vec![TargetPlan {
            series: bp.manifest.target.series.clone(),
            backport: bp.clone(),
            out: PathBuf::new(),
            testbed: None,
        }];
    }
    bp.series()
        .into_iter()
        .map(|series| {
            let view = bp.for_target(series).expect("a series of the manifest");
            TargetPlan {
                series: series.to_string(),
                testbed: view.testbed_override().map(str::to_string),
                backport: view,
                out: PathBuf::from(series),
            }
        })
        .collect()
}

/// One target's outcome in a multi-target run.
#[derive(Debug, Serialize)]
pub struct TargetSummary {
    pub series: String,
    /// The target's pipeline summary, when it ran to the end.
    #[serde(flatten)]
    pub report: Option<PipelineReport>,
    pub verdict: Verdict,
    pub error: Option<String>,
    /// The exit code a run of this target alone would give.
    pub exit: i32,
}

#[derive(Debug, Serialize)]
pub struct MultiReport {
    pub backport: String,
    pub out: PathBuf,
    pub verdict: Verdict,
    pub targets: Vec<TargetSummary>,
    pub reports: std::collections::BTreeMap<String, PathBuf>,
    pub seconds: f64,
    /// The worst target's exit code.
    #[serde(skip)]
    pub exit: Exit,
}

/// What a target needs before its thread starts; checked for every target first, so bad
/// input stops the run before any target starts.
struct Ready {
    plan: TargetPlan,
    test_plan: Plan,
    archive: Option<archive::Sides>,
    /// The fixture tree, found before anything starts; `None` for `--archive` and for a
    /// `source = "PKG=VERSION"` tree, which the target's thread downloads.
    fixture: Option<resolve::Source>,
}

pub fn run_all(opts: &Options, rep: &dyn Reporter) -> Result<MultiReport, PipelineError> {
    let started = Instant::now();
    let bp = Backport::load(&opts.backport)?;
    if opts.tree.is_some() || opts.source.is_some() {
        return Err(PipelineError::Input(format!(
            "{}: --tree and --source name one tree, and each [[target]] has its own (`fixture` or `source`)",
            bp.manifest_path.display()
        )));
    }
    let all = targets(&bp);
    for t in &opts.targets {
        if !all.iter().any(|p| &p.series == t) {
            return Err(PipelineError::Input(format!(
                "--target {t}: {} has no [[target]] with that series; its series: {}",
                bp.manifest_path.display(),
                bp.series().join(", ")
            )));
        }
    }
    let chosen: Vec<TargetPlan> =
        all.into_iter().filter(|p| opts.targets.is_empty() || opts.targets.contains(&p.series)).collect();
    let plan_path = plan_path(&bp)?;
    let plan = Plan::load(&plan_path)?;
    let mut ready = Vec::new();
    for t in chosen {
        let test_plan = match &t.testbed {
            Some(name) => plan.clone().with_testbed(name)?,
            None => plan.clone(),
        };
        let archive = if opts.archive { Some(archive::check(&t.backport, &test_plan)?) } else { None };
        let from_apt = t.backport.target_spec().is_some_and(|s| s.source.is_some());
        let fixture = if archive.is_none() && !from_apt {
            Some(resolve::locate(&t.backport, None, None).map_err(|e| match e {
                PipelineError::Input(m) => PipelineError::Input(format!("target {}: {m}", t.series)),
                e => e,
            })?)
        } else {
            None
        };
        ready.push(Ready { plan: t, test_plan, archive, fixture });
    }
    let out = opts.out.clone().unwrap_or_else(|| PathBuf::from("srukit-out").join(bp.name()));
    fsx::create_dir_all(&out)?;
    let out = fsx::canonicalize(&out)?;

    let jobs = opts.target_jobs.unwrap_or(2).clamp(1, ready.len().max(1));
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Result<PipelineReport, PipelineError>>>> =
        Mutex::new((0..ready.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(r) = ready.get(i) else { break };
                    let trep = crate::reporter::for_target(rep, &r.plan.series);
                    let outcome = run_target(r, &out, &plan_path, opts, trep.as_ref());
                    if let Err(e) = &outcome {
                        trep.warn(&format!("target failed: {e}"));
                    }
                    outcomes.lock().expect("no thread panics holding it")[i] = Some(outcome);
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().expect("no thread panics holding it");

    let mut summaries = Vec::new();
    let mut results = Vec::new();
    for (r, outcome) in ready.iter().zip(outcomes) {
        let outcome = outcome.expect("every target ran");
        let t = &r.plan.backport.manifest.target;
        let verify_result = r.plan.out.join("verify").join(report::RESULT_FILE);
        let (summary, result) = match outcome {
            Ok(p) => {
                let result = TargetResult {
                    series: r.plan.series.clone(),
                    distro: t.distro.to_string(),
                    version_before: Some(p.before_version.clone()).filter(|v| !v.is_empty()),
                    version_after: Some(p.after_version.clone()).filter(|v| !v.is_empty()),
                    verdict: p.verdict,
                    reason: p.reason.clone(),
                    tag: p.tag.clone(),
                    would_tag: p.would_tag.clone(),
                    provenance: Some(p.provenance.as_str().to_string()),
                    result: Some(verify_result.display().to_string()),
                    error: None,
                };
                let exit = verdict_exit(p.verdict);
                let s = TargetSummary {
                    series: r.plan.series.clone(),
                    verdict: p.verdict,
                    report: Some(p),
                    error: None,
                    exit: exit.code(),
                };
                (s, result)
            }
            Err(e) => {
                let message = chain_text(&e);
                // A verify that wrote its result but stopped later still has its evidence.
                let has_result = out.join(&verify_result).is_file();
                let result = TargetResult {
                    series: r.plan.series.clone(),
                    distro: t.distro.to_string(),
                    version_before: Some(r.plan.backport.target_version.to_string()),
                    version_after: None,
                    verdict: Verdict::Error,
                    reason: message.clone(),
                    tag: None,
                    would_tag: None,
                    provenance: None,
                    result: has_result.then(|| verify_result.display().to_string()),
                    error: Some(message.clone()),
                };
                let s = TargetSummary {
                    series: r.plan.series.clone(),
                    report: None,
                    verdict: Verdict::Error,
                    error: Some(message),
                    exit: e.exit().code(),
                };
                (s, result)
            }
        };
        summaries.push(summary);
        results.push(result);
    }
    let combined = CombinedResult::new(bp.name(), results);
    let reports = write_combined(&combined, &out)?;
    let worst = summaries.iter().map(|s| s.exit).max().unwrap_or(0);
    Ok(MultiReport {
        backport: bp.name().to_string(),
        out,
        verdict: combined.verdict,
        targets: summaries,
        reports,
        seconds: started.elapsed().as_secs_f64(),
        exit: [Exit::Success, Exit::NotTrue, Exit::BadInput, Exit::CouldNotRun]
            .into_iter()
            .find(|e| e.code() == worst)
            .unwrap_or(Exit::CouldNotRun),
    })
}

fn run_target(
    r: &Ready,
    out: &Path,
    plan_path: &Path,
    opts: &Options,
    rep: &dyn Reporter,
) -> Result<PipelineReport, PipelineError> {
    let dir = out.join(&r.plan.out);
    fsx::create_dir_all(&dir)?;
    let one = One {
        bp: &r.plan.backport,
        plan: &r.test_plan,
        plan_path,
        out: dir,
        from: opts.from,
        jobs: opts.jobs,
    };
    match (&r.archive, &r.fixture) {
        (Some(sides), _) => one.run_archive(sides, rep),
        (None, Some(fixture)) => one.run(fixture.clone(), rep),
        (None, None) => {
            let spec = r.plan.backport.target_spec().and_then(|t| t.source.as_deref());
            one.run(resolve::locate(&r.plan.backport, None, spec)?, rep)
        }
    }
}

/// `OUT/report/{launchpad.txt,report.md,junit.xml}`, then `OUT/result.json` last (each
/// atomically): a reader that finds the result finds its reports.
fn write_combined(
    c: &CombinedResult,
    out: &Path,
) -> Result<std::collections::BTreeMap<String, PathBuf>, PipelineError> {
    let dir = out.join("report");
    fsx::create_dir_all(&dir)?;
    let mut files = std::collections::BTreeMap::new();
    for (format, name) in
        [(Format::Launchpad, "launchpad.txt"), (Format::Markdown, "report.md"), (Format::Junit, "junit.xml")]
    {
        let path = dir.join(name);
        fsx::write_atomic(&path, report::combined::render(c, out, format)?)?;
        files.insert(format.as_str().to_string(), path);
    }
    let path = out.join(report::RESULT_FILE);
    fsx::write_atomic(&path, c.to_json_pretty())?;
    files.insert("json".into(), path);
    Ok(files)
}

/// A verdict's exit code, as `verify` documents it.
fn verdict_exit(v: Verdict) -> Exit {
    match v {
        Verdict::VerificationDone => Exit::Success,
        Verdict::VerificationFailed | Verdict::Inconclusive => Exit::NotTrue,
        Verdict::Error => Exit::CouldNotRun,
    }
}

/// An error and its causes on one line, as the edge prints an error.
fn chain_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
