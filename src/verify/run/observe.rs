//! One observation point of a run: every check's family observes its object, the iscsi
//! observations are held to the consistency rules; then one result per check over every
//! point, against the outcome the plan expects of it in this (side, phase).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Fallible, RunSpec};
use crate::testbed::Testbed;
use crate::verify::families::{self, Ctx, Family, Observation};
use crate::verify::plan::{Check, CheckSpec};
use crate::verify::result::{CheckResult, InstalledPackage, IscsiCheck, Outcome};

/// What every check saw after one step, in the plan's check order.
pub(super) struct Point {
    step: String,
    checks: Vec<(Fallible<Observation>, f64)>,
}

pub(super) fn observe_point(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    step: &str,
    vars: &BTreeMap<String, String>,
    installed: &[InstalledPackage],
    families: &[Box<dyn Family + '_>],
) -> Point {
    let mut out = Vec::new();
    for family in families {
        let mut ctx =
            Ctx { tb: &mut *tb, vars, side: spec.side, under_test: installed, log_dir: &spec.log_dir };
        let started = Instant::now();
        let observed = family.observe(&mut ctx);
        out.push((observed, started.elapsed().as_secs_f64()));
    }
    hold_to_consistency(&spec.plan.checks, &mut out);
    Point { step: step.to_string(), checks: out }
}

/// The iscsi checks of one point that contradict each other are inconclusive, the reason in
/// their evidence (`inconsistent`).
fn hold_to_consistency(checks: &[Check], out: &mut [(Fallible<Observation>, f64)]) {
    let plain: Vec<(IscsiCheck, &str)> = checks
        .iter()
        .zip(out.iter())
        .filter_map(|(c, (o, _))| {
            let o = o.as_ref().ok().filter(|o| !o.inconclusive)?;
            Some((c.iscsi()?, o.observed.as_str()))
        })
        .collect();
    let found = crate::verify::verdict::contradictions(&plain);
    for c in &found {
        for (check, (o, _)) in checks.iter().zip(out.iter_mut()) {
            if let (Ok(o), Some(kind)) = (o, check.iscsi())
                && c.checks.contains(&kind)
            {
                o.inconclusive = true;
                o.outcome = None;
                o.evidence["inconsistent"] = serde_json::Value::String(c.reason.clone());
            }
        }
    }
}

/// The check's title in the reports: what it looks at.
pub(super) fn title(check: &Check) -> String {
    match &check.spec {
        CheckSpec::Iscsi(k) => families::iscsi::title(*k).to_string(),
        CheckSpec::Command(c) => match (&c.run, &c.sh) {
            (Some(argv), _) => format!("command `{}`", argv.join(" ")),
            (None, Some(sh)) => format!(
                "shell `{}`",
                crate::verify::families::matchers::excerpt(sh.as_bytes(), 120).replace('\n', "; ")
            ),
            _ => "command".into(),
        },
        CheckSpec::File(f) => format!("file {}", f.path),
        CheckSpec::Package(p) => format!("package {}", p.name),
        CheckSpec::Port(l) => format!("port {l}"),
        CheckSpec::Log(l) => format!("log {} since the phase began", l.file),
        CheckSpec::Service(s) => format!("service {}", s.name),
    }
}

/// What the plan expected, in words.
fn expected_words(check: &Check, expected: Option<&str>) -> String {
    let Some(e) = expected else { return "nothing (observed only)".into() };
    match &check.spec {
        CheckSpec::Iscsi(k) => families::iscsi::describe(*k, e),
        _ => match check.outcomes.iter().find(|o| o.name == e) {
            Some(o) => format!("{e} ({})", families::describe(&o.matchers)),
            None => e.to_string(),
        },
    }
}

/// One check's result over every observation point: an error anywhere is an error, a
/// mismatch anywhere a failure; the observed words name the step where they differ.
/// `index` is the check's place in the plan (each point holds every check in plan order).
pub(super) fn merge(index: usize, check: &Check, expected: Option<&str>, points: &[Point]) -> CheckResult {
    let mut outcomes = Vec::new();
    let mut words = Vec::new();
    let mut matched = Vec::new();
    let mut whys = Vec::new();
    let mut evidence = Vec::new();
    let mut seconds = 0.0;
    let mut inconsistent = None;
    for p in points {
        let Some((o, secs)) = p.checks.get(index) else { continue };
        seconds += secs;
        let (word, name, outcome, ev) = match o {
            Ok(o) => {
                let name = match (&o.outcome, o.inconclusive) {
                    (_, true) => "inconclusive".to_string(),
                    (Some(n), false) => n.clone(),
                    (None, false) => "unmatched".to_string(),
                };
                let outcome = if o.inconclusive {
                    Outcome::Inconclusive
                } else {
                    match expected {
                        None => Outcome::Observed,
                        Some(e) if o.outcome.as_deref() == Some(e) => Outcome::Pass,
                        Some(_) => Outcome::Fail,
                    }
                };
                if let Some(why) = o.evidence.get("inconsistent") {
                    inconsistent.get_or_insert(why.clone());
                }
                if !o.why.is_empty() {
                    whys.push((p.step.clone(), o.why.clone()));
                }
                (o.observed.clone(), name, outcome, o.evidence.clone())
            }
            Err(e) => (e.clone(), "error".to_string(), Outcome::Error, serde_json::json!({ "error": e })),
        };
        outcomes.push(outcome);
        words.push((p.step.clone(), word));
        matched.push((p.step.clone(), name));
        evidence.push(serde_json::json!({ "after_step": p.step, "outcome": outcome, "evidence": ev }));
    }
    let outcome = [Outcome::Error, Outcome::Fail, Outcome::Inconclusive, Outcome::Pass]
        .into_iter()
        .find(|o| outcomes.contains(o))
        .unwrap_or(if outcomes.is_empty() { Outcome::Error } else { Outcome::Observed });
    let per_step = |items: &[(String, String)], none: &str| {
        if items.iter().all(|(_, w)| *w == items[0].1) {
            items.first().map(|(_, w)| w.clone()).unwrap_or_else(|| none.to_string())
        } else {
            items.iter().map(|(s, w)| format!("{w} (after `{s}`)")).collect::<Vec<_>>().join("; ")
        }
    };
    let observed = per_step(&words, "not observed");
    let matched_outcome = per_step(&matched, "unmatched");
    let why = if whys.is_empty() { String::new() } else { per_step(&whys, "") };
    let mut evidence = match evidence.len() {
        1 => evidence.remove(0)["evidence"].take(),
        _ => serde_json::json!({ "checkpoints": evidence }),
    };
    if let (Some(why), Some(obj)) = (inconsistent, evidence.as_object_mut()) {
        obj.insert("inconsistent".into(), why);
    }
    let mut r = CheckResult::new(
        check.id.clone(),
        title(check),
        expected_words(check, expected),
        observed,
        outcome,
        evidence,
        seconds,
    )
    .with_family(check.family(), check.iscsi())
    .with_outcomes(expected.unwrap_or_default(), matched_outcome);
    r.why = why;
    r
}
