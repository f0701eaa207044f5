//! The verdict of a whole verification, from every check's outcome. The SRU rules:
//! `verification-done` only when every expectation holds; `verification-failed` when the
//! fixed package misbehaves; `inconclusive` when the bug did not reproduce on the old
//! package or a value fell between thresholds; `error` when a check could not run, which
//! is never a pass. Evidence must agree with itself: checks of one run that contradict each
//! other ([`contradictions`]) are `inconclusive`, whatever each expected. Generic checks
//! pass when the outcome that matched is the one expected; none matching is a failure.
//! A check the plan expects nothing of in a run (`observed`) counts for nothing.

use crate::verify::result::{IscsiCheck, Outcome, Run, Side, Verdict};

mod gate;
pub use gate::{Gate, gate};

/// Checks of one observation point whose values cannot all be true of one LUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    pub checks: Vec<IscsiCheck>,
    pub reason: String,
}

/// The consistency rules, over what one run observed at one point (check id, value in the
/// plan's words). tgt's write path (design.md sections 2-3): with WCE=1 and no O_DIRECT a
/// write lands in the page cache and stays dirty until writeback; WCE=0 syncs every write;
/// O_DIRECT bypasses the cache. So "WCE on, O_DIRECT off (or unknown), nothing at risk"
/// means something else emptied or bypassed the cache (a backing store in RAM, a flush for
/// another reason), and "WCE off, or O_DIRECT on, yet data at risk" means the measurement
/// is not of that LUN. Either way the pair proves nothing.
pub fn contradictions(observed: &[(IscsiCheck, &str)]) -> Vec<Contradiction> {
    let get = |id: IscsiCheck| observed.iter().find(|(c, _)| *c == id).map(|(_, v)| *v);
    let (wce, direct, data) = (get(IscsiCheck::Wce), get(IscsiCheck::ODirect), get(IscsiCheck::DataAtRisk));
    let mut out = Vec::new();
    if wce == Some("on") && data == Some("safe") && direct != Some("on") {
        let mut checks = vec![IscsiCheck::Wce, IscsiCheck::DataAtRisk];
        let direct_words = match direct {
            Some(_) => {
                checks.push(IscsiCheck::ODirect);
                "O_DIRECT is off"
            }
            None => "O_DIRECT was not checked",
        };
        out.push(Contradiction {
            checks,
            reason: format!(
                "the write cache is on (WCE=1) and {direct_words}, yet nothing was left at risk: something else emptied or bypassed the page cache"
            ),
        });
    }
    if wce == Some("off") && data == Some("at-risk") {
        out.push(Contradiction {
            checks: vec![IscsiCheck::Wce, IscsiCheck::DataAtRisk],
            reason: "the write cache is off (WCE=0: tgt syncs every write), yet data was left at risk".into(),
        });
    }
    if direct == Some("on") && data == Some("at-risk") {
        out.push(Contradiction {
            checks: vec![IscsiCheck::ODirect, IscsiCheck::DataAtRisk],
            reason: "the backing store is open with O_DIRECT, yet data was left in the page cache".into(),
        });
    }
    out
}

/// Binding, as a verdict rule for every family: a check that ran must name the object it
/// observed (under `object`, or top-level) and that object must be the one the plan made
/// (`under_test`, which every family writes into its evidence): every key of `under_test`
/// (iscsi: `iqn`, `backing_store`; command: the executable and, when a package under test
/// owns it, that package at the side's version) must be the same in what it observed. A
/// check that cannot show this proves nothing about the package, so it counts as one that
/// could not run.
pub fn object_problem(evidence: &serde_json::Value) -> Option<String> {
    let points: Vec<&serde_json::Value> = match evidence.get("checkpoints").and_then(|p| p.as_array()) {
        Some(points) => points.iter().map(|p| &p["evidence"]).collect(),
        None => vec![evidence],
    };
    for ev in points {
        let Some(want) = ev.get("under_test") else {
            return Some("its evidence does not say which object the plan made (`under_test`)".into());
        };
        let keys: Vec<&str> = match want.as_object() {
            Some(map) if !map.is_empty() => map.keys().map(String::as_str).collect(),
            _ if ev.get("object").is_some() => Vec::new(),
            _ => return Some("its evidence names no object".into()),
        };
        for key in keys {
            let seen = ev.get("object").and_then(|o| o.get(key)).or_else(|| ev.get(key));
            match (seen, want.get(key)) {
                (Some(seen), Some(want)) if seen == want => {}
                (None, _) => return Some(format!("its evidence names no {key}")),
                (Some(seen), want) => {
                    return Some(format!(
                        "it observed {key} {seen}, but the object under test is {}",
                        want.cloned().unwrap_or_default()
                    ));
                }
            }
        }
    }
    None
}

/// An iscsi check's value in the plan's words: the outcome that matched (a result before
/// schema v3 has none: its observed words were the value).
fn iscsi_value(c: &crate::verify::result::CheckResult) -> &str {
    if c.matched_outcome.is_empty() { &c.observed } else { &c.matched_outcome }
}

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
        // Checks the run found contradicting each other carry the reason in their evidence
        // (`inconsistent`) and are inconclusive already; the run's plain observations are
        // held to the rules here again, so no path to a result skips them.
        let plain: Vec<(IscsiCheck, &str)> = run
            .checks
            .iter()
            .filter(|c| c.outcome != Outcome::Error)
            .filter_map(|c| Some((c.kind?, iscsi_value(c))))
            .collect();
        let found = contradictions(&plain);
        for c in &found {
            let ids: Vec<&str> = c.checks.iter().map(|k| k.as_str()).collect();
            between.push(format!("{at} {}: the evidence contradicts itself: {}", ids.join(" + "), c.reason));
        }
        for c in &run.checks {
            let what = match c.kind {
                Some(_) => format!("{at} {}: expected {}, observed {}", c.id, c.expected, c.observed),
                None => format!(
                    "{at} {}: expected outcome `{}`, matched `{}` ({})",
                    c.id, c.expected_outcome, c.matched_outcome, c.observed
                ),
            };
            let contradicted = c.kind.is_some_and(|kind| found.iter().any(|k| k.checks.contains(&kind)));
            let unbound = if c.outcome == Outcome::Error { None } else { object_problem(&c.evidence) };
            match (c.outcome, run.side) {
                (Outcome::Error, _) => errors.push(format!("{at} {}: could not run: {}", c.id, c.observed)),
                _ if unbound.is_some() => errors.push(format!(
                    "{at} {}: not bound to the object under test: {}",
                    c.id,
                    unbound.unwrap_or_default()
                )),
                _ if contradicted => {}
                (Outcome::Pass | Outcome::Observed, _) => {}
                (Outcome::Inconclusive, _) => match c.evidence.get("inconsistent").and_then(|v| v.as_str()) {
                    Some(why) => {
                        between.push(format!("{at} {}: the evidence contradicts itself: {why}", c.id))
                    }
                    None => between.push(format!("between thresholds or unmeasurable: {what}")),
                },
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
        between.dedup();
        return (Verdict::Inconclusive, between.join("; "));
    }
    (Verdict::VerificationDone, "every expectation held".into())
}

/// The runs' verdict joined with the dep8 gate's: an error of either is an error; otherwise a
/// regression fails the verification as an after failure does; a clean gate leaves the
/// runs' verdict as it was.
pub fn with_gate(runs: (Verdict, String), g: &Gate) -> (Verdict, String) {
    let (verdict, reason) = runs;
    if !g.errors.is_empty() {
        let why = g.errors.join("; ");
        return match verdict {
            Verdict::Error => (Verdict::Error, format!("{reason}; {why}")),
            _ => (Verdict::Error, why),
        };
    }
    if !g.regressions.is_empty() && verdict != Verdict::Error {
        let why = g.regressions.join("; ");
        return match verdict {
            Verdict::VerificationFailed => (verdict, format!("{reason}; {why}")),
            _ => (Verdict::VerificationFailed, why),
        };
    }
    if verdict == Verdict::VerificationDone && !g.is_empty() {
        let noted = if g.notes.is_empty() { String::new() } else { format!(", {} noted", g.notes.len()) };
        return (verdict, format!("{reason}; the autopkgtest gate held ({} passed{noted})", g.passed));
    }
    (verdict, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::result::{CheckResult, IscsiCheck, Testbed};

    /// Evidence of a check that observed the object the plan made.
    fn bound() -> serde_json::Value {
        serde_json::json!({
            "object": { "iqn": "iqn.x", "backing_store": "/l", "lun": 1 },
            "under_test": { "iqn": "iqn.x", "backing_store": "/l" },
        })
    }

    fn run(side: Side, outcomes: &[Outcome]) -> Run {
        Run {
            side,
            phase: "off".into(),
            config_edits: vec![],
            steps: vec![],
            testbed: Testbed {
                image: "i".into(),
                image_sha256: "h".into(),
                backend: "unshare".into(),
                virt_server: None,
            },
            checks: outcomes
                .iter()
                .map(|o| CheckResult::new("wce", "t", "off", "on", *o, bound(), 0.0))
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

    fn observed(run_of: &[(IscsiCheck, &str)]) -> Run {
        let mut r = run(Side::After, &[]);
        r.checks = run_of
            .iter()
            .map(|(id, v)| CheckResult::new(id.as_str(), "t", *v, *v, Outcome::Pass, bound(), 0.0))
            .collect();
        r
    }

    /// (observations of one run, the checks each contradiction names)
    #[test]
    fn contradictions_table() {
        use IscsiCheck::*;
        type Row = (&'static [(IscsiCheck, &'static str)], &'static [&'static [IscsiCheck]]);
        let table: &[Row] = &[
            // design.md section 3, every row consistent.
            (&[(Wce, "on"), (ODirect, "off"), (DataAtRisk, "at-risk")], &[]),
            (&[(Wce, "off"), (ODirect, "off"), (DataAtRisk, "safe")], &[]),
            (&[(Wce, "on"), (ODirect, "on"), (DataAtRisk, "safe")], &[]),
            // A backing store in RAM, a flush for another reason.
            (&[(Wce, "on"), (ODirect, "off"), (DataAtRisk, "safe")], &[&[Wce, DataAtRisk, ODirect]]),
            (&[(Wce, "on"), (DataAtRisk, "safe")], &[&[Wce, DataAtRisk]]),
            (&[(Wce, "off"), (ODirect, "off"), (DataAtRisk, "at-risk")], &[&[Wce, DataAtRisk]]),
            (
                &[(Wce, "off"), (ODirect, "on"), (DataAtRisk, "at-risk")],
                &[&[Wce, DataAtRisk], &[ODirect, DataAtRisk]],
            ),
            // Nothing to compare: a value between thresholds, or one check alone.
            (&[(Wce, "on"), (DataAtRisk, "between thresholds")], &[]),
            (&[(DataAtRisk, "safe")], &[]),
            (&[(TargetFile, "off"), (Wce, "on")], &[]),
        ];
        for (obs, want) in table {
            let got: Vec<Vec<IscsiCheck>> = contradictions(obs).into_iter().map(|c| c.checks).collect();
            let want: Vec<Vec<IscsiCheck>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(got, want, "{obs:?}");
        }
    }

    #[test]
    fn a_check_not_bound_to_the_object_under_test_is_an_error() {
        let decoy = serde_json::json!({
            "object": { "iqn": "iqn.decoy", "backing_store": "/l" },
            "under_test": { "iqn": "iqn.x", "backing_store": "/l" },
        });
        let file = serde_json::json!({ "iqn": "iqn.x", "backing_store": "/l", "under_test": { "iqn": "iqn.x", "backing_store": "/l" } });
        let unnamed = serde_json::json!({ "under_test": { "iqn": "iqn.x", "backing_store": "/l" } });
        let points = serde_json::json!({ "checkpoints": [
            { "after_step": "export", "evidence": file },
            { "after_step": "restart", "evidence": { "wce": true } },
        ] });
        let table: &[(&serde_json::Value, Option<&str>)] = &[
            (&bound(), None),
            (&file, None),
            (&decoy, Some("observed iqn \"iqn.decoy\", but the object under test is \"iqn.x\"")),
            (&unnamed, Some("names no backing_store")),
            (&serde_json::Value::Null, Some("does not say which object")),
            (&points, Some("does not say which object")),
        ];
        for (ev, want) in table {
            let got = object_problem(ev);
            match want {
                None => assert_eq!(got, None, "{ev}"),
                Some(w) => assert!(got.as_deref().unwrap_or_default().contains(w), "{ev}: {got:?}"),
            }
            let mut r = run(Side::After, &[Outcome::Pass]);
            r.checks[0].evidence = (*ev).clone();
            assert_eq!(
                decide(&[r]).0,
                if want.is_none() { Verdict::VerificationDone } else { Verdict::Error }
            );
        }
    }

    /// A command must run the side's version of a package under test: the executable's
    /// owner at another version is not the object under test.
    #[test]
    fn a_command_from_another_version_of_a_package_under_test_is_an_error() {
        let ev = |version: &str| {
            serde_json::json!({
                "object": { "executable": "/usr/bin/jq", "package": "jq", "version": version },
                "under_test": { "executable": "/usr/bin/jq", "package": "jq", "version": "1.6-2.1+deb12u1" },
            })
        };
        assert_eq!(object_problem(&ev("1.6-2.1+deb12u1")), None);
        let why = object_problem(&ev("1.6-2.1")).unwrap();
        assert!(
            why.contains("observed version \"1.6-2.1\", but the object under test is \"1.6-2.1+deb12u1\""),
            "{why}"
        );
        // Not owned by a package under test: the executable is the object.
        let other = serde_json::json!({
            "object": { "executable": "/usr/bin/sh", "package": "dash", "version": "0.5.12-2" },
            "under_test": { "executable": "/usr/bin/sh" },
        });
        assert_eq!(object_problem(&other), None);
        let nothing = serde_json::json!({ "under_test": {} });
        assert!(object_problem(&nothing).unwrap().contains("names no object"));
        let mut r = run(Side::After, &[Outcome::Pass]);
        r.checks[0] =
            CheckResult::new("jq", "t", "fixed", "exit status 0", Outcome::Pass, ev("1.6-2.1"), 0.0)
                .with_family("command", None);
        let (v, why) = decide(&[r]);
        assert_eq!(v, Verdict::Error, "{why}");
        assert!(why.contains("not bound to the object under test"), "{why}");
    }

    /// Generic checks: the expected outcome matched passes, `unmatched` fails, observed-only
    /// counts for nothing.
    #[test]
    fn generic_outcomes_decide_like_expectations() {
        let bound = serde_json::json!({ "object": { "path": "/x" }, "under_test": { "path": "/x" } });
        let check = |outcome, expected: &str, matched: &str| {
            CheckResult::new("conf", "t", expected, "seen", outcome, bound.clone(), 0.0)
                .with_family("file", None)
                .with_outcomes(expected, matched)
        };
        let with = |side, c: CheckResult| {
            let mut r = run(side, &[]);
            r.checks = vec![c];
            r
        };
        let done = decide(&[
            with(Side::Before, check(Outcome::Pass, "absent", "absent")),
            with(Side::After, check(Outcome::Pass, "written", "written")),
        ]);
        assert_eq!(done.0, Verdict::VerificationDone, "{}", done.1);
        let (v, why) = decide(&[
            with(Side::Before, check(Outcome::Pass, "absent", "absent")),
            with(Side::After, check(Outcome::Fail, "written", "unmatched")),
        ]);
        assert_eq!(v, Verdict::VerificationFailed);
        assert!(why.contains("expected outcome `written`, matched `unmatched`"), "{why}");
        let observed = decide(&[with(Side::After, check(Outcome::Observed, "", "written"))]);
        assert_eq!(observed.0, Verdict::VerificationDone);
    }

    #[test]
    fn contradicting_passes_are_never_done() {
        let r = observed(&[
            (IscsiCheck::Wce, "on"),
            (IscsiCheck::ODirect, "off"),
            (IscsiCheck::DataAtRisk, "safe"),
        ]);
        let (v, why) = decide(&[r]);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("wce + data-at-risk + o-direct: the evidence contradicts itself"), "{why}");
        let mut r = observed(&[(IscsiCheck::Wce, "off"), (IscsiCheck::DataAtRisk, "at-risk")]);
        r.checks[1].outcome = Outcome::Fail;
        assert_eq!(
            decide(&[r]).0,
            Verdict::Inconclusive,
            "a contradiction outranks a failure it explains away"
        );
    }
}
