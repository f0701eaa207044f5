//! The verdict of a whole verification, from every check's outcome. The SRU rules:
//! `verification-done` only when every expectation holds; `verification-failed` when the
//! fixed package misbehaves; `inconclusive` when the bug did not reproduce on the old
//! package or a value fell between thresholds; `error` when a check could not run, which
//! is never a pass.

use crate::verify::result::{Outcome, Run, Side, Verdict};

pub fn decide(runs: &[Run]) -> (Verdict, String) {
    let mut errors = Vec::new();
    let mut after_fails = Vec::new();
    let mut before_fails = Vec::new();
    let mut between = Vec::new();
    for run in runs {
        let at = format!("{}/{}", run.side, run.phase);
        if let Some(e) = &run.error {
            errors.push(format!("{at}: {e}"));
        }
        for c in &run.checks {
            let what = format!("{at} {}: expected {}, observed {}", c.id, c.expected, c.observed);
            match (c.outcome, run.side) {
                (Outcome::Pass, _) => {}
                (Outcome::Error, _) => errors.push(format!("{at} {}: could not run: {}", c.id, c.observed)),
                (Outcome::Inconclusive, _) => between.push(what),
                (Outcome::Fail, Side::After) => after_fails.push(what),
                (Outcome::Fail, Side::Before) => before_fails.push(what),
            }
        }
    }
    if runs.is_empty() {
        return (Verdict::Error, "no run took place".into());
    }
    if !errors.is_empty() {
        return (Verdict::Error, errors.join("; "));
    }
    if !after_fails.is_empty() {
        return (Verdict::VerificationFailed, after_fails.join("; "));
    }
    if !before_fails.is_empty() {
        return (
            Verdict::Inconclusive,
            format!("the bug did not reproduce on the old package: {}", before_fails.join("; ")),
        );
    }
    if !between.is_empty() {
        return (Verdict::Inconclusive, format!("between thresholds: {}", between.join("; ")));
    }
    (Verdict::VerificationDone, "every expectation held".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::result::{CheckId, CheckResult, Testbed};

    fn run(side: Side, outcomes: &[Outcome]) -> Run {
        Run {
            side,
            phase: "off".into(),
            config_edits: vec![],
            testbed: Testbed { image: "i".into(), image_sha256: "h".into(), backend: "unshare".into() },
            checks: outcomes
                .iter()
                .map(|o| CheckResult::new(CheckId::Wce, "t", "off", "on", *o, serde_json::Value::Null, 0.0))
                .collect(),
            seconds: 0.0,
            error: None,
        }
    }

    #[test]
    fn table() {
        use Outcome::*;
        let cases: &[(&[Outcome], &[Outcome], Verdict)] = &[
            (&[Pass], &[Pass], Verdict::VerificationDone),
            (&[Pass], &[Fail], Verdict::VerificationFailed),
            (&[Fail], &[Pass], Verdict::Inconclusive),
            (&[Fail], &[Fail], Verdict::VerificationFailed),
            (&[Pass], &[Inconclusive], Verdict::Inconclusive),
            (&[Pass], &[Error], Verdict::Error),
            (&[Error], &[Fail], Verdict::Error),
        ];
        for (before, after, want) in cases {
            let (got, why) = decide(&[run(Side::Before, before), run(Side::After, after)]);
            assert_eq!(got, *want, "{before:?} {after:?}: {why}");
        }
        let mut broken = run(Side::After, &[Pass]);
        broken.error = Some("tgtd did not start".into());
        assert_eq!(decide(&[broken]).0, Verdict::Error);
        assert_eq!(decide(&[]).0, Verdict::Error);
    }
}
