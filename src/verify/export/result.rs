//! The JSON an exported test writes (`$AUTOPKGTEST_ARTIFACTS/srukit-<plan>-<phase>.json`,
//! docs/dep8-result.md) read back, and what several of them (before and after, every phase)
//! say together: `verification-done` only when every (side, phase) of the plan was observed
//! and held. Reads the files; writes nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::{Exit, ExitCodeOf};
use crate::fsx;

/// The `schema` value of an exported test's result.
pub const SCHEMA: &str = "srukit-dep8-result";
pub const SCHEMA_VERSION: u64 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Dep8Result {
    pub schema: String,
    pub schema_version: u64,
    pub generated_by: String,
    pub plan: String,
    pub plan_file: String,
    pub phase: String,
    pub side: String,
    pub sides: Vec<String>,
    pub phases: Vec<String>,
    pub test: String,
    /// Package -> the version this side expects.
    pub versions: BTreeMap<String, String>,
    pub installed: Vec<Installed>,
    pub checks: Vec<Dep8Check>,
    pub error: Option<String>,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    /// `pass`, `fail` or `error`.
    pub verdict: String,
    /// Where it was read from (not in the file).
    #[serde(default, skip_deserializing)]
    pub file: PathBuf,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Installed {
    pub name: String,
    /// dpkg-query's `Status-Abbrev<TAB>Version`, empty when unknown to dpkg.
    pub dpkg: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Dep8Check {
    pub id: String,
    pub family: String,
    pub expected: Option<String>,
    /// `pass`, `fail`, `error` or `observed` (nothing expected).
    pub result: String,
    pub observations: Vec<Observation>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Observation {
    pub after_step: String,
    /// The outcome that matched, `unmatched`, or `error`.
    pub outcome: String,
    pub observed: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("{}: not an exported test's result: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{}: holds no srukit-*.json exported test result", path.display())]
    None { path: PathBuf },
    #[error("{}: plan `{found}`, but {} is plan `{first}`: one report is one plan", path.display(), first_path.display())]
    TwoPlans { path: PathBuf, found: String, first: String, first_path: PathBuf },
    #[error(transparent)]
    Fs(#[from] fsx::FsError),
}

impl ExitCodeOf for ResultError {
    fn exit(&self) -> Exit {
        match self {
            ResultError::Fs(e) => e.exit(),
            _ => Exit::BadInput,
        }
    }
}

/// Whether `path` is (or holds) exported test results rather than a `verify` result.
pub fn is_dep8(path: &Path) -> bool {
    if path.is_dir() {
        return !path.join("result.json").exists() && !files(path).is_empty();
    }
    fsx::read_to_string(path)
        .is_ok_and(|t| serde_json::from_str::<serde_json::Value>(&t).is_ok_and(|v| v["schema"] == SCHEMA))
}

/// The `srukit-*.json` files under a directory (an autopkgtest output dir keeps them in
/// `artifacts/`), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .max_depth(3)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("srukit-") && n.ends_with(".json"))
        })
        .collect();
    out.sort();
    out
}

/// Reads every result the paths name (files, or directories holding them).
pub fn load(paths: &[PathBuf]) -> Result<Vec<Dep8Result>, ResultError> {
    let mut out: Vec<Dep8Result> = Vec::new();
    for p in paths {
        let list = if p.is_dir() { files(p) } else { vec![p.clone()] };
        if list.is_empty() {
            return Err(ResultError::None { path: p.clone() });
        }
        for f in list {
            let text = fsx::read_to_string(&f)?;
            let parse = |m: String| ResultError::Parse { path: f.clone(), message: m };
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
            if v["schema"] != SCHEMA {
                return Err(parse(format!("its schema is {}, not \"{SCHEMA}\"", v["schema"])));
            }
            if v["schema_version"].as_u64() != Some(SCHEMA_VERSION) {
                return Err(parse(format!(
                    "schema_version {}; this srukit reads {SCHEMA_VERSION}",
                    v["schema_version"]
                )));
            }
            let mut r: Dep8Result = serde_json::from_value(v).map_err(|e| parse(e.to_string()))?;
            r.file = f.clone();
            if let Some(first) = out.first()
                && first.plan != r.plan
            {
                return Err(ResultError::TwoPlans {
                    path: f,
                    found: r.plan,
                    first: first.plan.clone(),
                    first_path: first.file.clone(),
                });
            }
            out.push(r);
        }
    }
    Ok(out)
}

/// What the results say together.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub plan: String,
    /// `verification-done`, `verification-failed`, `inconclusive` or `error`.
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    /// (side, phase) pairs of the plan no result covers.
    pub missing: Vec<String>,
    /// Always `not-recorded`: an exported test sees the installed versions, never where
    /// autopkgtest took the packages from (a pocket or local .debs), so its verdict is never
    /// a verification of archive packages and carries no Launchpad tag.
    pub provenance: &'static str,
    pub results: Vec<Dep8Result>,
}

/// Said under every summary: what an exported test cannot know.
pub const PROVENANCE_NOTE: &str = "Provenance: not recorded. An exported test sees the versions dpkg reports, not where \
     autopkgtest took the packages from (an archive pocket or local .debs): this is not a verification of \
     archive packages and sets no verification-done tag; `srukit verify` with `apt:NAME=VERSION@SUITE` \
     packages from -proposed or -security is.";

pub fn summarize(results: Vec<Dep8Result>) -> Summary {
    let plan = results.first().map(|r| r.plan.clone()).unwrap_or_default();
    let mut reasons = Vec::new();
    let mut seen: BTreeMap<(String, String), &Dep8Result> = BTreeMap::new();
    for r in &results {
        seen.insert((r.side.clone(), r.phase.clone()), r);
    }
    let mut missing = Vec::new();
    if let Some(r) = results.first() {
        for side in &r.sides {
            for phase in &r.phases {
                if !seen.contains_key(&(side.clone(), phase.clone())) {
                    missing.push(format!("{side}/{phase}"));
                }
            }
        }
    }
    let mut verdict = "verification-done";
    let worse = |v: &'static str, verdict: &mut &'static str| {
        let rank = |v: &str| match v {
            "error" => 3,
            "verification-failed" => 2,
            "inconclusive" => 1,
            _ => 0,
        };
        if rank(v) > rank(verdict) {
            *verdict = v;
        }
    };
    for r in &results {
        let what = format!("{}/{}", r.side, r.phase);
        match (r.verdict.as_str(), r.side.as_str()) {
            ("pass", _) => {}
            ("fail", "after") => {
                let failed: Vec<&str> =
                    r.checks.iter().filter(|c| c.result == "fail").map(|c| c.id.as_str()).collect();
                reasons.push(format!("{what}: the fix did not hold ({})", failed.join(", ")));
                worse("verification-failed", &mut verdict);
            }
            ("fail", _) => {
                reasons.push(format!("{what}: the bug did not reproduce as the plan expects"));
                worse("inconclusive", &mut verdict);
            }
            _ => {
                reasons.push(format!(
                    "{what}: the test could not run as planned: {}",
                    r.error.clone().unwrap_or_else(|| "a check could not be observed".into())
                ));
                worse("error", &mut verdict);
            }
        }
    }
    if !missing.is_empty() {
        reasons.push(format!(
            "not observed: {} (verification needs every side and phase of the plan)",
            missing.join(", ")
        ));
        worse("inconclusive", &mut verdict);
    }
    Summary { plan, verdict, reasons, missing, provenance: "not-recorded", results }
}

/// The summary as text: the verdict, then each (side, phase) and its checks.
pub fn render(s: &Summary) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "plan {}: {}", s.plan, s.verdict);
    for r in &s.reasons {
        let _ = writeln!(t, "  {r}");
    }
    let _ = writeln!(t, "{PROVENANCE_NOTE}");
    for r in &s.results {
        let versions = r.versions.iter().map(|(p, v)| format!("{p} {v}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            t,
            "{} on the {} side ({}): {} ({} passed, {} failed, {} errors){}",
            r.test,
            r.side,
            if versions.is_empty() { "no packages under test".into() } else { versions },
            r.verdict,
            r.passed,
            r.failed,
            r.errors,
            r.error.as_ref().map(|e| format!("; error: {e}")).unwrap_or_default()
        );
        for c in &r.checks {
            let last = c.observations.last();
            let _ = writeln!(
                t,
                "  {:<8} {} expected {}, observed {} ({})",
                c.result,
                c.id,
                c.expected.as_deref().unwrap_or("nothing"),
                last.map(|o| o.outcome.as_str()).unwrap_or("nothing"),
                last.map(|o| o.observed.as_str()).unwrap_or("not observed")
            );
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(side: &str, phase: &str, verdict: &str) -> Dep8Result {
        serde_json::from_value(serde_json::json!({
            "schema": SCHEMA, "schema_version": 1, "generated_by": "srukit 0", "plan": "p",
            "plan_file": "verify.toml", "phase": phase, "side": side, "sides": ["before", "after"],
            "phases": ["default"], "test": format!("srukit-p-{phase}"), "versions": {"x": "1"},
            "installed": [], "checks": [{"id": "c", "family": "command", "expected": "ok",
            "result": if verdict == "pass" { "pass" } else { "fail" },
            "observations": [{"after_step": "s", "outcome": "ok", "observed": "exit status 0"}]}],
            "error": null, "passed": 1, "failed": 0, "errors": 0, "verdict": verdict
        }))
        .unwrap()
    }

    #[test]
    fn verdicts_need_every_side() {
        let v = |rs: Vec<Dep8Result>| summarize(rs).verdict;
        assert_eq!(v(vec![result("after", "default", "pass")]), "inconclusive", "one side only");
        assert_eq!(
            v(vec![result("before", "default", "pass"), result("after", "default", "pass")]),
            "verification-done"
        );
        assert_eq!(
            v(vec![result("before", "default", "pass"), result("after", "default", "fail")]),
            "verification-failed"
        );
        assert_eq!(
            v(vec![result("before", "default", "fail"), result("after", "default", "pass")]),
            "inconclusive"
        );
        assert_eq!(
            v(vec![result("before", "default", "pass"), result("after", "default", "error")]),
            "error"
        );
    }

    #[test]
    fn a_summary_never_claims_where_the_packages_came_from() {
        let s = summarize(vec![result("before", "default", "pass"), result("after", "default", "pass")]);
        assert_eq!(s.verdict, "verification-done");
        assert_eq!(s.provenance, "not-recorded");
        let text = render(&s);
        assert!(text.contains("Provenance: not recorded"), "{text}");
        assert!(text.contains("sets no verification-done tag"), "{text}");
    }
}
