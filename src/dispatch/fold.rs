//! The collected results folded into `RUN_OUT/dispatch/`: each job's artifacts unpacked
//! (`<series>/<side>/`), the exported tests' srukit-*.json read by the report reader per
//! target, and result.json + report/{launchpad.txt,report.md} + junit.xml written. A job
//! debci calls tmpfail, or one without a result, is an error for its target, never a pass.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::jobs::Job;
use super::{DispatchError, Result};
use crate::fsx;
use crate::process::Cmd;
use crate::verify::export::result as dep8;

pub const SCHEMA: &str = "srukit-dispatch-result";

/// A job's record in the result: who ran it and when.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: u64,
    pub series: String,
    pub side: String,
    pub package: String,
    pub version: Option<String>,
    pub status: Option<String>,
    pub message: Option<String>,
    pub worker: Option<String>,
    pub enqueued: String,
    /// The backend's own clock around autopkgtest (srukit-timing in the job's artifacts).
    pub started: Option<f64>,
    pub ended: Option<f64>,
    /// debci's creation of the job to the backend's start: the queue wait plus what the
    /// engine costs the job (bench/matrix separates the two per worker).
    pub queued_seconds: Option<f64>,
    pub test_seconds: Option<f64>,
    pub results: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct TargetResult {
    pub series: String,
    pub verdict: String,
    pub reasons: Vec<String>,
    pub summary: Option<dep8::Summary>,
    pub jobs: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct DispatchResult {
    pub schema: &'static str,
    pub schema_version: u32,
    pub run_out: PathBuf,
    pub verdict: String,
    pub targets: Vec<TargetResult>,
    pub jobs: Vec<JobRecord>,
}

fn rank(v: &str) -> u8 {
    match v {
        "error" => 3,
        "verification-failed" => 2,
        "inconclusive" => 1,
        _ => 0,
    }
}

fn epoch_of(iso: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(iso).ok().map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// `started S\nended E` as the backend writes it.
pub fn parse_timing(text: &str) -> (Option<f64>, Option<f64>) {
    let get =
        |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|v| v.trim().parse::<f64>().ok()));
    (get("started "), get("ended "))
}

/// Unpacks one job's collected artifacts into `dest`.
fn unpack(job: &Job, dest: &Path) -> Result<()> {
    if dest.exists() {
        fsx::remove_dir_all(dest)?;
    }
    fsx::create_dir_all(dest)?;
    let Some(row) = &job.row else { return Ok(()) };
    let tar = Path::new(&row.data_dir).join("artifacts.tar.gz");
    if tar.is_file() {
        Cmd::new("tar").arg("-xzf").arg(&tar).arg("-C").arg(dest).run()?;
    }
    let log = Path::new(&row.data_dir).join("log.gz");
    if log.is_file() {
        fsx::copy(&log, &dest.join("log.gz"))?;
    }
    Ok(())
}

fn record(job: &Job, dir: &Path) -> JobRecord {
    let timing = fsx::read_to_string(&dir.join("srukit-timing")).unwrap_or_default();
    let (started, ended) = parse_timing(&timing);
    let row = job.row.as_ref();
    // debci's own creation time of the job (its database row), else ours from before the call.
    let enqueued = row.and_then(|r| r.created_at.clone()).unwrap_or_else(|| job.enqueued.clone());
    JobRecord {
        id: job.id,
        series: job.series.clone(),
        side: job.side.clone(),
        package: job.package.clone(),
        version: row.and_then(|r| r.version.clone()),
        status: row.and_then(|r| r.status.clone()),
        message: row.and_then(|r| r.message.clone()),
        worker: row.and_then(|r| r.worker.clone()),
        queued_seconds: started.zip(epoch_of(&enqueued)).map(|(s, e)| s - e),
        enqueued,
        started,
        ended,
        test_seconds: started.zip(ended).map(|(s, e)| e - s),
        results: dir.to_path_buf(),
    }
}

/// Folds one run out dir's jobs; writes its dispatch dir; returns the result.
pub fn fold(run_out: &Path, jobs: &[Job]) -> Result<DispatchResult> {
    let out = run_out.join("dispatch");
    fsx::create_dir_all(&out)?;
    let mut records = Vec::new();
    let mut by_series: BTreeMap<String, Vec<(&Job, PathBuf)>> = BTreeMap::new();
    for j in jobs {
        let dir = out.join(&j.series).join(&j.side);
        unpack(j, &dir)?;
        records.push(record(j, &dir));
        by_series.entry(j.series.clone()).or_default().push((j, dir));
    }
    let mut targets = Vec::new();
    for (series, list) in by_series {
        let mut reasons = Vec::new();
        for (j, _) in &list {
            let status = j.row.as_ref().and_then(|r| r.status.clone());
            match status.as_deref() {
                Some("pass" | "fail" | "neutral") => {}
                Some(s) => reasons.push(format!(
                    "{} side (job {}): debci says {s}: {}",
                    j.side,
                    j.id,
                    j.row.as_ref().and_then(|r| r.message.clone()).unwrap_or_default()
                )),
                None => reasons.push(format!("{} side (job {}): no result", j.side, j.id)),
            }
        }
        let mut summary = None;
        if reasons.is_empty() {
            let mut results = Vec::new();
            for (j, dir) in &list {
                match job_results(&j.side, j.id, dir) {
                    Ok(rs) => results.extend(rs),
                    Err(why) => reasons.push(why),
                }
            }
            if reasons.is_empty() {
                summary = Some(dep8::summarize(results));
            }
        }
        let verdict = match &summary {
            Some(s) if reasons.is_empty() => {
                reasons.extend(s.reasons.iter().cloned());
                s.verdict.to_string()
            }
            _ => "error".to_string(),
        };
        targets.push(TargetResult {
            series,
            verdict,
            reasons,
            summary,
            jobs: list.iter().map(|(j, _)| j.id).collect(),
        });
    }
    let verdict = targets
        .iter()
        .map(|t| t.verdict.clone())
        .max_by_key(|v| rank(v))
        .unwrap_or_else(|| "error".to_string());
    let result = DispatchResult {
        schema: SCHEMA,
        schema_version: 1,
        run_out: run_out.to_path_buf(),
        verdict,
        targets,
        jobs: records,
    };
    write(&out, &result)?;
    Ok(result)
}

/// One job's exported-test results. They count for the side the job was for or not at all:
/// a backend that ran the other side must not fill in the side that is missing.
fn job_results(side: &str, id: u64, dir: &Path) -> std::result::Result<Vec<dep8::Dep8Result>, String> {
    let results = dep8::load(&[dir.to_path_buf()])
        .map_err(|e| format!("{side} side (job {id}): the artifacts hold no srukit result: {e}"))?;
    match results.iter().find(|r| r.side != side) {
        Some(r) => Err(format!("{side} side (job {id}): its result {} is for the {} side", r.test, r.side)),
        None => Ok(results),
    }
}

pub fn render(r: &DispatchResult) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "srukit dispatch (debci): {}", r.verdict);
    for target in &r.targets {
        let _ = writeln!(t, "\n== {}: {} ==", target.series, target.verdict);
        match &target.summary {
            Some(s) => t.push_str(&dep8::render(s)),
            None => {
                for reason in &target.reasons {
                    let _ = writeln!(t, "  {reason}");
                }
            }
        }
    }
    let _ = writeln!(t, "\nJobs:");
    for j in &r.jobs {
        let _ = writeln!(
            t,
            "  {} {} {}: {} on {} (queued {}, test {})",
            j.id,
            j.series,
            j.side,
            j.status.as_deref().unwrap_or("no result"),
            j.worker.as_deref().unwrap_or("?"),
            j.queued_seconds.map(|s| format!("{s:.2}s")).unwrap_or_else(|| "?".into()),
            j.test_seconds.map(|s| format!("{s:.1}s")).unwrap_or_else(|| "?".into()),
        );
    }
    t
}

fn junit(r: &DispatchResult) -> Result<String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("srukit dispatch");
    for target in &r.targets {
        let mut suite = TestSuite::new(target.series.clone());
        let status = match target.verdict.as_str() {
            "verification-done" => TestCaseStatus::success(),
            "verification-failed" => TestCaseStatus::non_success(NonSuccessKind::Failure),
            _ => TestCaseStatus::non_success(NonSuccessKind::Error),
        };
        let mut case = TestCase::new("verdict", status);
        case.set_system_out(target.reasons.join("\n"));
        suite.add_test_case(case);
        for res in target.summary.iter().flat_map(|s| &s.results) {
            for c in &res.checks {
                let st = match c.result.as_str() {
                    "pass" | "observed" => TestCaseStatus::success(),
                    "fail" => TestCaseStatus::non_success(NonSuccessKind::Failure),
                    _ => TestCaseStatus::non_success(NonSuccessKind::Error),
                };
                suite.add_test_case(TestCase::new(format!("{}/{}/{}", res.side, res.phase, c.id), st));
            }
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| DispatchError::Debci(e.to_string()))
}

fn write(out: &Path, r: &DispatchResult) -> Result<()> {
    let json = serde_json::to_string_pretty(r).map_err(|e| DispatchError::Debci(e.to_string()))?;
    fsx::write_atomic(&out.join("result.json"), json + "\n")?;
    let text = render(r);
    fsx::create_dir_all(&out.join("report"))?;
    fsx::write_atomic(&out.join("report/launchpad.txt"), &text)?;
    fsx::write_atomic(&out.join("report/report.md"), format!("```\n{text}```\n"))?;
    fsx::write_atomic(&out.join("junit.xml"), junit(r)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_is_read() {
        assert_eq!(parse_timing("started 10.5\nended 12.25\n"), (Some(10.5), Some(12.25)));
        assert_eq!(parse_timing(""), (None, None));
    }

    #[test]
    fn a_result_for_the_other_side_is_not_the_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let result = serde_json::json!({
            "schema": "srukit-dep8-result", "schema_version": 1, "generated_by": "srukit 0",
            "plan": "p", "plan_file": "verify.toml", "phase": "default", "side": "after",
            "sides": ["before", "after"], "phases": ["default"], "test": "srukit-p-default",
            "versions": {"x": "1"}, "installed": [], "checks": [], "error": null,
            "passed": 0, "failed": 0, "errors": 0, "verdict": "pass"
        });
        std::fs::write(dir.path().join("srukit-p-default.json"), result.to_string()).unwrap();
        let err = job_results("before", 7, dir.path()).unwrap_err();
        assert!(err.contains("before side (job 7)") && err.contains("for the after side"), "{err}");
        assert_eq!(job_results("after", 7, dir.path()).unwrap().len(), 1);
        let empty = tempfile::tempdir().unwrap();
        assert!(job_results("after", 8, empty.path()).unwrap_err().contains("no srukit result"));
    }

    #[test]
    fn the_worst_verdict_ranks_highest() {
        assert!(rank("error") > rank("verification-failed"));
        assert!(rank("verification-failed") > rank("inconclusive"));
        assert!(rank("inconclusive") > rank("verification-done"));
    }
}
