//! The verification as JUnit XML for CI (GitLab, Jenkins): one testsuite per (side, phase),
//! one testcase per check. A failed or inconclusive check is a `<failure>`, a check that could
//! not run an `<error>`; the evidence is the message body.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{ReportError, evidence};
use crate::verify::result::{CheckResult, Outcome, Run, VerifyResult};

pub fn render(r: &VerifyResult) -> Result<String, ReportError> {
    let mut report = Report::new(format!("srukit verify {}", r.plan.name));
    report.set_time(secs(r.seconds));
    for run in &r.runs {
        report.add_test_suite(suite(r, run));
    }
    if let Some(gate) = super::gate::junit(r) {
        report.add_test_suite(gate);
    }
    let xml =
        report.to_string().map_err(|e| ReportError::Render { format: "junit", message: e.to_string() })?;
    Ok(drop_root_skipped(xml))
}

fn suite(r: &VerifyResult, run: &Run) -> TestSuite {
    let mut suite = TestSuite::new(format!("{}/{}", run.side, run.phase));
    suite.set_time(secs(run.seconds));
    suite.add_property(Property::new("plan", r.plan.name.as_str()));
    suite.add_property(Property::new("verdict", r.verdict.as_str()));
    suite.add_property(Property::new("versions", evidence::versions_line(r)));
    suite.add_property(Property::new("provenance", r.provenance().as_str()));
    suite.add_property(Property::new("image", run.testbed.image.as_str()));
    suite.add_property(Property::new("image_sha256", run.testbed.image_sha256.as_str()));
    suite.add_property(Property::new("backend", run.testbed.backend.as_str()));
    for e in &run.config_edits {
        suite.add_property(Property::new("config_edit", e.to_string()));
    }
    if let Some(side) = r.side(run.side) {
        for p in &side.packages {
            suite.add_property(Property::new(
                format!("package:{}", p.name),
                format!("{} {}", p.version, p.sha256),
            ));
        }
    }
    let classname = format!("srukit.{}.{}.{}", r.plan.name, run.side, run.phase);
    if let Some(err) = &run.error {
        // A run that stopped before its checks still shows up as red in CI, not as zero tests.
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(err.as_str()).set_type("error");
        let mut case = TestCase::new("testbed", status);
        case.set_classname(classname.as_str());
        suite.add_test_case(case);
    }
    for c in &run.checks {
        let mut case = TestCase::new(c.id.as_str(), status(c));
        case.set_classname(classname.as_str());
        // Jenkins's schema has no properties on a testcase: the family and the outcome names
        // go to its system-out, one `key: value` a line.
        let mut out = format!("family: {}\n", c.family());
        if !c.expected_outcome.is_empty() || !c.matched_outcome.is_empty() {
            out.push_str(&format!(
                "expected_outcome: {}\nmatched_outcome: {}\n",
                c.expected_outcome, c.matched_outcome
            ));
        }
        case.set_system_out(out);
        case.set_time(secs(c.seconds));
        suite.add_test_case(case);
    }
    suite
}

pub(super) fn status(c: &CheckResult) -> TestCaseStatus {
    let kind = match c.outcome {
        Outcome::Pass => return TestCaseStatus::success(),
        // The plan expects nothing of this check here: nothing was asserted, so it is
        // neither a pass nor a failure; CI shows it as skipped, with what was seen.
        Outcome::Observed => {
            let mut status = TestCaseStatus::skipped();
            status
                .set_message(format!("observed only: {} ({})", c.observed, c.matched_outcome))
                .set_description(evidence::lines(&c.evidence).join("\n"));
            return status;
        }
        // Inconclusive is never a pass (issue 8): it fails the build like a failure does.
        Outcome::Fail | Outcome::Inconclusive => NonSuccessKind::Failure,
        Outcome::Error => NonSuccessKind::Error,
    };
    let message = if c.family() == "iscsi" {
        format!("{}: expected {}, observed {}", c.title, c.expected, c.observed)
    } else {
        format!(
            "{} ({}): expected {}, matched {}{}",
            c.title,
            c.family(),
            c.expected,
            evidence::outcome_words(c),
            if c.why.is_empty() { String::new() } else { format!("; why: {}", c.why) }
        )
    };
    let mut status = TestCaseStatus::non_success(kind);
    status
        .set_message(message)
        .set_type(c.outcome.as_str())
        .set_description(evidence::lines(&c.evidence).join("\n"));
    status
}

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 0.0 })
}

/// Jenkins's JUnit schema (xunit-plugin junit-10.xsd, which GitLab's parser also accepts)
/// declares no `skipped` attribute on `<testsuites>`, and quick-junit always writes one. The
/// count stays on each `<testsuite>` (where the schema has it): the checks observed only.
pub(super) fn drop_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else { return xml };
    let end = xml[start..].find('>').map(|e| start + e).unwrap_or(xml.len());
    let root = &xml[start..end];
    let root = match root.find(" skipped=\"") {
        Some(at) => {
            let close = root[at + 10..].find('"').map(|c| at + 10 + c + 1).unwrap_or(root.len());
            format!("{}{}", &root[..at], &root[close..])
        }
        None => root.to_string(),
    };
    format!("{}{}{}", &xml[..start], root, &xml[end..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_root_loses_skipped() {
        let xml = r#"<?xml version="1.0"?><testsuites name="x" tests="1" skipped="0"><testsuite skipped="0"/></testsuites>"#;
        let out = super::drop_root_skipped(xml.to_string());
        assert_eq!(
            out,
            r#"<?xml version="1.0"?><testsuites name="x" tests="1"><testsuite skipped="0"/></testsuites>"#
        );
        let xml = r#"<testsuites name="x" skipped="12" tests="3"><testsuite skipped="12"/></testsuites>"#;
        assert_eq!(
            super::drop_root_skipped(xml.to_string()),
            r#"<testsuites name="x" tests="3"><testsuite skipped="12"/></testsuites>"#
        );
    }
}
