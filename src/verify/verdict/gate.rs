//! The dep8 gate's rule (Ubuntu's autopkgtest migration rule, per test): a test that passed
//! on the before side and fails on the after side is a regression (`verification-failed`,
//! "regression in TEST"); one failing on both sides is reported, not blamed; skip and neutral
//! are reported; a run that could not test (an autopkgtest error, no result, a run not bound
//! to the side) is an error, never a pass.

use crate::verify::result::{Dep8Outcome, Dep8Run, Side, Sides};

/// What the gate found, for the verdict and the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Runs that could not test: the verdict is `error`.
    pub errors: Vec<String>,
    /// Pass before, fail after: the verdict is `verification-failed`.
    pub regressions: Vec<String>,
    /// Everything else worth a line: failing on both sides, skips, neutrals, tests one side
    /// lacks, tests the after side fixed.
    pub notes: Vec<String>,
    /// Tests that passed on every side that ran them.
    pub passed: usize,
}

impl Gate {
    pub fn is_empty(&self) -> bool {
        *self == Gate::default()
    }
}

/// The rule over every dep8 run of both sides, paired by (check, whose tests).
pub fn gate(sides: &Sides) -> Gate {
    let none = Vec::new();
    let before = sides.before.as_ref().map(|s| &s.dep8).unwrap_or(&none);
    let after = sides.after.as_ref().map(|s| &s.dep8).unwrap_or(&none);
    let mut g = Gate::default();
    for (side, runs) in [(Side::Before, before), (Side::After, after)] {
        for r in runs {
            if let Some(e) = &r.error {
                g.errors.push(format!("{side} autopkgtests of {} ({}): {e}", r.whose(), r.check));
            }
        }
    }
    // A pair is one check's tests of one source on both sides; a lone side is only reported.
    let key = |r: &Dep8Run| (r.check.clone(), r.rdepend.clone());
    let mut keys: Vec<(String, Option<String>)> = before.iter().chain(after).map(key).collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    for k in keys {
        let b = before.iter().find(|r| key(r) == k && r.error.is_none());
        let a = after.iter().find(|r| key(r) == k && r.error.is_none());
        let mut names: Vec<&str> =
            b.iter().chain(a.iter()).flat_map(|r| r.tests.iter().map(|t| t.name.as_str())).collect();
        names.sort();
        names.dedup();
        for name in names {
            let bt = b.and_then(|r| r.test(name));
            let at = a.and_then(|r| r.test(name));
            let whose = a.or(b).map(|r| r.whose()).unwrap_or_default();
            let words = |t: Option<&crate::verify::result::Dep8Test>| match t {
                Some(t) if t.detail.is_empty() => t.outcome.as_str().to_string(),
                Some(t) => format!("{} ({})", t.outcome.as_str(), t.detail),
                None => "not run".into(),
            };
            use Dep8Outcome::*;
            match (bt.map(|t| t.outcome), at.map(|t| t.outcome)) {
                (Some(Pass), Some(Fail)) => g.regressions.push(format!(
                    "regression in {name} ({whose}): passed before ({}), failed after: {}",
                    b.map(|r| r.source.version.as_str()).unwrap_or_default(),
                    words(at)
                )),
                (Some(Pass) | None, Some(Pass)) => g.passed += 1,
                // A test the update dropped can hide a regression: never counted as passed.
                (Some(Pass), None) if a.is_some() => g.notes.push(format!(
                    "{name} ({whose}) passed before and is not among the after side's tests: the update dropped it, nothing gates it"
                )),
                (Some(Pass), None) => g.passed += 1,
                (Some(Fail), Some(Fail)) => {
                    g.notes.push(format!("{name} ({whose}) fails on both sides: not blamed on the update"))
                }
                (Some(Fail), Some(Pass)) => {
                    g.notes.push(format!("{name} ({whose}) failed before, passes after"))
                }
                (None, Some(Fail)) => g.notes.push(format!(
                    "{name} ({whose}) fails after and did not run before: not blamed on the update ({})",
                    words(at)
                )),
                (bo, ao) => g.notes.push(format!(
                    "{name} ({whose}): before {}, after {}",
                    bo.map(|_| words(bt)).unwrap_or("not run".into()),
                    ao.map(|_| words(at)).unwrap_or("not run".into())
                )),
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::result::{Dep8Source, Dep8Test, PackageSet};

    fn run(version: &str, tests: &[(&str, Dep8Outcome)]) -> Dep8Run {
        Dep8Run {
            check: "autopkgtests".into(),
            source: Dep8Source { name: "x".into(), version: version.into(), ..Default::default() },
            exit_code: Some(0),
            tests: tests
                .iter()
                .map(|(n, o)| Dep8Test { name: n.to_string(), outcome: *o, detail: String::new() })
                .collect(),
            ..Default::default()
        }
    }

    fn sides(before: Vec<Dep8Run>, after: Vec<Dep8Run>) -> Sides {
        Sides {
            before: Some(PackageSet { dep8: before, ..Default::default() }),
            after: Some(PackageSet { dep8: after, ..Default::default() }),
        }
    }

    use Dep8Outcome::*;

    #[test]
    fn pass_then_fail_is_a_regression() {
        let g = gate(&sides(
            vec![run("1", &[("a", Pass), ("b", Pass)])],
            vec![run("2", &[("a", Pass), ("b", Fail)])],
        ));
        assert_eq!(g.regressions.len(), 1, "{g:?}");
        assert!(g.regressions[0].starts_with("regression in b (x 2)"), "{g:?}");
        assert_eq!(g.passed, 1);
        assert!(g.errors.is_empty());
    }

    #[test]
    fn fail_on_both_sides_is_not_blamed() {
        let g = gate(&sides(vec![run("1", &[("a", Fail)])], vec![run("2", &[("a", Fail)])]));
        assert!(g.regressions.is_empty());
        assert!(g.notes[0].contains("fails on both sides"), "{g:?}");
    }

    #[test]
    fn skip_and_neutral_are_reported_not_judged() {
        let g = gate(&sides(
            vec![run("1", &[("s", Pass), ("n", Pass)])],
            vec![run("2", &[("s", Skip), ("n", Neutral)])],
        ));
        assert!(g.regressions.is_empty() && g.errors.is_empty(), "{g:?}");
        assert_eq!(g.notes.len(), 2);
        assert!(g.notes.iter().any(|n| n.contains("before pass, after skip")), "{g:?}");
        assert!(g.notes.iter().any(|n| n.contains("before pass, after neutral")), "{g:?}");
    }

    #[test]
    fn an_error_on_either_side_is_an_error_and_compares_nothing() {
        let mut broken = run("2", &[]);
        broken.error = Some("autopkgtest exit 16: the testbed failed".into());
        let g = gate(&sides(vec![run("1", &[("a", Pass)])], vec![broken]));
        assert_eq!(g.errors.len(), 1);
        assert!(
            g.errors[0].starts_with("after autopkgtests of x 2 (autopkgtests): autopkgtest exit 16"),
            "{g:?}"
        );
        assert!(g.regressions.is_empty(), "an error is never read as a regression: {g:?}");
    }

    #[test]
    fn a_new_failing_test_and_a_fix_are_notes() {
        let g =
            gate(&sides(vec![run("1", &[("old", Fail)])], vec![run("2", &[("old", Pass), ("new", Fail)])]));
        assert!(g.regressions.is_empty(), "{g:?}");
        assert!(g.notes.iter().any(|n| n.contains("new (x 2) fails after and did not run before")), "{g:?}");
        assert!(g.notes.iter().any(|n| n.contains("old (x 2) failed before, passes after")), "{g:?}");
    }

    #[test]
    fn a_test_the_update_dropped_is_said_and_not_counted_as_passed() {
        let g = gate(&sides(vec![run("1", &[("a", Pass), ("b", Pass)])], vec![run("2", &[("a", Pass)])]));
        assert_eq!(g.passed, 1, "{g:?}");
        assert!(g.regressions.is_empty());
        assert!(g.notes.iter().any(|n| n.starts_with("b (x 2) passed before and is not among")), "{g:?}");
    }

    #[test]
    fn rdepends_pair_apart() {
        let mut rb = run("9", &[("r", Pass)]);
        rb.rdepend = Some("src:y".into());
        let mut ra = run("9", &[("r", Fail)]);
        ra.rdepend = Some("src:y".into());
        let g = gate(&sides(vec![run("1", &[("r", Fail)]), rb], vec![run("2", &[("r", Fail)]), ra]));
        assert_eq!(g.regressions.len(), 1, "{g:?}");
        assert!(g.regressions[0].contains("src:y 9 (reverse dependency)"), "{g:?}");
    }

    #[test]
    fn the_gate_joins_the_runs_verdict() {
        use crate::verify::result::Verdict::*;
        use crate::verify::verdict::with_gate;
        let regression = Gate { regressions: vec!["regression in t (x 2)".into()], ..Default::default() };
        let error = Gate { errors: vec!["after autopkgtests of x 2: exit 16".into()], ..Default::default() };
        let clean = Gate { passed: 3, ..Default::default() };
        let done = || (VerificationDone, "every expectation held".to_string());
        assert_eq!(with_gate(done(), &regression), (VerificationFailed, "regression in t (x 2)".into()));
        assert_eq!(with_gate(done(), &error).0, Error);
        assert_eq!(
            with_gate(done(), &clean),
            (VerificationDone, "every expectation held; the autopkgtest gate held (3 passed)".into())
        );
        // No gate at all: the runs' verdict as it was.
        assert_eq!(with_gate(done(), &Gate::default()), done());
        // An error stays an error; a regression fails even a run that did not reproduce.
        assert_eq!(with_gate((Error, "e".into()), &regression), (Error, "e".into()));
        assert_eq!(with_gate((Inconclusive, "i".into()), &regression).0, VerificationFailed);
        assert_eq!(with_gate((VerificationFailed, "f".into()), &regression).1, "f; regression in t (x 2)");
        assert_eq!(with_gate((Error, "e".into()), &error).1, "e; after autopkgtests of x 2: exit 16");
    }
}
