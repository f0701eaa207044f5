//! The steps of a run, in plan order: `run` an argv, `sh` a script (`sh -e -c`), `write` a
//! file, start a `daemon` in its own memory cgroup and wait until it is ready, `upgrade` to
//! the run's own side's packages. A failing step is a run error (the testbed or the plan is
//! broken), never an outcome. Also the legacy `[daemon]` and, in a testbed with init, the
//! services the packages under test ship.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Fallible, RunSpec, STEP_TIMEOUT, exec_ok, upgrade, write_file};
use crate::testbed::{ExecRequest, MemCgroup, Testbed};
use crate::verify::packages::Package;
use crate::verify::plan::{self, Daemon, DaemonStep, Step};

/// How long a daemon may take to be ready by default.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, PartialEq, Eq)]
pub enum Ran {
    Done,
    /// The packages under test changed: the run confirms them again.
    Upgraded,
}

pub fn run_step(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    step: &Step,
    vars: &BTreeMap<String, String>,
    log: &Path,
    daemons: &mut Vec<MemCgroup>,
) -> Fallible<Ran> {
    let timeout = step.timeout.as_deref().map(plan::duration).transpose()?.unwrap_or(STEP_TIMEOUT);
    if let Some(d) = &step.daemon {
        daemons.push(start_daemon(tb, &step.name, d, vars, log)?);
        return Ok(Ran::Done);
    }
    if step.upgrade.is_some() {
        // dpkg over the installed before side, as `apt upgrade` would do it.
        upgrade(tb, spec.packages).map_err(|e| format!("step `{}`: upgrade: {e}", step.name))?;
        return Ok(Ran::Upgraded);
    }
    let req = if let Some(w) = &step.write {
        write_file(&plan::expand(&w.path, vars)?, plan::expand(&w.content, vars)?)
    } else {
        let argv = match &step.sh {
            Some(sh) => vec!["sh".to_string(), "-e".into(), "-c".into(), plan::expand(sh, vars)?],
            None => step.run.iter().map(|a| plan::expand(a, vars)).collect::<Result<Vec<_>, _>>()?,
        };
        match &step.user {
            Some(u) => ExecRequest::new(
                [vec!["runuser".into(), "-u".into(), plan::expand(u, vars)?, "--".into()], argv].concat(),
            ),
            None => ExecRequest::new(argv),
        }
    };
    let out = tb.exec(&req.timeout(timeout)).map_err(|e| format!("step `{}`: {e}", step.name))?;
    let mut text = out.stdout.clone();
    text.extend_from_slice(&out.stderr);
    let _ = crate::fsx::write(log, &text);
    if !out.success() {
        return Err(format!(
            "step `{}` exited with status {}: {}",
            step.name,
            out.status,
            crate::process::tail(&text, 10)
        ));
    }
    if let Some(m) = step.write.as_ref().and_then(|w| w.mode.as_ref()) {
        exec_ok(
            tb,
            ExecRequest::new([
                "chmod",
                m.as_str(),
                &plan::expand(&step.write.as_ref().expect("write").path, vars)?,
            ]),
        )?;
    }
    Ok(Ran::Done)
}

/// A step in words, as the reports list the test case: `NAME: run ARGV`, `NAME: sh SCRIPT`,
/// `NAME: write PATH`, `NAME: daemon ARGV (ready on port N)`, `NAME: upgrade to this side`.
pub fn words(step: &Step) -> String {
    let quote =
        |argv: &[String]| argv.iter().map(|a| crate::process::shell_quote(a)).collect::<Vec<_>>().join(" ");
    let what = if let Some(sh) = &step.sh {
        format!("sh {}", sh.trim().replace('\n', "; "))
    } else if let Some(w) = &step.write {
        format!("write {} ({} bytes)", w.path, w.content.len())
    } else if let Some(d) = &step.daemon {
        let ready = match (d.ready_port, &d.ready_file) {
            (Some(p), _) => format!(" (ready on port {p})"),
            (None, Some(f)) => format!(" (ready when {f} exists)"),
            (None, None) => String::new(),
        };
        format!("daemon {}{ready}", quote(&d.argv))
    } else if step.upgrade.is_some() {
        "upgrade the before side's packages to this side's".to_string()
    } else {
        format!("run {}", quote(&step.run))
    };
    let user = step.user.as_ref().map(|u| format!(" as {u}")).unwrap_or_default();
    format!("{}: {what}{user}", step.name)
}

/// A `daemon` step: spawned, moved into its own memory cgroup, then waited for.
fn start_daemon(
    tb: &mut dyn Testbed,
    step: &str,
    d: &DaemonStep,
    vars: &BTreeMap<String, String>,
    log: &Path,
) -> Fallible<MemCgroup> {
    let argv = d.argv.iter().map(|a| plan::expand(a, vars)).collect::<Result<Vec<_>, _>>()?;
    let name: String = d.cgroup.clone().unwrap_or_else(|| {
        step.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect()
    });
    let cgroup = tb.memory_cgroup(&name).map_err(|e| format!("step `{step}`: memory cgroup: {e}"))?;
    let pid = tb
        .spawn(&ExecRequest::new(argv.clone()).log(log))
        .map_err(|e| format!("step `{step}`: could not start `{}`: {e}", argv.join(" ")))?;
    cgroup.add_pid(pid).map_err(|e| format!("step `{step}`: move the daemon into its cgroup: {e}"))?;
    let timeout = d.timeout.as_deref().map(plan::duration).transpose()?.unwrap_or(READY_TIMEOUT);
    let ready_file = d.ready_file.as_ref().map(|f| plan::expand(f, vars)).transpose()?;
    let what = match (d.ready_port, &ready_file) {
        (Some(p), _) => format!("answer on 127.0.0.1:{p}"),
        (None, Some(f)) => format!("create {f}"),
        (None, None) => return Ok(cgroup),
    };
    let deadline = Instant::now() + timeout;
    loop {
        let ready = match (d.ready_port, &ready_file) {
            (Some(p), _) => tb.connect_tcp(SocketAddr::from(([127, 0, 0, 1], p))).is_ok(),
            (None, Some(f)) => {
                tb.exec(&ExecRequest::new(["test", "-e", f.as_str()])).is_ok_and(|o| o.success())
            }
            (None, None) => true,
        };
        if ready {
            return Ok(cgroup);
        }
        if Instant::now() >= deadline {
            let tail = crate::process::tail(&std::fs::read(log).unwrap_or_default(), 10);
            return Err(format!(
                "step `{step}`: `{}` did not {what} within {}s; its log:\n{tail}",
                argv.join(" "),
                timeout.as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The legacy `[daemon]`: started before the steps, alone in its memory cgroup, waited for
/// on its port.
pub fn start_legacy_daemon(tb: &mut dyn Testbed, d: &Daemon, log_dir: &Path) -> Fallible<MemCgroup> {
    let cgroup = tb.memory_cgroup(&d.cgroup).map_err(|e| format!("memory cgroup: {e}"))?;
    let log = log_dir.join("daemon.log");
    let pid = tb
        .spawn(&ExecRequest::new(d.argv.clone()).log(&log))
        .map_err(|e| format!("could not start `{}`: {e}", d.argv.join(" ")))?;
    cgroup.add_pid(pid).map_err(|e| format!("move the daemon into its cgroup: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], d.ready_port));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if tb.connect_tcp(addr).is_ok() {
            return Ok(cgroup);
        }
        if Instant::now() >= deadline {
            let tail = crate::process::tail(&std::fs::read(&log).unwrap_or_default(), 10);
            return Err(format!(
                "`{}` did not answer on {addr} within {}s; its log:\n{tail}",
                d.argv.join(" "),
                READY_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// In a testbed whose pid 1 is systemd, the services the packages under test ship run as on
/// a real system: the install's policy-rc.d (which keeps maintainer scripts from starting
/// services where no init runs) goes, and each enabled unit of those packages is restarted,
/// as their postinst's deb-systemd-invoke would have done.
pub fn let_services_run(tb: &mut dyn Testbed, packages: &[Package]) -> Fallible<()> {
    exec_ok(tb, ExecRequest::new(["rm", "-f", "/usr/sbin/policy-rc.d"]))?;
    let names: Vec<&str> = packages.iter().filter(|p| p.deb.is_some()).map(|p| p.name.as_str()).collect();
    if names.is_empty() {
        return Ok(());
    }
    let script = r#"systemctl daemon-reload
for p in "$@"; do
  for u in $(dpkg -L "$p" | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.(service|socket)$' | xargs -r -n1 basename); do
    if systemctl is-enabled --quiet "$u"; then systemctl restart "$u" || echo "restart $u failed" >&2; fi
  done
done"#;
    let mut argv = vec!["sh".to_string(), "-e".into(), "-c".into(), script.into(), "sh".into()];
    argv.extend(names.iter().map(|n| n.to_string()));
    exec_ok(tb, ExecRequest::new(argv).timeout(Duration::from_secs(120)))?;
    Ok(())
}
