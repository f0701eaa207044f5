//! One observation point of a run: bind the objects under test afresh (the target block of
//! tgt's configuration, the LUN tgtd serves from `${lun}`), run every check, hold the
//! observations to the consistency rules; then one result per check over every point.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::{Fallible, RunSpec, daemon_name, describe, exec_ok, title};
use crate::testbed::{ExecRequest, MemCgroup, Testbed};
use crate::verify::checks::binding::{self, BoundLun};
use crate::verify::checks::data_at_risk::{self, MemStat};
use crate::verify::checks::{o_direct, target_file, wce};
use crate::verify::iscsi::{LoginParams, Session};
use crate::verify::plan;
use crate::verify::result::{CheckId, CheckResult, Outcome};

/// What every check saw after one step.
pub(super) struct Point {
    step: String,
    checks: Vec<(CheckId, Fallible<Observation>, f64)>,
}

/// Binds the objects under test afresh (a step may have recreated the target), runs every
/// check, then holds the observations to the consistency rules.
pub(super) fn observe_point(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    step: &str,
    vars: &BTreeMap<String, String>,
    cgroup: &MemCgroup,
) -> Fallible<Point> {
    let target_path = plan::expand(&spec.plan.raw.target.file, vars)?;
    let iqn = vars.get("iqn").cloned().ok_or("the plan has no ${iqn}")?;
    let lun_path = vars.get("lun").cloned().ok_or("the plan has no ${lun}")?;
    let block = bind_target(tb, &target_path, &iqn);
    let needs_lun = spec.plan.checks.iter().any(|c| *c != CheckId::TargetFile);
    let lun = if needs_lun { bind_lun(tb, daemon_name(spec), &iqn, &lun_path) } else { Err(String::new()) };
    let under_test = serde_json::json!({ "iqn": iqn, "backing_store": lun_path });
    let mut out = Vec::new();
    for &check in &spec.plan.checks {
        let started = Instant::now();
        let observed = match (&block, &lun) {
            (Err(e), _) => Err(e.clone()),
            (Ok(b), _) if check == CheckId::TargetFile => {
                target_file::observe(&b.file, b.target(), b.lines(), b.files_read.clone(), &lun_path)
                    .map(|(value, ev)| observation(value, ev))
            }
            (_, Err(e)) => Err(e.clone()),
            (Ok(b), Ok(l)) => observe(tb, spec, check, b.target(), l, cgroup),
        };
        // What the plan made, beside what the check observed: the verdict refuses a check
        // whose object is not this one (verdict::object_problem).
        let observed = observed.map(|mut o| {
            o.evidence["under_test"] = under_test.clone();
            o
        });
        out.push((check, observed, started.elapsed().as_secs_f64()));
    }
    let plain: Vec<(CheckId, &str)> = out
        .iter()
        .filter_map(|(c, o, _)| o.as_ref().ok().filter(|o| !o.inconclusive).map(|o| (*c, o.value.as_str())))
        .collect();
    let found = crate::verify::verdict::contradictions(&plain);
    for c in &found {
        for (id, o, _) in out.iter_mut() {
            if let Ok(o) = o
                && c.checks.contains(id)
            {
                o.inconclusive = true;
                o.evidence["inconsistent"] = serde_json::Value::String(c.reason.clone());
            }
        }
    }
    Ok(Point { step: step.to_string(), checks: out })
}

/// One check's result over every observation point: an error anywhere is an error, a
/// mismatch anywhere a failure; the observed words name the step where they differ.
pub(super) fn merge(check: CheckId, expected: &str, points: &[Point]) -> CheckResult {
    let mut outcomes = Vec::new();
    let mut words = Vec::new();
    let mut evidence = Vec::new();
    let mut seconds = 0.0;
    let mut inconsistent = None;
    for p in points {
        let Some((_, o, secs)) = p.checks.iter().find(|(c, _, _)| *c == check) else { continue };
        seconds += secs;
        let (word, outcome, ev) = match o {
            Ok(o) => {
                let outcome = if o.inconclusive {
                    Outcome::Inconclusive
                } else if o.value == expected {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                };
                if let Some(why) = o.evidence.get("inconsistent") {
                    inconsistent.get_or_insert(why.clone());
                }
                (o.value.clone(), outcome, o.evidence.clone())
            }
            Err(e) => (e.clone(), Outcome::Error, serde_json::json!({ "error": e })),
        };
        outcomes.push(outcome);
        words.push((p.step.clone(), word));
        evidence.push(serde_json::json!({ "after_step": p.step, "outcome": outcome, "evidence": ev }));
    }
    let outcome = [Outcome::Error, Outcome::Fail, Outcome::Inconclusive]
        .into_iter()
        .find(|o| outcomes.contains(o))
        .unwrap_or(if outcomes.is_empty() { Outcome::Error } else { Outcome::Pass });
    let observed = if words.iter().all(|(_, w)| *w == words[0].1) {
        words.first().map(|(_, w)| w.clone()).unwrap_or_else(|| "not observed".into())
    } else {
        words.iter().map(|(s, w)| format!("{w} (after `{s}`)")).collect::<Vec<_>>().join("; ")
    };
    let mut evidence = match evidence.len() {
        1 => evidence.remove(0)["evidence"].take(),
        _ => serde_json::json!({ "checkpoints": evidence }),
    };
    if let (Some(why), Some(obj)) = (inconsistent, evidence.as_object_mut()) {
        obj.insert("inconsistent".into(), why);
    }
    CheckResult::new(check, title(check), describe(check, expected), observed, outcome, evidence, seconds)
}

/// The `<target ${iqn}>` block, found in tgt's whole configuration (tgt-admin's root
/// file and everything it includes) and in the plan's target file.
struct BoundBlock {
    file: String,
    config: crate::formats::tgt_config::TgtConfig,
    index: usize,
    files_read: Vec<String>,
}

impl BoundBlock {
    fn target(&self) -> &crate::formats::tgt_config::Target {
        &self.config.targets()[self.index]
    }
    fn lines(&self) -> &[crate::formats::tgt_config::SourceLine] {
        self.config.lines()
    }
}

/// tgt-admin's own configuration file (its `-c` default).
const TGT_ADMIN_CONF: &str = "/etc/tgt/targets.conf";

/// Reads files and expands include patterns inside the testbed, as tgt-admin there would.
struct TestbedFiles<'a>(&'a mut dyn Testbed);

impl crate::formats::tgt_tree::Source for TestbedFiles<'_> {
    fn read(&mut self, path: &str) -> Result<Option<String>, String> {
        let out = self
            .0
            .exec(&ExecRequest::new(["sh", "-c", "[ -f \"$1\" ] || exit 3; cat -- \"$1\"", "sh", path]))
            .map_err(|e| e.to_string())?;
        match out.status {
            0 => Ok(Some(out.stdout_str())),
            3 => Ok(None),
            s => Err(format!("cat {path} exited with status {s}: {}", out.stderr_str().trim())),
        }
    }

    fn expand(&mut self, pattern: &str) -> Result<Vec<String>, String> {
        // Unquoted, so the shell globs (and splits on blanks) as Perl's glob does for
        // Config::General's -IncludeGlob; a directory stands for its files (-IncludeDirectories).
        let script = "for f in $1; do if [ -d \"$f\" ]; then for g in \"$f\"/*; do [ -f \"$g\" ] && printf '%s\\n' \"$g\"; done; \
                      elif [ -e \"$f\" ]; then printf '%s\\n' \"$f\"; fi; done; true";
        let out = exec_ok(self.0, ExecRequest::new(["sh", "-c", script, "sh", pattern]))?;
        Ok(out.lines().map(str::to_string).collect())
    }
}

fn bind_target(tb: &mut dyn Testbed, path: &str, iqn: &str) -> Fallible<BoundBlock> {
    let mut files = TestbedFiles(tb);
    if crate::formats::tgt_tree::Source::read(&mut files, path)?.is_none() {
        return Err(format!("the target file {path} was not written"));
    }
    let tree = crate::formats::tgt_tree::TgtTree::read(&[TGT_ADMIN_CONF, path], &mut files)?;
    let (file, target) = binding::target_block(&tree, iqn)?;
    let index = file.config.targets().iter().position(|t| std::ptr::eq(t, target)).unwrap_or_default();
    Ok(BoundBlock { file: file.path.clone(), config: file.config.clone(), index, files_read: tree.paths() })
}

/// Asks tgtd (`tgtadm --op show`) which LUN of target `iqn` is backed by `lun_path`.
fn bind_lun(tb: &mut dyn Testbed, daemon: &str, iqn: &str, lun_path: &str) -> Fallible<BoundLun> {
    let pid =
        binding::one_pid(daemon, &exec_ok(tb, ExecRequest::new(["pidof", daemon])).unwrap_or_default())?;
    let show =
        exec_ok(tb, ExecRequest::new(["tgtadm", "--lld", "iscsi", "--mode", "target", "--op", "show"]))?;
    let shown = crate::formats::tgtadm_show::parse(&show).map_err(|e| e.to_string())?;
    binding::lun(&shown, iqn, lun_path, pid)
}

struct Observation {
    value: String,
    inconclusive: bool,
    evidence: serde_json::Value,
}

fn observation(value: impl Into<String>, evidence: impl serde::Serialize) -> Observation {
    Observation {
        value: value.into(),
        inconclusive: false,
        evidence: serde_json::to_value(evidence).unwrap_or_default(),
    }
}

fn observe(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    check: CheckId,
    target: &crate::formats::tgt_config::Target,
    lun: &BoundLun,
    cgroup: &MemCgroup,
) -> Fallible<Observation> {
    let named = |mut o: Observation| {
        o.evidence["object"] = serde_json::to_value(lun).unwrap_or_default();
        o
    };
    match check {
        CheckId::TargetFile => Err("the target file is observed from its block, not over iSCSI".into()),
        CheckId::Wce => {
            let mut session = login(tb, spec, target, lun)?;
            let ev =
                wce::check(&mut session, &spec.plan.raw.target.portal, lun.lun).map_err(|e| e.to_string())?;
            session.logout().map_err(|e| format!("logout: {e}"))?;
            Ok(named(observation(if ev.wce { "on" } else { "off" }, ev)))
        }
        CheckId::ODirect => {
            let ev = o_direct_evidence(tb, lun)?;
            Ok(named(observation(if ev.o_direct { "on" } else { "off" }, ev)))
        }
        CheckId::DataAtRisk => {
            let fs = exec_ok(tb, ExecRequest::new(["stat", "-f", "-c", "%T", "--", &lun.backing_store]))?
                .trim()
                .to_string();
            let session = login(tb, spec, target, lun)?;
            let mut params = data_at_risk::Params::new(lun.lun);
            params.mib = spec.plan.raw.data_at_risk_mib;
            params.backing_store_fs = Some(fs);
            let cg = cgroup.clone();
            let sample = move || {
                cg.stat().map(|s| MemStat {
                    dirty: s.get("dirty").copied().unwrap_or(0),
                    writeback: s.get("writeback").copied().unwrap_or(0),
                })
            };
            let ev = data_at_risk::measure(session, &params, sample).map_err(|e| e.to_string())?;
            // The plan's words are `at-risk` / `safe`; the KiB are in the evidence, and an
            // inconclusive measurement says why in its own words.
            let (value, inconclusive) = match ev.verdict {
                data_at_risk::Verdict::AtRisk => ("at-risk".to_string(), false),
                data_at_risk::Verdict::Safe => ("safe".to_string(), false),
                data_at_risk::Verdict::Inconclusive => (format!("inconclusive: {}", ev.reason), true),
            };
            Ok(named(Observation { inconclusive, ..observation(value, &ev) }))
        }
    }
}

/// Logs in to the bound target (CHAP from its block's `incominguser`) and confirms, on the
/// wire, that the bound LUN is among the LUNs the target reports.
fn login(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    target: &crate::formats::tgt_config::Target,
    lun: &BoundLun,
) -> Fallible<Session<std::net::TcpStream>> {
    let portal = &spec.plan.raw.target.portal;
    let addr: SocketAddr = portal.parse().map_err(|e| format!("portal {portal}: {e}"))?;
    let stream = tb.connect_tcp(addr).map_err(|e| format!("connect to {portal}: {e}"))?;
    // Without it, Nagle's algorithm and the target's delayed ACKs stall every PDU by ~40 ms.
    stream.set_nodelay(true).map_err(|e| format!("TCP_NODELAY on {portal}: {e}"))?;
    let mut params = LoginParams::new(&lun.iqn);
    params.chap = target.incominguser().first().map(|c| (c.user.clone(), c.password.clone()));
    let mut session =
        Session::login(stream, &params).map_err(|e| format!("iSCSI login to {}: {e}", lun.iqn))?;
    let luns = session.report_luns().map_err(|e| format!("REPORT LUNS on {}: {e}", lun.iqn))?;
    if !luns.contains(&lun.lun) {
        return Err(format!(
            "{} reports LUNs {luns:?} over iSCSI; tgtd's LUN {} (backed by {}) is not among them",
            lun.iqn, lun.lun, lun.backing_store
        ));
    }
    Ok(session)
}

/// Lists the bound daemon's fds from inside the testbed (paths as the daemon sees them)
/// with their fdinfo flags, and picks the one open on the LUN's backing store.
fn o_direct_evidence(tb: &mut dyn Testbed, lun: &BoundLun) -> Fallible<o_direct::ODirectEvidence> {
    let pid = lun.tgtd_pid;
    let script = format!(
        "realpath -e -- \"$1\"; for f in /proc/{pid}/fd/*; do n=${{f##*/}}; \
         printf '%s\\t%s\\t%s\\n' \"$n\" \"$(readlink \"$f\")\" \"$(grep '^flags:' /proc/{pid}/fdinfo/$n)\"; done"
    );
    let out = exec_ok(tb, ExecRequest::new(["sh", "-c", &script, "sh", &lun.backing_store]))?;
    let mut lines = out.lines();
    let store = lines.next().unwrap_or_default().to_string();
    let rows: Vec<(u32, String, String)> = lines
        .filter_map(|l| {
            let mut it = l.splitn(3, '\t');
            Some((it.next()?.parse().ok()?, it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect();
    o_direct::evidence(&store, pid, rows.iter().map(|(fd, t, i)| (*fd, t.as_str(), i.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(step: &str, checks: Vec<(CheckId, Fallible<Observation>)>) -> Point {
        Point { step: step.into(), checks: checks.into_iter().map(|(c, o)| (c, o, 0.5)).collect() }
    }

    fn seen(value: &str) -> Fallible<Observation> {
        Ok(observation(value, serde_json::json!({ "v": value })))
    }

    /// (observations after `export`, after `restart`) -> (outcome, observed), expecting `off`.
    #[test]
    fn one_result_over_every_observation_point() {
        type Row = (Fallible<Observation>, Fallible<Observation>, Outcome, &'static str);
        let table: Vec<Row> = vec![
            (seen("off"), seen("off"), Outcome::Pass, "off"),
            (seen("off"), seen("on"), Outcome::Fail, "off (after `export`); on (after `restart`)"),
            (seen("on"), seen("off"), Outcome::Fail, "on (after `export`); off (after `restart`)"),
            (
                seen("off"),
                Err("tgtd has no target x".into()),
                Outcome::Error,
                "off (after `export`); tgtd has no target x (after `restart`)",
            ),
            (
                seen("off"),
                Ok(Observation { inconclusive: true, ..observation("off", serde_json::json!({})) }),
                Outcome::Inconclusive,
                "off",
            ),
        ];
        for (a, b, outcome, observed) in table {
            let points =
                [point("export", vec![(CheckId::Wce, a)]), point("restart", vec![(CheckId::Wce, b)])];
            let r = merge(CheckId::Wce, "off", &points);
            assert_eq!((r.outcome, r.observed.as_str()), (outcome, observed));
            assert_eq!(r.evidence["checkpoints"][1]["after_step"], "restart");
            assert_eq!(r.seconds, 1.0);
        }
        // One point: its evidence as it is.
        let r = merge(CheckId::Wce, "off", &[point("export", vec![(CheckId::Wce, seen("off"))])]);
        assert_eq!(r.evidence, serde_json::json!({ "v": "off" }));
    }
}
