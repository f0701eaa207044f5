//! One (side, phase) of a plan in its own fresh testbed: install the packages under test and
//! confirm them, change the configuration, start the target daemon alone in a memory
//! cgroup, exercise the package as cinder-volume would, then run the checks. Writes the
//! daemon's and the steps' logs into the run's log dir. The checks themselves, at each
//! observation point: `observe`.

mod install;
mod observe;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::testbed::{ExecRequest, Image, MemCgroup, OpenOptions, Testbed};
use crate::verify::packages::Package;
use crate::verify::plan::{self, Phase, Plan};
use crate::verify::result::{CheckId, ConfigEdit, InstalledPackage, Run, Side};
pub(crate) use install::{confirm_installed, install};
use observe::{Point, merge, observe_point};

/// How long a step or the daemon's start may take before the run is an error.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub struct RunSpec<'a> {
    pub plan: &'a Plan,
    pub side: Side,
    pub phase: &'a Phase,
    pub packages: &'a [Package],
    pub image: &'a Image,
    pub open: OpenOptions,
    pub log_dir: PathBuf,
}

/// What a run found out besides its checks: the packages dpkg says are installed.
pub struct RunOutput {
    pub run: Run,
    pub installed: Vec<InstalledPackage>,
}

pub(crate) type Fallible<T> = Result<T, String>;

pub fn run(spec: &RunSpec) -> RunOutput {
    let started = Instant::now();
    let mut run = Run {
        side: spec.side,
        phase: spec.phase.name.clone(),
        config_edits: spec
            .phase
            .edits
            .iter()
            .map(|e| ConfigEdit {
                file: e.file.clone(),
                section: e.section.clone(),
                key: e.key.clone(),
                value: e.value.clone(),
            })
            .collect(),
        testbed: crate::verify::result::Testbed {
            image: spec.image.name.clone(),
            image_sha256: spec.image.hash.clone(),
            backend: backend_name(&spec.open),
        },
        checks: Vec::new(),
        seconds: 0.0,
        error: None,
    };
    let mut installed = Vec::new();
    let _ = crate::fsx::create_dir_all(&spec.log_dir);
    match crate::testbed::open(spec.image, &spec.open) {
        Err(e) => run.error = Some(format!("could not open a testbed: {e}")),
        Ok(mut tb) => {
            if let Err(e) = exercise(tb.as_mut(), spec, &mut run, &mut installed) {
                run.error = Some(e);
            }
            if let Err(e) = tb.close() {
                run.error.get_or_insert(format!("testbed teardown: {e}"));
            }
        }
    }
    run.seconds = started.elapsed().as_secs_f64();
    RunOutput { run, installed }
}

fn backend_name(open: &OpenOptions) -> String {
    match open.backend {
        crate::testbed::Backend::Unshare => "unshare".into(),
        crate::testbed::Backend::Nspawn { boot: false } => "nspawn".into(),
        crate::testbed::Backend::Nspawn { boot: true } => "nspawn-boot".into(),
    }
}

fn exercise(
    tb: &mut dyn Testbed,
    spec: &RunSpec,
    run: &mut Run,
    installed: &mut Vec<InstalledPackage>,
) -> Fallible<()> {
    install(tb, spec.packages)?;
    *installed = confirm_installed(tb, spec.packages)?;
    for edit in &spec.phase.edits {
        edit_config(tb, edit)?;
    }

    let vars = variables(tb, spec)?;
    let cgroup = start_daemon(tb, spec)?;
    let steps = &spec.plan.raw.steps;
    // Observation points: after every step marked `check`, and after the last one.
    let mut points: Vec<Point> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        run_step(tb, step, &vars, &spec.log_dir.join(format!("step-{}.log", i + 1)))?;
        if step.check || i + 1 == steps.len() {
            points.push(observe_point(tb, spec, &step.name, &vars, &cgroup)?);
        }
    }
    if steps.is_empty() {
        points.push(observe_point(tb, spec, "start", &vars, &cgroup)?);
    }
    for &check in &spec.plan.checks {
        let expected = spec.plan.expected(spec.side, &spec.phase.name, check).unwrap_or_default().to_string();
        run.checks.push(merge(check, &expected, &points));
    }
    Ok(())
}

pub fn title(check: CheckId) -> &'static str {
    match check {
        CheckId::TargetFile => "write-cache line in the tgt target file",
        CheckId::Wce => "WCE bit of the caching mode page, read over iSCSI",
        CheckId::ODirect => "O_DIRECT on tgtd's backing-store file descriptor",
        CheckId::DataAtRisk => "dirty page cache in tgtd's memory cgroup after a write through iSCSI",
    }
}

pub(crate) fn describe(check: CheckId, expected: &str) -> String {
    match check {
        CheckId::TargetFile if expected == "absent" => "no write-cache line".into(),
        CheckId::TargetFile => format!("write-cache {expected}"),
        CheckId::Wce => format!("WCE={}", if expected == "on" { 1 } else { 0 }),
        CheckId::ODirect => format!("O_DIRECT {expected}"),
        CheckId::DataAtRisk => expected.to_string(),
    }
}

fn edit_config(tb: &mut dyn Testbed, edit: &crate::verify::plan::ConfigEdit) -> Fallible<()> {
    let current = tb.exec(&ExecRequest::new(["cat", &edit.file])).map_err(|e| e.to_string())?;
    let text = if current.success() { current.stdout_str() } else { String::new() };
    let new = crate::verify::ini_edit::set(&text, &edit.section, &edit.key, &edit.value);
    exec_ok(tb, write_file(&edit.file, new))?;
    Ok(())
}

/// Writes `content` to `path` inside the testbed, creating its directory.
fn write_file(path: &str, content: String) -> ExecRequest {
    ExecRequest::new(["sh", "-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh", path])
        .stdin(content)
}

/// `${volume_id}`, `${iqn}`, `${lun}` (a fresh sparse LUN file on real disk), `${data}`,
/// and the phase's own variables.
fn variables(tb: &mut dyn Testbed, spec: &RunSpec) -> Fallible<BTreeMap<String, String>> {
    let volume_id = uuid_v4().map_err(|e| format!("random volume id: {e}"))?;
    let lun_name = format!("lun-{volume_id}.img");
    let host_lun = tb.data_dir().join(&lun_name);
    let f = std::fs::File::create(&host_lun).map_err(|e| format!("create {}: {e}", host_lun.display()))?;
    f.set_len(spec.plan.raw.lun.size_mib << 20).map_err(|e| format!("size {}: {e}", host_lun.display()))?;
    let data = crate::testbed::INSIDE_DATA_DIR.to_string();
    let mut vars = BTreeMap::from([
        ("iqn".to_string(), format!("iqn.2010-10.org.openstack:volume-{volume_id}")),
        ("lun".to_string(), format!("{data}/{lun_name}")),
        ("volume_id".to_string(), volume_id),
        ("data".to_string(), data),
    ]);
    vars.extend(spec.phase.vars.clone());
    Ok(vars)
}

fn uuid_v4() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::digest::hex(&b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

/// Starts the daemon in its own memory cgroup and waits until its port answers.
fn start_daemon(tb: &mut dyn Testbed, spec: &RunSpec) -> Fallible<MemCgroup> {
    let d = &spec.plan.raw.daemon;
    let cgroup = tb.memory_cgroup(&d.cgroup).map_err(|e| format!("memory cgroup: {e}"))?;
    let log = spec.log_dir.join("daemon.log");
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

fn run_step(
    tb: &mut dyn Testbed,
    step: &crate::verify::plan::Step,
    vars: &BTreeMap<String, String>,
    log: &Path,
) -> Fallible<()> {
    let req = if let Some(w) = &step.write {
        write_file(&plan::expand(&w.path, vars)?, plan::expand(&w.content, vars)?)
    } else {
        let argv = step.run.iter().map(|a| plan::expand(a, vars)).collect::<Result<Vec<_>, _>>()?;
        ExecRequest::new(argv)
    };
    let out = tb.exec(&req.timeout(STEP_TIMEOUT)).map_err(|e| format!("step `{}`: {e}", step.name))?;
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
    Ok(())
}

/// The daemon's command name, as `pidof` knows it.
pub(crate) fn daemon_name<'a>(spec: &'a RunSpec) -> &'a str {
    let argv0 = spec.plan.raw.daemon.argv.first().map(String::as_str).unwrap_or_default();
    argv0.rsplit('/').next().unwrap_or(argv0)
}

pub(crate) fn exec_ok(tb: &mut dyn Testbed, req: ExecRequest) -> Fallible<String> {
    let cmd = req.argv.join(" ");
    let out = tb.exec(&req).map_err(|e| format!("`{cmd}`: {e}"))?;
    if !out.success() {
        return Err(format!(
            "`{cmd}` exited with status {}: {}",
            out.status,
            crate::process::tail(&[out.stdout, out.stderr].concat(), 10)
        ));
    }
    Ok(out.stdout_str())
}
