//! One (side, phase) of a plan in its own fresh testbed: install the packages under test and
//! confirm them, apply the phase's edits, start the legacy `[daemon]` alone in a memory
//! cgroup, run the steps, and observe every check at each observation point (after each
//! `check = true` step and after the last). Writes the daemon's and the steps' logs into the
//! run's log dir. The steps: `steps`; the edits: `edits`; the observations: `observe`.

mod edits;
mod install;
mod observe;
mod steps;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::testbed::{ExecRequest, Image, OpenOptions, Testbed};
use crate::verify::packages::Package;
use crate::verify::plan::{Need, Phase, Plan};
use crate::verify::result::{InstalledPackage, Run, Side};
#[cfg(test)]
pub(crate) use edits::set_line;
pub(crate) use install::{confirm_installed, install, upgrade};
use observe::{Point, merge, observe_point};

/// How long a step may take by default before the run is an error.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

pub struct RunSpec<'a> {
    pub plan: &'a Plan,
    pub side: Side,
    pub phase: &'a Phase,
    pub packages: &'a [Package],
    /// The before side's packages, which a plan with an `upgrade` step starts every run on.
    pub start_from: Option<&'a [Package]>,
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
        config_edits: spec.phase.edits.iter().map(|e| e.to_result()).collect(),
        steps: spec.plan.raw.steps.iter().map(steps::words).collect(),
        testbed: crate::verify::result::Testbed {
            image: spec.image.name.clone(),
            image_sha256: spec.image.hash.clone(),
            backend: backend_name(spec),
            virt_server: None,
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
            run.testbed.backend = tb.backend_name();
            run.testbed.virt_server = tb
                .virt_info()
                .map(|v| crate::verify::result::VirtServer { argv: v.argv, capabilities: v.capabilities });
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

/// What runs the testbed, known before it opens (the testbed itself says it once open).
fn backend_name(spec: &RunSpec) -> String {
    if let Some(v) = &spec.image.virt {
        return format!("virt:{}", v.argv[0].rsplit('/').next().unwrap_or(&v.argv[0]));
    }
    match spec.open.backend {
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
    let plan = spec.plan;
    let with_init = plan.needs(Need::Init);
    if with_init {
        // systemd must have finished booting before anything is installed or observed;
        // `degraded` (a unit of the image failed) still boots, so only the wait matters.
        let _ = tb.exec(
            &ExecRequest::new(["systemctl", "is-system-running", "--wait"]).timeout(Duration::from_secs(90)),
        );
    }
    // An upgrade plan starts on the before side's packages; its `upgrade` step installs the
    // run's own side over them.
    let first = spec.start_from.unwrap_or(spec.packages);
    install(tb, first)?;
    *installed = confirm_installed(tb, first)?;
    if with_init {
        steps::let_services_run(tb, first)?;
    }
    let vars = variables(tb, spec)?;
    // The edits as applied, variables expanded, are what the result records.
    let applied = spec.phase.edits.iter().map(|e| e.expand(&vars)).collect::<Result<Vec<_>, _>>()?;
    run.config_edits = applied.iter().map(|e| e.to_result()).collect();
    for edit in &applied {
        edits::apply(tb, edit)?;
    }
    // Where each watched log stands now: its checks see only what the steps add.
    let mut log_start = BTreeMap::new();
    for c in &plan.checks {
        if let crate::verify::plan::CheckSpec::Log(l) = &c.spec {
            let path = crate::verify::plan::expand(&l.file, &vars)?;
            let size = crate::verify::families::log_size(tb, &path)?;
            log_start.insert(path, size);
        }
    }
    let cgroup = match &plan.raw.daemon {
        Some(d) => Some(steps::start_legacy_daemon(tb, d, &spec.log_dir)?),
        None => None,
    };
    let setup =
        crate::verify::families::Setup { plan, log_start: &log_start, daemon_cgroup: cgroup.as_ref() };
    let families: Vec<_> = plan.checks.iter().map(|c| crate::verify::families::build(c, &setup)).collect();
    let steps = &plan.raw.steps;
    // Observation points: after every step marked `check`, and after the last one.
    let mut points: Vec<Point> = Vec::new();
    let mut daemons = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let log = spec.log_dir.join(format!("step-{}.log", i + 1));
        let ran = steps::run_step(tb, spec, step, &vars, &log, &mut daemons)?;
        if ran == steps::Ran::Upgraded {
            *installed = confirm_installed(tb, spec.packages)?;
            if with_init {
                steps::let_services_run(tb, spec.packages)?;
            }
        }
        if step.check || i + 1 == steps.len() {
            points.push(observe_point(tb, spec, &step.name, &vars, installed, &families));
        }
    }
    if steps.is_empty() {
        points.push(observe_point(tb, spec, "start", &vars, installed, &families));
    }
    for (i, check) in plan.checks.iter().enumerate() {
        let expected = plan.expected(spec.side, &spec.phase.name, &check.id);
        run.checks.push(merge(i, check, expected, &points));
    }
    Ok(())
}

/// Writes `content` to `path` inside the testbed, creating its directory.
pub(crate) fn write_file(path: &str, content: String) -> ExecRequest {
    ExecRequest::new(["sh", "-c", "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"", "sh", path])
        .stdin(content)
}

/// `${volume_id}`, `${iqn}`, `${lun}` (a fresh sparse LUN file on real disk, made when the
/// plan has an iscsi check or a `[lun]`), `${data}`, `${side}`, `${phase}`, and the phase's
/// own variables.
fn variables(tb: &mut dyn Testbed, spec: &RunSpec) -> Fallible<BTreeMap<String, String>> {
    let volume_id = uuid_v4().map_err(|e| format!("random volume id: {e}"))?;
    let lun_name = format!("lun-{volume_id}.img");
    if spec.plan.has_iscsi() || spec.plan.raw.lun_given {
        let host_lun = tb.data_dir().map_err(|e| e.to_string())?.join(&lun_name);
        let f =
            std::fs::File::create(&host_lun).map_err(|e| format!("create {}: {e}", host_lun.display()))?;
        f.set_len(spec.plan.raw.lun.size_mib << 20)
            .map_err(|e| format!("size {}: {e}", host_lun.display()))?;
    }
    let data = crate::testbed::INSIDE_DATA_DIR.to_string();
    let mut vars = BTreeMap::from([
        ("iqn".to_string(), format!("iqn.2010-10.org.openstack:volume-{volume_id}")),
        ("lun".to_string(), format!("{data}/{lun_name}")),
        ("volume_id".to_string(), volume_id),
        ("data".to_string(), data),
        ("side".to_string(), spec.side.to_string()),
        ("phase".to_string(), spec.phase.name.clone()),
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
