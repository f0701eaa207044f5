//! One conformance suite run against every testbed backend (unshare, nspawn, nspawn booted
//! with systemd as pid 1): exec, spawn,
//! copy in/out, the data dir, connect_tcp into the testbed's network, memory cgroups,
//! isolation between testbeds and from the image, and teardown leaving nothing behind
//! (systemd-nspawn's propagate dir included; `gc` sweeps orphaned ones, never a live one).
//! Needs root; builds (once, cached) the bookworm-tgt image, and bookworm-systemd for the
//! booted backend.

mod testbed_common;

use testbed_common::conformance::{self, Subject};

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use srukit::reporter::Quiet;
use srukit::testbed::{self, Backend, ExecRequest, Image, OpenOptions, Testbed};
use testbed_common::{alive, host_paths};

fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| testbed::ensure_image("bookworm-tgt", &Quiet).expect("bookworm-tgt image builds"))
}

/// A booted testbed needs systemd in its image.
fn systemd_image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        testbed::ensure_image("bookworm-systemd", &Quiet).expect("bookworm-systemd image builds")
    })
}

fn image_for(backend: Backend) -> &'static Image {
    if backend == (Backend::Nspawn { boot: true }) { systemd_image() } else { image() }
}

/// A program each image has from its own packages (not the host's): tgt's admin tool, or
/// python3 in the booted image.
fn probe_program(backend: Backend) -> &'static str {
    if backend == (Backend::Nspawn { boot: true }) { "/usr/bin/python3" } else { "/usr/sbin/tgtadm" }
}

fn open(backend: Backend) -> Box<dyn Testbed> {
    testbed::open(image_for(backend), &OpenOptions { backend, ..Default::default() }).expect("testbed opens")
}

fn sh(tb: &mut Box<dyn Testbed>, script: &str) -> String {
    let out = tb.exec(&ExecRequest::shell(script)).unwrap();
    assert!(out.success(), "`{script}` failed ({}): {}", out.status, out.stderr_str());
    out.stdout_str()
}

/// A python3 listener on 127.0.0.1:3260 inside the testbed that answers `word` to anyone.
fn listen(tb: &mut Box<dyn Testbed>, word: &str) -> u32 {
    conformance::listen(tb.as_mut(), word)
}

/// Runs `f` with the backend as a conformance `Subject`.
fn with_subject(backend: Backend, f: impl FnOnce(&Subject)) {
    let open = move || open(backend);
    f(&Subject { open: &open, probe: probe_program(backend), release: "bookworm" })
}

fn ask(tb: &dyn Testbed) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tb.connect_tcp("127.0.0.1:3260".parse().unwrap()) {
            Ok(mut s) => {
                let mut answer = String::new();
                s.read_to_string(&mut answer).unwrap();
                return answer;
            }
            Err(e) if Instant::now() > deadline => panic!("listener never answered: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Everything a testbed leaves on the host while it runs, to check it is gone after close.
struct Footprint {
    id: String,
    init: u32,
    paths: Vec<PathBuf>,
}

fn footprint(tb: &dyn Testbed) -> Footprint {
    Footprint { id: tb.id().to_string(), init: tb.init_pid().expect("a host pid 1"), paths: host_paths(tb) }
}

fn assert_gone(f: &Footprint) {
    assert!(!alive(f.init), "pid 1 of {} survived", f.id);
    for p in &f.paths {
        assert!(!p.exists(), "{} survived close", p.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&f.id), "a mount of {} is left", f.id);
}

macro_rules! conformance {
    ($modname:ident, $backend:expr) => {
        mod $modname {
            use super::*;

            #[test]
            fn exec_status_output_env_cwd_stdin() {
                let mut tb = open($backend);
                with_subject($backend, |s| conformance::exec_status_output_env_cwd_stdin(tb.as_mut(), s));
                // The leak check below looks where systemd-nspawn really puts its dir.
                let propagate = testbed::nspawn::propagate_dir(tb.id());
                assert_eq!(
                    propagate.is_dir(),
                    matches!($backend, Backend::Nspawn { .. }),
                    "{}",
                    propagate.display()
                );
                let f = footprint(tb.as_ref());
                tb.close().unwrap();
                assert_gone(&f);
            }

            #[test]
            fn exec_timeout_kills_and_log_streams() {
                let mut tb = open($backend);
                conformance::exec_timeout_kills_and_log_streams(tb.as_mut());
                tb.close().unwrap();
            }

            #[test]
            fn copy_in_out_and_data_dir() {
                let mut tb = open($backend);
                conformance::copy_in_out(tb.as_mut());
                std::fs::write(tb.data_dir().unwrap().join("lun"), "disk").unwrap();
                assert_eq!(
                    sh(&mut tb, &format!("cat {}/lun; echo inside > {0}/back", testbed::INSIDE_DATA_DIR)),
                    "disk"
                );
                assert_eq!(std::fs::read_to_string(tb.data_dir().unwrap().join("back")).unwrap(), "inside\n");
                tb.close().unwrap();
            }

            #[test]
            fn writes_do_not_reach_the_image() {
                let mut tb = open($backend);
                let probe = probe_program($backend);
                let image = image_for($backend);
                sh(&mut tb, &format!("echo x > /etc/srukit-probe; rm {probe}; echo y > /tmp/t"));
                assert!(!image.lower.join("etc/srukit-probe").exists());
                assert!(image.lower.join(&probe[1..]).exists());
                tb.close().unwrap();
                with_subject($backend, conformance::writes_do_not_reach_a_fresh_testbed);
            }

            #[test]
            fn spawn_runs_in_the_background() {
                let mut tb = open($backend);
                let (_dir, log) = conformance::spawn_runs_in_the_background(tb.as_mut());
                tb.close().unwrap();
                conformance::spawned_log_holds_its_output(&log);
            }

            #[test]
            fn spawn_connect_host_pid_and_memory_cgroup() {
                let mut tb = open($backend);
                let pid = listen(&mut tb, "hello");
                assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "python3");
                assert!(tb.host_pids_named("python3").unwrap().contains(&pid));
                // The host can read the daemon's fd table, as verify does for tgtd.
                assert!(std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap().count() >= 3);
                let inner: u32 = sh(&mut tb, "pgrep -x python3").trim().parse().unwrap();
                assert_eq!(tb.host_pid(inner).unwrap(), pid);
                assert_eq!(ask(tb.as_ref()), "hello");
                let cg = tb.memory_cgroup("daemon").unwrap();
                cg.add_pid(pid).unwrap();
                assert_eq!(cg.pids(), vec![pid]);
                let stat = cg.stat().unwrap();
                assert!(stat.contains_key("dirty") && stat.contains_key("cache"), "{stat:?}");
                let cg_path = cg.path().to_path_buf();
                let f = footprint(tb.as_ref());
                tb.close().unwrap();
                assert!(!cg_path.exists());
                assert!(!alive(pid), "the daemon survived close");
                assert_gone(&f);
            }

            #[test]
            fn two_testbeds_do_not_see_each_other() {
                let mut a = open($backend);
                let mut b = open($backend);
                listen(&mut a, "from-a");
                listen(&mut b, "from-b");
                assert_eq!(ask(a.as_ref()), "from-a");
                assert_eq!(ask(b.as_ref()), "from-b");
                assert_ne!(sh(&mut a, "hostname"), sh(&mut b, "hostname"));
                // Each sees its own listener only, not the other's process.
                assert_eq!(sh(&mut a, "pgrep -c -x python3"), "1\n");
                assert_eq!(sh(&mut b, "pgrep -c -x python3"), "1\n");
                a.close().unwrap();
                b.close().unwrap();
            }

            #[test]
            fn drop_tears_down_too() {
                let tb = open($backend);
                let f = footprint(tb.as_ref());
                drop(tb);
                assert_gone(&f);
            }
        }
    };
}

conformance!(unshare, Backend::Unshare);
conformance!(nspawn, Backend::Nspawn { boot: false });
conformance!(nspawn_boot, Backend::Nspawn { boot: true });

#[test]
fn host_network_mode_shares_the_network_and_resolv_conf() {
    for backend in [Backend::Unshare, Backend::Nspawn { boot: false }, Backend::Nspawn { boot: true }] {
        let opts = OpenOptions { backend, host_network: true, ..Default::default() };
        let mut tb = testbed::open(image_for(backend), &opts).unwrap();
        let links = sh(&mut tb, "ip -br link | wc -l");
        assert!(links.trim().parse::<u32>().unwrap() > 1, "{backend:?}: only lo, not the host's network");
        assert_eq!(sh(&mut tb, "cat /etc/resolv.conf"), std::fs::read_to_string("/etc/resolv.conf").unwrap());
        tb.close().unwrap();
    }
}

/// Host processes whose argv holds `word` and `pid` (slirp4netns names its testbed's pid 1).
fn helpers_of(word: &str, pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let argv: Vec<String> =
                String::from_utf8_lossy(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default())
                    .split('\0')
                    .map(str::to_string)
                    .collect();
            alive(*p) && argv.iter().any(|a| a.ends_with(word)) && argv.contains(&pid.to_string())
        })
        .collect()
}

#[test]
fn uplink_mode_reaches_the_mirror_and_keeps_its_own_ports() {
    let mirror = testbed::definition::load("bookworm-tgt").unwrap().def.mirror();
    let fetch = format!(
        "import urllib.request\nprint(urllib.request.urlopen('{mirror}/dists/bookworm/InRelease', timeout=30).status)"
    );
    for backend in [Backend::Unshare, Backend::Nspawn { boot: false }, Backend::Nspawn { boot: true }] {
        let opts = OpenOptions { backend, uplink: true, ..Default::default() };
        let mut a = testbed::open(image_for(backend), &opts).unwrap();
        let mut b = testbed::open(image_for(backend), &opts).unwrap();
        // Its own interfaces (loopback and the uplink's tap), its own resolver.
        assert_eq!(sh(&mut a, "ls /sys/class/net | sort | tr '\\n' ' '"), "lo tap0 ", "{backend:?}");
        assert_eq!(sh(&mut a, "cat /etc/resolv.conf"), "nameserver 10.0.2.3\n", "{backend:?}");
        // The mirror by name, through slirp4netns.
        assert_eq!(sh(&mut a, &format!("python3 -c \"{fetch}\"")), "200\n", "{backend:?}");
        // The same port in two testbeds at once: each answers its own.
        listen(&mut a, "from-a");
        listen(&mut b, "from-b");
        assert_eq!(ask(a.as_ref()), "from-a", "{backend:?}");
        assert_eq!(ask(b.as_ref()), "from-b", "{backend:?}");
        let init = a.init_pid().unwrap();
        assert_eq!(helpers_of("slirp4netns", init).len(), 1, "{backend:?}: one slirp4netns for testbed a");
        let f = footprint(a.as_ref());
        a.close().unwrap();
        assert_gone(&f);
        assert_eq!(
            helpers_of("slirp4netns", init),
            Vec::<u32>::new(),
            "{backend:?}: slirp4netns survived close"
        );
        b.close().unwrap();
    }
}

#[test]
fn boot_needs_systemd_in_the_image() {
    let opts = OpenOptions { backend: Backend::Nspawn { boot: true }, ..Default::default() };
    let err = testbed::open(image(), &opts).err().expect("bookworm-tgt has no systemd");
    assert!(err.to_string().contains("systemd-sysv"), "{err}");
}

#[test]
fn upper_on_disk_works_and_is_removed() {
    let opts = OpenOptions { upper_on_disk: true, ..Default::default() };
    let mut tb = testbed::open(image(), &opts).unwrap();
    sh(&mut tb, "echo x > /etc/on-disk");
    let upper = tb.data_dir().unwrap().parent().unwrap().join("rw/upper/etc/on-disk");
    assert!(upper.exists(), "the writable layer is not on disk");
    let f = footprint(tb.as_ref());
    tb.close().unwrap();
    assert_gone(&f);
}

#[test]
fn gc_sweeps_orphaned_propagate_dirs_and_keeps_live_ones() {
    let mut live = open(Backend::Nspawn { boot: false });
    let live_dir = testbed::nspawn::propagate_dir(live.id());
    assert!(live_dir.is_dir());
    // What a killed srukit leaves: the empty dir of a testbed no process and no state names
    // (our pid, a counter value no testbed of ours reaches).
    let orphan = testbed::nspawn::propagate_dir(&format!("{}-4294967295-fffff", std::process::id()));
    std::fs::create_dir(&orphan).unwrap();
    let report = testbed::gc(false).unwrap();
    assert!(!orphan.exists(), "gc left the orphan {}", orphan.display());
    assert!(report.temp_dirs_removed.contains(&orphan.display().to_string()), "{report:?}");
    assert!(live_dir.is_dir(), "gc removed the live testbed's {}", live_dir.display());
    assert_eq!(sh(&mut live, "echo still"), "still\n");
    let f = footprint(live.as_ref());
    live.close().unwrap();
    assert_gone(&f);
}
