//! The expectation table: `[expect.SIDE.PHASE]` rows mapping check id -> outcome name, with
//! `*` for every side or every phase (smoke checks every pair must pass). Resolved to one
//! table per concrete (side, phase); a check expected twice for one pair (a wildcard and an
//! explicit row, or two wildcards) is a load error, so no row silently wins.

use std::collections::BTreeMap;

use super::checks::{Check, Dep8Check};
use super::raw::RawPlan;
use super::spans::{self, Spans};
use super::{Loc, PlanError};
use crate::verify::result::Side;

/// (side, phase) -> check id -> expected outcome name.
pub type Expect = BTreeMap<(Side, String), BTreeMap<String, String>>;

const ANY: &str = "*";

/// A dep8 check's outcomes are fixed per test, so no expectation row may name it.
pub fn no_dep8_rows(loc: &Loc, raw: &RawPlan, dep8: &[Dep8Check]) -> Result<(), PlanError> {
    for phases in raw.expect.values() {
        for values in phases.values() {
            for check_key in values.keys() {
                if let Some(d) = dep8.iter().find(|d| &d.id == check_key.get_ref()) {
                    return Err(loc.at(
                        check_key.span().start,
                        format!(
                            "check `{}` (line {}) is a dep8 gate: its outcomes are fixed (pass, fail, skip, neutral per test, a pass before that fails after is a regression); it takes no expectation",
                            d.id, d.line
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn expectations(loc: &Loc, raw: &RawPlan, spans: &Spans, checks: &[Check]) -> Result<Expect, PlanError> {
    let mut expect: Expect = BTreeMap::new();
    // Where each (side, phase, check) expectation was given, for "given twice" errors.
    let mut given: BTreeMap<(Side, String, String), usize> = BTreeMap::new();
    // Where each explicit (side, phase) row starts, for "has no expectation for" errors.
    let mut row_at: BTreeMap<(Side, String), usize> = BTreeMap::new();
    for (side_key, phases) in &raw.expect {
        let sides: Vec<Side> = match side_key.get_ref().as_str() {
            ANY => raw.sides.clone(),
            "before" => vec![Side::Before],
            "after" => vec![Side::After],
            other => {
                return Err(
                    loc.at(side_key.span().start, format!("unknown side `{other}` (before, after, *)"))
                );
            }
        };
        if let [side] = sides.as_slice()
            && !raw.sides.contains(side)
        {
            return Err(loc.at(
                side_key.span().start,
                format!("expectations for side `{side}`, which the plan does not have"),
            ));
        }
        for (phase_key, values) in phases {
            let phase = phase_key.get_ref();
            if sides.len() == 1 && phase != ANY {
                expect.entry((sides[0], phase.clone())).or_default();
            }
            let names: Vec<String> = if phase == ANY {
                raw.phases.iter().map(|p| p.name.clone()).collect()
            } else if raw.phases.iter().any(|p| &p.name == phase) {
                vec![phase.clone()]
            } else {
                return Err(
                    loc.at(phase_key.span().start, format!("expectations for unknown phase `{phase}`"))
                );
            };
            for (check_key, value) in values {
                let id = check_key.get_ref();
                let check = checks.iter().find(|c| &c.id == id).ok_or_else(|| {
                    loc.at(
                        check_key.span().start,
                        format!("expectation for `{id}`, which is not among the plan's checks ([checks] or [[check]])"),
                    )
                })?;
                let names_ok = check.outcome_names();
                if !names_ok.contains(&value.get_ref().as_str()) {
                    let message = match check.iscsi() {
                        Some(k) => {
                            format!("`{k}` expects one of {}, not `{}`", names_ok.join(", "), value.get_ref())
                        }
                        None => format!(
                            "check `{id}` has no outcome `{}` (its outcomes: {})",
                            value.get_ref(),
                            names_ok.join(", ")
                        ),
                    };
                    return Err(loc.at(value.span().start, message));
                }
                for side in &sides {
                    for name in &names {
                        let key = (*side, name.clone(), id.clone());
                        if let Some(first) = given.insert(key, value.span().start) {
                            return Err(loc.at(
                                value.span().start,
                                format!(
                                    "check `{id}` is expected twice for {side}/{name} (here and on line {}): a wildcard row and an explicit one, or two wildcards, must not overlap",
                                    loc.line(first)
                                ),
                            ));
                        }
                        expect
                            .entry((*side, name.clone()))
                            .or_default()
                            .insert(id.clone(), value.get_ref().clone());
                    }
                }
            }
            if sides.len() == 1 && phase != ANY {
                row_at.insert((sides[0], phase.clone()), phase_key.span().start);
            }
        }
    }
    // A (side, phase) that expects nothing verifies nothing: refused. A missing pair points at
    // what asked for it: the phase's [[phase]] line, or `sides` when the plan names a side it
    // has no expectations for at all.
    for side in &raw.sides {
        let side_has_any = expect.keys().any(|(s, _)| s == side);
        for (phase, sp) in raw.phases.iter().zip(&spans.phases) {
            let Some(table) = expect.get(&(*side, phase.name.clone())) else {
                let (offset, why) = match &spans.sides {
                    Some(sides) if !side_has_any => (sides.span().start, format!("`sides` names `{side}`")),
                    _ => (
                        spans::header_before(loc.text, sp.name.span().start, "phase"),
                        format!("phase `{}` is declared here", phase.name),
                    ),
                };
                return Err(loc.at(
                    offset,
                    format!(
                        "no [expect.{side}.{}] table: every (side, phase) needs one, or a wildcard row ({why})",
                        phase.name
                    ),
                ));
            };
            // The iscsi family keeps its rule: its checks are expected in every pair (their
            // outcomes feed the consistency rules, and data-at-risk is too costly to run for
            // nothing). A generic check without an expectation is recorded as observed.
            if let Some(missing) = checks.iter().find(|c| c.iscsi().is_some() && !table.contains_key(&c.id)) {
                let offset = row_at.get(&(*side, phase.name.clone())).copied().unwrap_or(0);
                return Err(loc.at(
                    offset,
                    format!("[expect.{side}.{}] has no expectation for `{}`", phase.name, missing.id),
                ));
            }
            if table.is_empty() {
                let offset = row_at.get(&(*side, phase.name.clone())).copied().unwrap_or(0);
                return Err(loc.at(
                    offset,
                    format!(
                        "[expect.{side}.{}] expects nothing: a run that expects nothing verifies nothing",
                        phase.name
                    ),
                ));
            }
        }
    }
    Ok(expect)
}
