//! Booted testbeds (`Backend::Nspawn { boot: true }` on testbeds/bookworm-systemd.toml):
//! systemd boots as the container's pid 1 and answers `systemctl is-system-running`; real
//! units start, stop and restart; two boot at once, each in its own cgroup; a close powers
//! the container off (its units' ExecStop run) and leaves no process, mount, cgroup, run dir,
//! scratch dir or systemd-nspawn propagate dir; a srukit killed while it boots, runs or
//! closes leaves nothing after `srukit testbed gc`. Needs root; builds (once, cached) the
//! bookworm-systemd image.

mod testbed_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use srukit::reporter::Quiet;
use srukit::testbed::{self, Backend, ExecRequest, Image, OpenOptions, Testbed};
use testbed_common::{alive, all_pids, gc, host_paths, kill_after, leftovers_of, processes_with};

fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        testbed::ensure_image("bookworm-systemd", &Quiet).expect("bookworm-systemd image builds")
    })
}

fn boot() -> Box<dyn Testbed> {
    let opts = OpenOptions { backend: Backend::Nspawn { boot: true }, ..Default::default() };
    testbed::open(image(), &opts).expect("booted testbed opens")
}

fn sh(tb: &mut Box<dyn Testbed>, script: &str) -> String {
    let out = tb.exec(&ExecRequest::shell(script).timeout(Duration::from_secs(60))).unwrap();
    assert!(out.success(), "`{script}` failed ({}): {}{}", out.status, out.stdout_str(), out.stderr_str());
    out.stdout_str()
}

/// `systemctl is-active UNIT` (which exits non-zero for anything but active).
fn active(tb: &mut Box<dyn Testbed>, unit: &str) -> String {
    let out = tb.exec(&ExecRequest::new(["systemctl", "is-active", unit])).unwrap();
    out.stdout_str().trim().to_string()
}

fn main_pid(tb: &mut Box<dyn Testbed>, unit: &str) -> u32 {
    sh(tb, &format!("systemctl show -p MainPID --value {unit}")).trim().parse().unwrap()
}

/// A unit of the test's own: a long sleep that records its stop in the data dir, so a test
/// can see that systemd stopped it (ExecStop ran), not that something killed it.
const PROBE_UNIT: &str = "[Unit]\nDescription=srukit boot test probe\n\n[Service]\n\
ExecStart=/bin/sleep infinity\nExecStop=/bin/sh -c 'echo stopped >> /srv/data/probe-stops'\n\n\
[Install]\nWantedBy=multi-user.target\n";

fn install_probe(tb: &mut Box<dyn Testbed>) {
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("srukit-probe.service");
    std::fs::write(&unit, PROBE_UNIT).unwrap();
    tb.copy_in(&unit, Path::new("/etc/systemd/system/srukit-probe.service")).unwrap();
    sh(tb, "systemctl daemon-reload");
}

/// Everything a booted testbed has on the host while it runs.
struct Footprint {
    id: String,
    pids: Vec<u32>,
    paths: Vec<PathBuf>,
}

fn footprint(tb: &dyn Testbed) -> Footprint {
    let id = tb.id().to_string();
    let paths = host_paths(tb);
    // Every process of the container (its pid namespace) and systemd-nspawn (the parent of
    // its pid 1), as the host sees them.
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", tb.init_pid().unwrap())).unwrap();
    let mut pids: Vec<u32> = all_pids()
        .into_iter()
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|l| l == ns))
        .collect();
    pids.push(ppid(tb.init_pid().unwrap()));
    Footprint { id, pids, paths }
}

fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn assert_gone(f: &Footprint) {
    for p in &f.pids {
        assert!(!alive(*p), "process {p} of testbed {} survived close", f.id);
    }
    for p in &f.paths {
        assert!(!p.exists(), "{} survived close", p.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&f.id), "a mount of {} is left", f.id);
}

#[test]
fn boots_to_running_and_is_a_testbed_like_the_others() {
    let mut tb = boot();
    let status = tb.boot_status().expect("a booted testbed says how it came up").clone();
    assert!(["running", "degraded"].contains(&status.state.as_str()), "{status:?}");
    assert_eq!(status.state == "running", status.failed_units.is_empty(), "{status:?}");
    assert!(status.seconds > 0.0 && status.seconds < 60.0, "{status:?}");
    // The testbed is handed over booted: systemd is pid 1 and already settled.
    assert_eq!(sh(&mut tb, "systemctl is-system-running || true").trim(), status.state);
    assert_eq!(sh(&mut tb, "cat /proc/1/comm"), "systemd\n");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", tb.init_pid().unwrap())).unwrap(),
        "systemd\n"
    );
    // Named after the testbed, not after the host that built the image.
    assert_eq!(sh(&mut tb, "hostname"), format!("srukit-{}\n", tb.id()));
    assert_eq!(sh(&mut tb, ". /etc/os-release; echo $VERSION_CODENAME"), "bookworm\n");
    // The container's cgroup is the testbed's own: nspawn made payload/ and supervisor/ in it.
    for h in ["systemd", "unified"] {
        let own = Path::new("/sys/fs/cgroup").join(h).join("srukit").join(tb.id());
        assert!(own.join("payload").is_dir() && own.join("supervisor").is_dir(), "{}", own.display());
        let procs = std::fs::read_to_string(own.join("payload/init.scope/cgroup.procs")).unwrap();
        assert_eq!(
            procs.trim(),
            tb.init_pid().unwrap().to_string(),
            "{h}: pid 1 is not in the testbed's cgroup"
        );
    }
    // Files both ways and the data dir.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in"), "to the container").unwrap();
    tb.copy_in(&dir.path().join("in"), Path::new("/root/in")).unwrap();
    sh(&mut tb, "cat /root/in > /root/out; echo data > /srv/data/d");
    tb.copy_out(Path::new("/root/out"), &dir.path().join("out")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("out")).unwrap(), "to the container");
    assert_eq!(std::fs::read_to_string(tb.data_dir().unwrap().join("d")).unwrap(), "data\n");
    // A spawned process and a memory cgroup, as verify uses them for a daemon.
    let pid = tb.spawn(&ExecRequest::new(["sleep", "300"])).unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(), "sleep\n");
    let cg = tb.memory_cgroup("daemon").unwrap();
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids(), vec![pid]);
    assert!(cg.stat().unwrap().contains_key("cache"));
    let f = footprint(tb.as_ref());
    assert!(f.pids.contains(&pid));
    tb.close().expect("a clean power-off");
    assert_gone(&f);
}

#[test]
fn real_units_start_stop_restart_and_enable() {
    let mut tb = boot();
    // dbus.service: a real Debian unit, running since boot.
    assert_eq!(active(&mut tb, "dbus.service"), "active");
    let before = main_pid(&mut tb, "dbus.service");
    sh(&mut tb, "systemctl restart dbus.service");
    assert_eq!(active(&mut tb, "dbus.service"), "active");
    assert_ne!(main_pid(&mut tb, "dbus.service"), before, "restart did not replace dbus-daemon");
    // A unit of our own through its whole life.
    install_probe(&mut tb);
    assert_eq!(active(&mut tb, "srukit-probe.service"), "inactive");
    sh(&mut tb, "systemctl start srukit-probe.service");
    assert_eq!(active(&mut tb, "srukit-probe.service"), "active");
    let first = main_pid(&mut tb, "srukit-probe.service");
    // The host sees the unit's process (verify reads daemons' /proc from the host).
    let host = tb.host_pid(first).unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{host}/comm")).unwrap(), "sleep\n");
    sh(&mut tb, "systemctl restart srukit-probe.service");
    let second = main_pid(&mut tb, "srukit-probe.service");
    assert_ne!(second, first);
    assert!(!alive(host), "the first sleep survived the restart");
    sh(&mut tb, "systemctl stop srukit-probe.service");
    assert_eq!(active(&mut tb, "srukit-probe.service"), "inactive");
    // ExecStop ran at the restart and at the stop.
    assert_eq!(
        std::fs::read_to_string(tb.data_dir().unwrap().join("probe-stops")).unwrap(),
        "stopped\nstopped\n"
    );
    sh(&mut tb, "systemctl enable srukit-probe.service 2>/dev/null");
    assert_eq!(sh(&mut tb, "systemctl is-enabled srukit-probe.service"), "enabled\n");
    // A unit that fails is seen as failed, and the system as degraded.
    sh(&mut tb, "systemd-run --unit=srukit-fails -p Type=oneshot /bin/false || true");
    assert_eq!(active(&mut tb, "srukit-fails.service"), "failed");
    assert_eq!(sh(&mut tb, "systemctl is-system-running || true"), "degraded\n");
    let f = footprint(tb.as_ref());
    tb.close().unwrap();
    assert_gone(&f);
}

#[test]
fn close_powers_the_container_off() {
    let mut tb = boot();
    install_probe(&mut tb);
    sh(&mut tb, "systemctl start srukit-probe.service");
    // The probe's ExecStop writes to the data dir while systemd powers off; teardown removes
    // that dir right after. Watch for the line from the host while close runs.
    let stops = tb.data_dir().unwrap().join("probe-stops");
    let scratch = tb.data_dir().unwrap().parent().unwrap().to_path_buf();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while scratch.exists() && Instant::now() < deadline {
            if std::fs::read_to_string(&stops).is_ok_and(|t| t == "stopped\n") {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        false
    });
    std::thread::sleep(Duration::from_millis(50));
    let f = footprint(tb.as_ref());
    tb.close().expect("SIGRTMIN+4 powers it off: no fallback kill");
    assert!(watcher.join().unwrap(), "the unit was not stopped by systemd: the container was killed");
    assert_gone(&f);
}

#[test]
fn a_container_that_will_not_power_off_is_killed_and_the_close_says_so() {
    let mut tb = boot();
    // A unit whose stop never ends: systemd waits for it forever, so the power-off hangs.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("srukit-stuck.service");
    std::fs::write(
        &unit,
        "[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/sleep infinity\nTimeoutStopSec=infinity\n",
    )
    .unwrap();
    tb.copy_in(&unit, Path::new("/etc/systemd/system/srukit-stuck.service")).unwrap();
    sh(&mut tb, "systemctl daemon-reload && systemctl start srukit-stuck.service");
    let f = footprint(tb.as_ref());
    let started = Instant::now();
    let err = tb.close().expect_err("a power-off that hangs is not a clean stop");
    assert!(matches!(err, testbed::TestbedError::UncleanStop { .. }), "{err}");
    assert!(err.to_string().contains("did not power off within 30s of SIGRTMIN+4"), "{err}");
    // Bounded: the power-off's 30 s, then the kill.
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    assert_gone(&f);
}

#[test]
fn two_booted_testbeds_at_once() {
    let mut a = boot();
    let mut b = boot();
    assert_ne!(a.init_pid().unwrap(), b.init_pid().unwrap());
    assert_ne!(sh(&mut a, "hostname"), sh(&mut b, "hostname"));
    install_probe(&mut a);
    sh(&mut a, "systemctl start srukit-probe.service");
    assert_eq!(active(&mut a, "srukit-probe.service"), "active");
    // b has no such unit and sees none of a's processes.
    assert_eq!(active(&mut b, "srukit-probe.service"), "inactive");
    assert_eq!(sh(&mut b, "pgrep -c -x sleep || true"), "0\n");
    for h in ["systemd", "unified"] {
        let cg = |tb: &dyn Testbed| Path::new("/sys/fs/cgroup").join(h).join("srukit").join(tb.id());
        let procs = std::fs::read_to_string(cg(a.as_ref()).join("payload/init.scope/cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), a.init_pid().unwrap().to_string());
        let procs = std::fs::read_to_string(cg(b.as_ref()).join("payload/init.scope/cgroup.procs")).unwrap();
        assert_eq!(procs.trim(), b.init_pid().unwrap().to_string());
    }
    let (fa, fb) = (footprint(a.as_ref()), footprint(b.as_ref()));
    // Closing one leaves the other running.
    a.close().unwrap();
    assert_gone(&fa);
    assert!(["running", "degraded"].contains(&sh(&mut b, "systemctl is-system-running || true").trim()));
    assert_eq!(sh(&mut b, "echo still"), "still\n");
    b.close().unwrap();
    assert_gone(&fb);
}

#[test]
fn drop_powers_off_too() {
    let tb = boot();
    let f = footprint(tb.as_ref());
    drop(tb);
    assert_gone(&f);
}

#[test]
fn killed_srukit_leaves_nothing_after_gc() {
    let bin = env!("CARGO_BIN_EXE_srukit");
    image();
    // While it boots (systemd up in ~0.5 s on an idle host), runs its command, and closes
    // (every third command ends at once).
    let delays_ms = [0u64, 5, 20, 60, 150, 300, 500, 800, 1200, 2000];
    let mut killed = Vec::new();
    for (i, ms) in delays_ms.iter().enumerate() {
        let marker = format!("srukit-boot-kill-marker-{i}");
        let pause = if i % 3 == 2 { "0" } else { "30" };
        // Every other one with its own network and a slirp4netns uplink (a host process to reap).
        let mut args = vec!["testbed", "exec", "bookworm-systemd", "--backend", "nspawn", "--boot"];
        if i % 2 == 1 {
            args.push("--uplink");
        }
        let mut cmd = Command::new(bin);
        cmd.args(args).args(["--", "sh", "-c"]).arg(format!("sleep {pause} # {marker}"));
        killed.push((kill_after(cmd, Duration::from_millis(*ms)), marker));
    }
    gc(bin);
    for (pid, marker) in &killed {
        assert_eq!(leftovers_of(*pid), Vec::<String>::new(), "srukit {pid} left these");
        assert_eq!(processes_with(marker), Vec::<u32>::new(), "processes of {marker} survived");
        assert_eq!(
            processes_with(&format!("--machine=srukit-{pid}-")),
            Vec::<u32>::new(),
            "a systemd-nspawn of srukit {pid} survived"
        );
    }
    // A slirp4netns whose testbed is gone (its argv names the testbed's pid 1).
    let orphaned_uplinks: Vec<u32> = processes_with("slirp4netns")
        .into_iter()
        .filter(|p| {
            let argv =
                String::from_utf8_lossy(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default())
                    .split('\0')
                    .filter_map(|a| a.parse::<u32>().ok())
                    .collect::<Vec<u32>>();
            argv.iter().all(|target| !alive(*target))
        })
        .collect();
    assert_eq!(orphaned_uplinks, Vec::<u32>::new(), "slirp4netns of gone testbeds survived gc");
}
