//! `srukit report RESULT_DIR --format launchpad|markdown|json|junit`: a verification result
//! (`RESULT_DIR/result.json`, written by `verify`) rendered for a bug, a merge request, a
//! pipeline or a CI test view; or the results exported DEP-8 tests wrote
//! (`srukit-<plan>-<phase>.json`, one or several: before and after) read together.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::fsx;
use crate::report::{self, Format};
use crate::verify::export::result as dep8;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The `verify --out` directory (or its result.json); or exported DEP-8 tests' results
    /// (`srukit-*.json` files, or autopkgtest output dirs holding them), several at once.
    #[arg(required = true, num_args = 1..)]
    pub result_dir: Vec<PathBuf>,
    /// What to render.
    #[arg(long, value_enum, default_value_t = Format::Launchpad)]
    pub format: Format,
    /// The release the verification tag names (default: the plan's series).
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Summary<'a> {
    format: Format,
    verdict: &'a str,
    tag: Option<String>,
    out: Option<&'a PathBuf>,
    /// The rendered report, when it was not written to a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a str>,
}

/// The exit code is 0 whenever the report was rendered, whatever the verdict: the verdict's
/// own exit code is `verify`'s, and a pipeline that renders a failed verification for the bug
/// has not itself failed.
pub fn run(args: ReportArgs, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    if args.result_dir.iter().any(|p| dep8::is_dep8(p)) {
        return run_dep8(&args);
    }
    let [result_dir] = args.result_dir.as_slice() else {
        return Err(crate::UsageError(
            "one `verify` result at a time; several paths are exported DEP-8 tests' results (srukit-*.json)"
                .into(),
        )
        .into());
    };
    if report::combined::is_combined(result_dir) {
        return run_combined(&args, result_dir);
    }
    let result = report::load(result_dir)?;
    let text = report::render(&result, args.format, args.series.as_deref())?;
    let tag = result.tag(args.series.as_deref());
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsx::create_dir_all(dir)?;
        }
        fsx::write_atomic(out, &text)
            .with_context(|| format!("writing the {} report", args.format.as_str()))?;
    }
    let summary = Summary {
        format: args.format,
        verdict: result.verdict.as_str(),
        tag: tag.clone(),
        out: args.out.as_ref(),
        report: if args.out.is_none() { Some(&text) } else { None },
    };
    let human = match &args.out {
        Some(out) => format!(
            "wrote the {} report to {} (verdict {}{})",
            args.format.as_str(),
            out.display(),
            result.verdict,
            tag.map(|t| format!(", tag {t}")).unwrap_or_default()
        ),
        None => text.clone(),
    };
    Ok(Outcome::new(Exit::Success, &summary, human))
}

/// Exported tests' results: what they say together (one side only is never
/// verification-done). JUnit: a testsuite per result, a testcase per check.
fn run_dep8(args: &ReportArgs) -> anyhow::Result<Outcome> {
    let summary = dep8::summarize(dep8::load(&args.result_dir)?);
    let text = match args.format {
        Format::Launchpad | Format::Markdown => dep8::render(&summary),
        Format::Json => serde_json::to_string_pretty(&summary)? + "\n",
        Format::Junit => junit(&summary)?,
    };
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsx::create_dir_all(dir)?;
        }
        fsx::write_atomic(out, &text)?;
    }
    let human = match &args.out {
        Some(out) => format!(
            "wrote the {} report to {} (verdict {})",
            args.format.as_str(),
            out.display(),
            summary.verdict
        ),
        None => text.clone(),
    };
    Ok(Outcome::new(Exit::Success, &summary, human))
}

fn junit(s: &dep8::Summary) -> anyhow::Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new(format!("srukit dep8 {}", s.plan));
    for r in &s.results {
        let mut suite = TestSuite::new(format!("{}/{}", r.side, r.phase));
        for c in &r.checks {
            let last = c.observations.last();
            let msg = format!(
                "expected {}, observed {} ({})",
                c.expected.as_deref().unwrap_or("nothing"),
                last.map(|o| o.outcome.as_str()).unwrap_or("nothing"),
                last.map(|o| o.observed.as_str()).unwrap_or("not observed")
            );
            let status = match c.result.as_str() {
                "pass" | "observed" => TestCaseStatus::success(),
                "fail" => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(msg.clone());
                    st
                }
                _ => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(msg.clone());
                    st
                }
            };
            let mut case = TestCase::new(c.id.clone(), status);
            case.set_system_out(msg);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    Ok(report.to_string()?)
}

/// A multi-target run's `OUT/result.json`: a section and a tag per series.
fn run_combined(args: &ReportArgs, path: &std::path::Path) -> anyhow::Result<Outcome> {
    let (combined, base) = report::combined::load(path)?;
    let text = report::combined::render(&combined, &base, args.format)?;
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsx::create_dir_all(dir)?;
        }
        fsx::write_atomic(out, &text)
            .with_context(|| format!("writing the {} report", args.format.as_str()))?;
    }
    let tags: Vec<String> = combined.targets.iter().filter_map(|t| t.tag.clone()).collect();
    let summary = Summary {
        format: args.format,
        verdict: combined.verdict.as_str(),
        tag: (!tags.is_empty()).then(|| tags.join(" ")),
        out: args.out.as_ref(),
        report: if args.out.is_none() { Some(&text) } else { None },
    };
    let human = match &args.out {
        Some(out) => format!(
            "wrote the {} report to {} (verdict {})\n",
            args.format.as_str(),
            out.display(),
            combined.verdict.as_str()
        ),
        None => text.clone(),
    };
    Ok(Outcome::new(Exit::Success, &summary, human))
}
