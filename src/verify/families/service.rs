//! The service family: a systemd unit's state in a testbed whose pid 1 is systemd
//! (`needs = ["init"]`), from `systemctl show`. `restart = true` restarts it first (its exit
//! and output go into the evidence; a unit that fails to restart shows as not active).
//! `active`: ActiveState is `active`; `enabled`: UnitFileState is `enabled` or
//! `enabled-runtime`; `restarted`: systemd restarted it by itself (NRestarts > 0, a crash
//! under `Restart=`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::matchers::{EXCERPT, excerpt, note};
use super::{Ctx, Family, Observation, exec, select};
use crate::testbed::ExecRequest;
use crate::verify::plan::{Check, ServiceSpec};

pub struct Service<'a> {
    pub check: &'a Check,
    pub spec: &'a ServiceSpec,
}

/// `systemctl show`'s `Key=Value` lines.
fn properties(text: &str) -> BTreeMap<String, String> {
    text.lines().filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

#[derive(Debug, PartialEq, Eq)]
struct State {
    active: bool,
    enabled: bool,
    restarts: u64,
}

/// What the matchers test, from the unit's properties.
fn state(props: &BTreeMap<String, String>) -> State {
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or_default();
    State {
        active: get("ActiveState") == "active",
        enabled: matches!(get("UnitFileState"), "enabled" | "enabled-runtime"),
        restarts: get("NRestarts").parse().unwrap_or(0),
    }
}

const PROPERTIES: &str = "ActiveState,SubState,UnitFileState,NRestarts,MainPID,LoadState,Result";

impl Family for Service<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let unit = &self.spec.name;
        let mut evidence =
            json!({ "unit": unit, "object": { "unit": unit }, "under_test": { "unit": unit } });
        if self.spec.restart {
            let out = exec(
                ctx.tb,
                &ExecRequest::new(["systemctl", "restart", unit.as_str()]).timeout(Duration::from_secs(120)),
            )?;
            evidence["restart"] = json!({
                "argv": ["systemctl", "restart", unit],
                "status": out.status,
                "output": excerpt(&[out.stdout.as_slice(), out.stderr.as_slice()].concat(), EXCERPT),
            });
        }
        let out = exec(ctx.tb, &ExecRequest::new(["systemctl", "show", "-p", PROPERTIES, unit.as_str()]))?;
        if !out.success() {
            return Err(format!(
                "`systemctl show {unit}` exited with status {}: {}",
                out.status,
                out.stderr_str().trim()
            ));
        }
        let props = properties(&out.stdout_str());
        let get = |k: &str| props.get(k).cloned().unwrap_or_default();
        if get("LoadState") == "not-found" {
            return Err(format!("unit {unit} is not loaded: systemd does not know it (LoadState=not-found)"));
        }
        let State { active, enabled, restarts } = state(&props);
        let restarted = restarts > 0;
        let (outcome, why) = select(self.check, |m, why| {
            let mut ok = true;
            for (what, want, seen) in [
                ("active", m.active, active),
                ("enabled", m.enabled, enabled),
                ("restarted", m.restarted, restarted),
            ] {
                if let Some(w) = want {
                    ok &= note(why, w == seen, if w { what.to_string() } else { format!("not {what}") });
                }
            }
            ok
        })?;
        let observed = format!(
            "{unit}: {}/{}, {}, {} automatic restarts, main pid {}",
            get("ActiveState"),
            get("SubState"),
            get("UnitFileState"),
            restarts,
            get("MainPID")
        );
        evidence["show"] = json!(props);
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_from_systemctl_show() {
        let table: &[(&str, State)] = &[
            (
                "ActiveState=active\nSubState=running\nUnitFileState=enabled\nNRestarts=0\nMainPID=42\n",
                State { active: true, enabled: true, restarts: 0 },
            ),
            (
                "ActiveState=activating\nSubState=auto-restart\nUnitFileState=enabled\nNRestarts=3\n",
                State { active: false, enabled: true, restarts: 3 },
            ),
            (
                "ActiveState=failed\nUnitFileState=disabled\nNRestarts=0\n",
                State { active: false, enabled: false, restarts: 0 },
            ),
            (
                "ActiveState=active\nUnitFileState=static\n",
                State { active: true, enabled: false, restarts: 0 },
            ),
            (
                "ActiveState=inactive\nUnitFileState=enabled-runtime\n",
                State { active: false, enabled: true, restarts: 0 },
            ),
        ];
        for (text, want) in table {
            assert_eq!(state(&properties(text)), *want, "{text}");
        }
    }
}
