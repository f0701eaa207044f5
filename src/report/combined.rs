//! The combined result of a multi-target run (`OUT/result.json`, schema `srukit-run-result`):
//! one verdict per series and the overall one, rendered for Launchpad and Markdown (a section
//! and a tag per series) and JUnit (a testsuite per target). Reads each target's own
//! `<series>/verify/result.json` beside the combined file; writes nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde::{Deserialize, Serialize};

use super::{Format, ReportError};
use crate::fsx;
use crate::verify::result::{Verdict, VerifyResult};

pub const SCHEMA: &str = "srukit-run-result";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CombinedResult {
    pub schema: String,
    pub schema_version: u32,
    pub backport: String,
    pub verdict: Verdict,
    pub targets: Vec<TargetResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResult {
    pub series: String,
    pub distro: String,
    pub version_before: Option<String>,
    pub version_after: Option<String>,
    pub verdict: Verdict,
    pub reason: String,
    pub tag: Option<String>,
    pub would_tag: Option<String>,
    pub provenance: Option<String>,
    /// The target's verify result, relative to the combined file's dir.
    pub result: Option<String>,
    /// Why the target has no verdict of its own (it stopped before or in verify).
    pub error: Option<String>,
}

impl CombinedResult {
    /// `backport`'s result from its targets: error if any target errored, else
    /// verification-failed if any failed, else inconclusive if any was, else done.
    pub fn new(backport: &str, targets: Vec<TargetResult>) -> CombinedResult {
        let verdict = overall(targets.iter().map(|t| t.verdict));
        CombinedResult {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            backport: backport.into(),
            verdict,
            targets,
        }
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a combined result serializes") + "\n"
    }
}

pub fn overall(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let all: Vec<Verdict> = verdicts.collect();
    [Verdict::Error, Verdict::VerificationFailed, Verdict::Inconclusive]
        .into_iter()
        .find(|v| all.contains(v))
        .unwrap_or(Verdict::VerificationDone)
}

/// Whether `path` (a dir or a file) holds a combined result rather than a verify result.
pub fn is_combined(path: &Path) -> bool {
    let file = super::result_path(path);
    let Ok(Some(bytes)) = fsx::read_optional(&file) else { return false };
    serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v["schema"] == SCHEMA)
}

/// A combined result and the dir its targets' results are relative to.
pub fn load(path: &Path) -> Result<(CombinedResult, PathBuf), ReportError> {
    let file = super::result_path(path);
    let text = fsx::read_to_string(&file)?;
    let combined: CombinedResult = serde_json::from_str(&text).map_err(|e| ReportError::Parse {
        path: file.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if combined.schema_version != SCHEMA_VERSION {
        return Err(ReportError::SchemaVersion { path: file, found: combined.schema_version.into() });
    }
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((combined, base))
}

/// Each target's verify result, where it has one.
fn results(c: &CombinedResult, base: &Path) -> Result<Vec<Option<VerifyResult>>, ReportError> {
    c.targets.iter().map(|t| t.result.as_ref().map(|r| super::load(&base.join(r))).transpose()).collect()
}

/// Renders a combined result: each target's own report as its section, in manifest order.
pub fn render(c: &CombinedResult, base: &Path, format: Format) -> Result<String, ReportError> {
    let results = results(c, base)?;
    Ok(match format {
        Format::Json => c.to_json_pretty(),
        Format::Launchpad => text(c, &results, false)?,
        Format::Markdown => text(c, &results, true)?,
        Format::Junit => junit(c, &results)?,
    })
}

fn text(c: &CombinedResult, results: &[Option<VerifyResult>], markdown: bool) -> Result<String, ReportError> {
    let mut s = String::new();
    let series: Vec<&str> = c.targets.iter().map(|t| t.series.as_str()).collect();
    if markdown {
        let _ = writeln!(s, "# SRU verification of {}: {}\n", c.backport, series.join(", "));
        let _ = writeln!(s, "| series | versions | verdict | tag |\n|---|---|---|---|");
        for t in &c.targets {
            let _ = writeln!(s, "| {} | {} | {} | {} |", t.series, versions(t), t.verdict, tag_words(t));
        }
    } else {
        let _ = writeln!(
            s,
            "SRU verification of {} on {} series: {}",
            c.backport,
            series.len(),
            series.join(", ")
        );
        for t in &c.targets {
            let _ = writeln!(s, "  {}: {} ({}); {}", t.series, t.verdict, versions(t), tag_words(t));
        }
    }
    let _ = writeln!(s, "Overall: {}", c.verdict);
    for (t, r) in c.targets.iter().zip(results) {
        let title = format!("{} {}", t.distro, t.series);
        if markdown {
            let _ = writeln!(s, "\n## {title}\n");
        } else {
            let _ = writeln!(s, "\n=== {title} ===\n");
        }
        match (r, &t.error) {
            (Some(r), _) => {
                let format = if markdown { Format::Markdown } else { Format::Launchpad };
                s.push_str(&super::render(r, format, Some(&t.series))?);
            }
            (None, Some(e)) => {
                let _ = writeln!(s, "Verdict: error\nThis series was not verified: {e}");
            }
            (None, None) => {
                let _ = writeln!(s, "Verdict: {}\n{}", t.verdict, t.reason);
            }
        }
    }
    Ok(s)
}

fn versions(t: &TargetResult) -> String {
    match (&t.version_before, &t.version_after) {
        (Some(b), Some(a)) => format!("{b} -> {a}"),
        (Some(b), None) => format!("{b} -> ?"),
        _ => "-".into(),
    }
}

fn tag_words(t: &TargetResult) -> String {
    match (&t.tag, &t.would_tag) {
        (Some(tag), _) => format!("tag {tag}"),
        (None, Some(would)) => format!("no tag (pre-upload check); would tag {would}"),
        (None, None) => "no tag".into(),
    }
}

/// One testsuite per target: each check of each (side, phase) run a testcase
/// `side/phase/check`; a target that stopped is one `<error>` testcase.
fn junit(c: &CombinedResult, results: &[Option<VerifyResult>]) -> Result<String, ReportError> {
    let mut report = Report::new(format!("srukit run {}", c.backport));
    for (t, r) in c.targets.iter().zip(results) {
        let mut suite = TestSuite::new(t.series.as_str());
        suite.add_property(Property::new("verdict", t.verdict.as_str()));
        suite.add_property(Property::new("versions", versions(t)));
        if let Some(tag) = t.tag.as_ref().or(t.would_tag.as_ref()) {
            suite
                .add_property(Property::new(if t.tag.is_some() { "tag" } else { "would_tag" }, tag.as_str()));
        }
        let classname = format!("srukit.{}.{}", c.backport, t.series);
        if let Some(e) = &t.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(e.as_str()).set_type("error");
            let mut case = TestCase::new("pipeline", status);
            case.set_classname(classname.as_str());
            suite.add_test_case(case);
        }
        if let Some(r) = r {
            suite.set_time(super::junit::secs(r.seconds));
            for run in &r.runs {
                if let Some(err) = &run.error {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                    status.set_message(err.as_str()).set_type("error");
                    let mut case = TestCase::new(format!("{}/{}/testbed", run.side, run.phase), status);
                    case.set_classname(classname.as_str());
                    suite.add_test_case(case);
                }
                for check in &run.checks {
                    let mut case = TestCase::new(
                        format!("{}/{}/{}", run.side, run.phase, check.id),
                        super::junit::status(check),
                    );
                    case.set_classname(classname.as_str());
                    case.set_time(super::junit::secs(check.seconds));
                    suite.add_test_case(case);
                }
            }
        }
        report.add_test_suite(suite);
    }
    let xml =
        report.to_string().map_err(|e| ReportError::Render { format: "junit", message: e.to_string() })?;
    Ok(super::junit::drop_root_skipped(xml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_verdict_is_the_worst() {
        use Verdict::*;
        let table: &[(&[Verdict], Verdict)] = &[
            (&[VerificationDone, VerificationDone], VerificationDone),
            (&[VerificationDone, Inconclusive], Inconclusive),
            (&[Inconclusive, VerificationFailed], VerificationFailed),
            (&[VerificationFailed, Error, VerificationDone], Error),
        ];
        for (vs, want) in table {
            assert_eq!(overall(vs.iter().copied()), *want, "{vs:?}");
        }
    }

    #[test]
    fn a_target_that_stopped_is_an_error_section_and_testcase() {
        let t = |series: &str, verdict, error: Option<&str>| TargetResult {
            series: series.into(),
            distro: "debian".into(),
            version_before: Some("1.0-1".into()),
            version_after: None,
            verdict,
            reason: String::new(),
            tag: None,
            would_tag: None,
            provenance: None,
            result: None,
            error: error.map(Into::into),
        };
        let c = CombinedResult::new(
            "b",
            vec![
                t("bookworm", Verdict::Error, Some("hunk #1 does not apply")),
                t("trixie", Verdict::Inconclusive, None),
            ],
        );
        assert_eq!(c.verdict, Verdict::Error);
        let dir = tempfile::tempdir().unwrap();
        let lp = render(&c, dir.path(), Format::Launchpad).unwrap();
        assert!(
            lp.contains("=== debian bookworm ===") && lp.contains("not verified: hunk #1 does not apply"),
            "{lp}"
        );
        assert!(lp.contains("=== debian trixie ===") && lp.contains("Overall: error"), "{lp}");
        let xml = render(&c, dir.path(), Format::Junit).unwrap();
        assert!(
            xml.contains("<testsuite name=\"bookworm\"") && xml.contains("<testsuite name=\"trixie\""),
            "{xml}"
        );
        assert!(xml.contains("hunk #1 does not apply"), "{xml}");
        let back: CombinedResult =
            serde_json::from_str(&render(&c, dir.path(), Format::Json).unwrap()).unwrap();
        assert_eq!(back.targets.len(), 2);
    }
}
