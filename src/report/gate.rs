//! The dep8 gate in every report: per autopkgtest run, whose tests (source, version, where
//! they came from) and autopkgtest's exit code on each side, each test's outcome before and
//! after, then the gate's findings (a regression named, failures on both sides, errors).
//! Launchpad gets plain text, Markdown a table, JUnit one testsuite `dep8` with a testcase per
//! (test, side).

use std::fmt::Write;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::verify::result::{Dep8Outcome, Dep8Run, Side, VerifyResult};
use crate::verify::verdict::gate;

/// Every dep8 run of a side.
fn runs(r: &VerifyResult, side: Side) -> &[Dep8Run] {
    r.side(side).map(|s| s.dep8.as_slice()).unwrap_or(&[])
}

/// The (check, rdepend) pairs in the order the runs were made.
fn pairs(r: &VerifyResult) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    for run in runs(r, Side::Before).iter().chain(runs(r, Side::After)) {
        let k = (run.check.clone(), run.rdepend.clone());
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

fn find<'a>(r: &'a VerifyResult, side: Side, k: &(String, Option<String>)) -> Option<&'a Dep8Run> {
    runs(r, side).iter().find(|run| run.check == k.0 && run.rdepend == k.1)
}

/// One line per side: whose tests, from where, autopkgtest's exit, the log.
fn run_line(run: &Dep8Run) -> String {
    let exit = match run.exit_code {
        Some(c) => format!("autopkgtest exit {c}"),
        None => "autopkgtest did not finish".into(),
    };
    let mut line =
        format!("{} ({}), {exit}, {:.1} s, log {}", run.whose(), run.source.from, run.seconds, run.log);
    if let Some(e) = &run.error {
        line.push_str(&format!("; ERROR: {e}"));
    }
    line
}

/// Each test's outcome on each side: (test, before, after).
fn table(r: &VerifyResult, k: &(String, Option<String>)) -> Vec<(String, String, String)> {
    let (b, a) = (find(r, Side::Before, k), find(r, Side::After, k));
    let mut names: Vec<&str> = Vec::new();
    for run in b.iter().chain(a.iter()) {
        for t in &run.tests {
            if !names.contains(&t.name.as_str()) {
                names.push(&t.name);
            }
        }
    }
    let cell = |run: Option<&Dep8Run>, name: &str| match run.and_then(|run| run.test(name)) {
        Some(t) if t.detail.is_empty() => t.outcome.as_str().to_uppercase(),
        Some(t) => format!("{} ({})", t.outcome.as_str().to_uppercase(), t.detail),
        None => "-".into(),
    };
    names.into_iter().map(|n| (n.to_string(), cell(b, n), cell(a, n))).collect()
}

/// The gate's findings in words, most serious first.
fn findings(r: &VerifyResult) -> Vec<String> {
    let g = gate(&r.sides);
    let mut out: Vec<String> = g.errors.iter().map(|e| format!("error: {e}")).collect();
    out.extend(g.regressions.iter().cloned());
    out.extend(g.notes.iter().cloned());
    if g.errors.is_empty() && g.regressions.is_empty() {
        out.push(format!("no regression: {} test(s) passed", g.passed));
    }
    out
}

pub fn launchpad(s: &mut String, r: &VerifyResult) {
    let pairs = pairs(r);
    if pairs.is_empty() {
        return;
    }
    let title = "Autopkgtest gate (each side's own tests, on its own packages)";
    let _ = writeln!(s, "\n{title}\n{}", "-".repeat(title.len()));
    for k in &pairs {
        let whose = match &k.1 {
            Some(rdep) => format!("{} (reverse dependency {rdep})", k.0),
            None => k.0.clone(),
        };
        let _ = writeln!(s, "{whose}:");
        for side in [Side::Before, Side::After] {
            if let Some(run) = find(r, side, k) {
                let _ = writeln!(s, "  {side:<6}  {}", run_line(run));
            }
        }
        for (name, b, a) in table(r, k) {
            let _ = writeln!(s, "    {name}: before {b}, after {a}");
        }
    }
    for f in findings(r) {
        let _ = writeln!(s, "Gate: {f}");
    }
}

pub fn markdown(s: &mut String, r: &VerifyResult, cell: impl Fn(&str) -> String) {
    let pairs = pairs(r);
    if pairs.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Autopkgtest gate\n");
    let _ = writeln!(s, "Each side's own tests (from its own source version), on its own packages.\n");
    for k in &pairs {
        let whose = match &k.1 {
            Some(rdep) => format!("`{}`, reverse dependency `{rdep}`", k.0),
            None => format!("`{}`", k.0),
        };
        let _ = writeln!(s, "{whose}:\n");
        for side in [Side::Before, Side::After] {
            if let Some(run) = find(r, side, k) {
                let _ = writeln!(s, "- {side}: {}", cell(&run_line(run)));
            }
        }
        let _ = writeln!(s, "\n| Test | Before | After |\n|---|---|---|");
        for (name, b, a) in table(r, k) {
            let _ = writeln!(s, "| {} | {} | {} |", cell(&name), cell(&b), cell(&a));
        }
        let _ = writeln!(s);
    }
    for f in findings(r) {
        let _ = writeln!(s, "- **Gate:** {}", cell(&f));
    }
}

/// One testsuite `dep8`: a testcase per (test, side); a regression is the after side's
/// `<failure>`, a run that could not test an `<error>`, skip and neutral skipped.
pub fn junit(r: &VerifyResult) -> Option<TestSuite> {
    let pairs = pairs(r);
    if pairs.is_empty() {
        return None;
    }
    let g = gate(&r.sides);
    let mut suite = TestSuite::new("dep8");
    for k in &pairs {
        for side in [Side::Before, Side::After] {
            let Some(run) = find(r, side, k) else { continue };
            let classname = format!("srukit.{}.dep8.{}.{side}", r.plan.name, run.source.name);
            if let Some(e) = &run.error {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(e.as_str()).set_type("error").set_description(run_line(run));
                let mut case = TestCase::new(format!("{} autopkgtest", run.check), status);
                case.set_classname(classname.as_str());
                suite.add_test_case(case);
                continue;
            }
            for t in &run.tests {
                let regression = g.regressions.iter().find(|reg| {
                    side == Side::After && reg.starts_with(&format!("regression in {} (", t.name))
                });
                let status = match (t.outcome, regression) {
                    (_, Some(reg)) => {
                        let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        st.set_message(reg.as_str()).set_type("regression").set_description(run_line(run));
                        st
                    }
                    (Dep8Outcome::Pass, _) => TestCaseStatus::success(),
                    // A failure the gate does not blame on the update (it fails on both sides,
                    // or has nothing to compare with) is shown, not counted red.
                    (o, _) => {
                        let mut st = TestCaseStatus::skipped();
                        st.set_message(format!("{} {}", o.as_str(), t.detail).trim_end().to_string());
                        st
                    }
                };
                let mut case = TestCase::new(t.name.as_str(), status);
                case.set_classname(classname.as_str());
                case.set_system_out(format!("source: {}\nfrom: {}\n", run.whose(), run.source.from));
                suite.add_test_case(case);
            }
        }
    }
    Some(suite)
}
