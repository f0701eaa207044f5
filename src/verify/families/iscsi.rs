//! The iscsi family: today's four checks of a tgt target with their built-in outcomes
//! (`target-file` on|off|absent, `wce` on|off, `o-direct` on|off, `data-at-risk`
//! at-risk|safe). Each observation binds the objects under test afresh (the target block of
//! tgt's configuration, the LUN tgtd serves from `${lun}`); the iSCSI initiator it talks
//! through is the protocol client in `verify::iscsi`.

use std::net::SocketAddr;

use super::{Ctx, Family, Observation, exec};
use crate::testbed::{ExecRequest, MemCgroup, Testbed};
use crate::verify::checks::binding::{self, BoundLun};
use crate::verify::checks::data_at_risk::{self, MemStat};
use crate::verify::checks::{o_direct, target_file, wce};
use crate::verify::iscsi::{LoginParams, Session};
use crate::verify::plan::{self, Plan, Target};
use crate::verify::result::IscsiCheck;

type Fallible<T> = Result<T, String>;

pub struct Iscsi<'a> {
    pub kind: IscsiCheck,
    pub plan: &'a Plan,
    /// The `[daemon]`'s memory cgroup (data-at-risk measures its dirty pages).
    pub cgroup: Option<&'a MemCgroup>,
}

pub fn title(check: IscsiCheck) -> &'static str {
    match check {
        IscsiCheck::TargetFile => "write-cache line in the tgt target file",
        IscsiCheck::Wce => "WCE bit of the caching mode page, read over iSCSI",
        IscsiCheck::ODirect => "O_DIRECT on tgtd's backing-store file descriptor",
        IscsiCheck::DataAtRisk => "dirty page cache in tgtd's memory cgroup after a write through iSCSI",
    }
}

/// An expected value in the words the reports use.
pub fn describe(check: IscsiCheck, expected: &str) -> String {
    match check {
        IscsiCheck::TargetFile if expected == "absent" => "no write-cache line".into(),
        IscsiCheck::TargetFile => format!("write-cache {expected}"),
        IscsiCheck::Wce => format!("WCE={}", if expected == "on" { 1 } else { 0 }),
        IscsiCheck::ODirect => format!("O_DIRECT {expected}"),
        IscsiCheck::DataAtRisk => expected.to_string(),
    }
}

impl Family for Iscsi<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let target = self.plan.raw.target.as_ref().ok_or("the plan has no [target]")?;
        let daemon = self.plan.raw.daemon.as_ref().ok_or("the plan has no [daemon]")?;
        let target_path = plan::expand(&target.file, ctx.vars)?;
        let iqn = ctx.vars.get("iqn").cloned().ok_or("the plan has no ${iqn}")?;
        let lun_path = ctx.vars.get("lun").cloned().ok_or("the plan has no ${lun}")?;
        let argv0 = daemon.argv.first().map(String::as_str).unwrap_or_default();
        let daemon_name = argv0.rsplit('/').next().unwrap_or(argv0);
        let block = bind_target(ctx.tb, &target_path, &iqn)?;
        let (value, inconclusive, mut evidence) = if self.kind == IscsiCheck::TargetFile {
            let (value, ev) = target_file::observe(
                &block.file,
                block.target(),
                block.lines(),
                block.files_read.clone(),
                &lun_path,
            )?;
            (value.to_string(), false, serde_json::to_value(ev).unwrap_or_default())
        } else {
            let lun = bind_lun(ctx.tb, daemon_name, &iqn, &lun_path)?;
            let (value, inconclusive, mut ev) = self.observe_lun(ctx.tb, target, block.target(), &lun)?;
            ev["object"] = serde_json::to_value(&lun).unwrap_or_default();
            (value, inconclusive, ev)
        };
        // What the plan made, beside what the check observed: the verdict refuses a check
        // whose object is not this one (verdict::object_problem).
        evidence["under_test"] = serde_json::json!({ "iqn": iqn, "backing_store": lun_path });
        // A value outside the built-in outcomes (a misspelled `write-cache` keyword) is
        // unmatched: a failure whatever was expected.
        let known = plan::iscsi_outcomes(self.kind).contains(&value.as_str());
        Ok(Observation {
            outcome: (!inconclusive && known).then(|| value.clone()),
            observed: value,
            why: String::new(),
            evidence,
            inconclusive,
        })
    }
}

impl Iscsi<'_> {
    fn observe_lun(
        &self,
        tb: &mut dyn Testbed,
        t: &Target,
        target: &crate::formats::tgt_config::Target,
        lun: &BoundLun,
    ) -> Fallible<(String, bool, serde_json::Value)> {
        match self.kind {
            IscsiCheck::TargetFile => {
                Err("the target file is observed from its block, not over iSCSI".into())
            }
            IscsiCheck::Wce => {
                let mut session = login(tb, &t.portal, target, lun)?;
                let ev = wce::check(&mut session, &t.portal, lun.lun).map_err(|e| e.to_string())?;
                session.logout().map_err(|e| format!("logout: {e}"))?;
                Ok((if ev.wce { "on" } else { "off" }.into(), false, value(&ev)))
            }
            IscsiCheck::ODirect => {
                let ev = o_direct_evidence(tb, lun)?;
                Ok((if ev.o_direct { "on" } else { "off" }.into(), false, value(&ev)))
            }
            IscsiCheck::DataAtRisk => {
                let cgroup = self.cgroup.ok_or("data-at-risk needs the [daemon]'s memory cgroup")?;
                let fs = ok(tb, ExecRequest::new(["stat", "-f", "-c", "%T", "--", &lun.backing_store]))?
                    .trim()
                    .to_string();
                let session = login(tb, &t.portal, target, lun)?;
                let mut params = data_at_risk::Params::new(lun.lun);
                params.mib = self.plan.raw.data_at_risk_mib;
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
                let (v, inconclusive) = match ev.verdict {
                    data_at_risk::Verdict::AtRisk => ("at-risk".to_string(), false),
                    data_at_risk::Verdict::Safe => ("safe".to_string(), false),
                    data_at_risk::Verdict::Inconclusive => (format!("inconclusive: {}", ev.reason), true),
                };
                Ok((v, inconclusive, value(&ev)))
            }
        }
    }
}

fn value(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

fn ok(tb: &mut dyn Testbed, req: ExecRequest) -> Fallible<String> {
    let out = exec(tb, &req)?;
    if !out.success() {
        return Err(format!(
            "`{}` exited with status {}: {}",
            req.argv.join(" "),
            out.status,
            crate::process::tail(&[out.stdout, out.stderr].concat(), 10)
        ));
    }
    Ok(out.stdout_str())
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
        let out = ok(self.0, ExecRequest::new(["sh", "-c", script, "sh", pattern]))?;
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
    let pid = binding::one_pid(daemon, &ok(tb, ExecRequest::new(["pidof", daemon])).unwrap_or_default())?;
    let show = ok(tb, ExecRequest::new(["tgtadm", "--lld", "iscsi", "--mode", "target", "--op", "show"]))?;
    let shown = crate::formats::tgtadm_show::parse(&show).map_err(|e| e.to_string())?;
    binding::lun(&shown, iqn, lun_path, pid)
}

/// Logs in to the bound target (CHAP from its block's `incominguser`) and confirms, on the
/// wire, that the bound LUN is among the LUNs the target reports.
fn login(
    tb: &mut dyn Testbed,
    portal: &str,
    target: &crate::formats::tgt_config::Target,
    lun: &BoundLun,
) -> Fallible<Session<std::net::TcpStream>> {
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
    let out = ok(tb, ExecRequest::new(["sh", "-c", &script, "sh", &lun.backing_store]))?;
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
