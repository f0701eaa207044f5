//! The backend-independent half of the testbed conformance suite: assertions over
//! `&mut dyn Testbed` that hold for srukit's own backends (unshare, nspawn, nspawn booted)
//! and for any autopkgtest virt server behind the `virt_client` backend (virt-unshare,
//! virt-srukit, virt-ssh...). What only a host-side backend can give (host pids, the data
//! dir, connect_tcp, memory cgroups, teardown leaving nothing on the host) stays in
//! testbed_conformance.rs.
//!
//! The image under test needs sh, coreutils, procps (`ps`, `pgrep`) and python3.

use std::path::Path;
use std::time::{Duration, Instant};

use srukit::testbed::{ExecRequest, Testbed, TestbedError};

/// A backend under test.
pub struct Subject<'a> {
    /// Opens a fresh testbed.
    pub open: &'a dyn Fn() -> Box<dyn Testbed>,
    /// A program the image has from its own packages, by absolute path (`/usr/sbin/tgtadm`).
    pub probe: &'a str,
    /// The release /etc/os-release names (`bookworm`).
    pub release: &'a str,
}

/// Runs a shell script that must succeed; returns its stdout.
pub fn sh(tb: &mut dyn Testbed, script: &str) -> String {
    let out = tb.exec(&ExecRequest::shell(script)).unwrap();
    assert!(out.success(), "`{script}` failed ({}): {}", out.status, out.stderr_str());
    out.stdout_str()
}

/// Exit status, stdout and stderr apart, the caller's environment on a clean one, the
/// working directory, stdin; the image's own files.
pub fn exec_status_output_env_cwd_stdin(tb: &mut dyn Testbed, s: &Subject) {
    let req = ExecRequest::shell("echo out; echo err >&2; echo $FOO; pwd; cat; exit 3")
        .env("FOO", "bar baz")
        .cwd("/usr/share")
        .stdin(b"from stdin".to_vec());
    let out = tb.exec(&req).unwrap();
    assert_eq!(out.status, 3);
    assert_eq!(out.stdout_str(), "out\nbar baz\n/usr/share\nfrom stdin");
    assert_eq!(out.stderr_str(), "err\n");
    // The clean environment every backend gives (nothing of the host's leaks in).
    assert_eq!(
        sh(tb, "echo \"$HOME|$LANG|$DEBIAN_FRONTEND|${CARGO:-unset}\""),
        "/root|C.UTF-8|noninteractive|unset\n"
    );
    // The image's own files, not the host's.
    assert_eq!(sh(tb, ". /etc/os-release; echo $VERSION_CODENAME"), format!("{}\n", s.release));
    assert_eq!(
        sh(tb, &format!("command -v {}", s.probe.rsplit('/').next().unwrap())),
        format!("{}\n", s.probe)
    );
    // A signal is 128+N, a status is the command's. (Not the command's own shell: under
    // some servers, virt-unshare's, it is pid 1 of a pid namespace, which ignores SIGTERM.)
    assert_eq!(tb.exec(&ExecRequest::shell("sh -c 'kill -TERM $$'; exit $?")).unwrap().status, 128 + 15);
    assert_eq!(tb.exec(&ExecRequest::new(["false"])).unwrap().status, 1);
}

/// A timeout is an error (never an outcome), kills the command inside, and comes soon; a
/// log streams stdout and stderr to a host file.
pub fn exec_timeout_kills_and_log_streams(tb: &mut dyn Testbed) {
    let started = Instant::now();
    let err = tb.exec(&ExecRequest::new(["sleep", "31"]).timeout(Duration::from_millis(300))).unwrap_err();
    assert!(matches!(err, TestbedError::Timeout { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(sh(tb, "ps -eo args | grep -cx 'sleep 31' || true"), "0\n");
    // Within its limit, a command is not touched.
    let out =
        tb.exec(&ExecRequest::shell("sleep 0.1; echo in-time").timeout(Duration::from_secs(20))).unwrap();
    assert_eq!((out.status, out.stdout_str().as_str()), (0, "in-time\n"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = tb.exec(&ExecRequest::shell("echo one; echo two >&2").log(&log)).unwrap();
    assert!(out.success() && out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
}

/// Files and trees in and out, to paths whose parents do not exist yet.
pub fn copy_in_out(tb: &mut dyn Testbed) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/f"), "hello").unwrap();
    tb.copy_in(&src, Path::new("/opt/tree")).unwrap();
    tb.copy_in(&src.join("sub/f"), Path::new("/root/single")).unwrap();
    assert_eq!(sh(tb, "cat /opt/tree/sub/f /root/single"), "hellohello");
    sh(tb, "mkdir -p /out/d && echo made > /out/d/x");
    tb.copy_out(Path::new("/out"), &dir.path().join("back")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("back/d/x")).unwrap(), "made\n");
    tb.copy_out(Path::new("/out/d/x"), &dir.path().join("one/x")).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("one/x")).unwrap(), "made\n");
}

/// What one testbed writes, even to the image's own files, a fresh one never sees.
pub fn writes_do_not_reach_a_fresh_testbed(s: &Subject) {
    let mut tb = (s.open)();
    sh(tb.as_mut(), &format!("echo x > /etc/srukit-probe; rm {}; echo y > /tmp/t", s.probe));
    tb.close().unwrap();
    let mut fresh = (s.open)();
    assert_eq!(
        sh(
            fresh.as_mut(),
            &format!("ls /etc/srukit-probe 2>/dev/null; command -v {}", s.probe.rsplit('/').next().unwrap())
        ),
        format!("{}\n", s.probe)
    );
    fresh.close().unwrap();
}

/// A listener on 127.0.0.1:`port` inside that answers `word` to anyone (python3).
pub fn listen_on(tb: &mut dyn Testbed, port: u16, word: &str) -> u32 {
    let prog = format!(
        "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
s.bind(('127.0.0.1',{port}))\ns.listen()\nwhile True:\n c,_=s.accept()\n c.sendall(sys.argv[1].encode())\n c.close()\n"
    );
    tb.spawn(&ExecRequest::new(["python3", "-c", &prog, word])).unwrap()
}

/// The listener tests' port (iSCSI's, free in a testbed with its own network).
pub fn listen(tb: &mut dyn Testbed, word: &str) -> u32 {
    listen_on(tb, 3260, word)
}

/// What the listener on `port` answers, asked from inside the testbed (retrying while it
/// starts).
pub fn ask_inside(tb: &mut dyn Testbed, port: u16) -> String {
    let prog = format!(
        "import socket,time\nfor i in range(500):\n try:\n  c=socket.create_connection(('127.0.0.1',{port}))\n  break\n except OSError:\n  time.sleep(0.02)\nprint(c.recv(100).decode(),end='')\n"
    );
    sh(tb, &format!("python3 -c \"{prog}\""))
}

/// A background process runs on after `spawn` returns and answers from inside (on a port
/// of its own: a virt server's testbed may share the host's network); a second one's
/// output streams to a host log. Returns the log (with its dir) for
/// `spawned_log_holds_its_output` once the testbed is closed. Processes are not looked for
/// with `pgrep`: some servers run each command in a pid namespace of its own.
pub fn spawn_runs_in_the_background(tb: &mut dyn Testbed) -> (tempfile::TempDir, std::path::PathBuf) {
    let port = 20000 + (std::process::id() % 20000) as u16;
    let pid = listen_on(tb, port, "hello");
    assert!(pid > 0);
    assert_eq!(ask_inside(tb, port), "hello");
    assert_eq!(ask_inside(tb, port), "hello", "the listener served one client and went away");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("spawned.log");
    tb.spawn(&ExecRequest::shell("echo spawned-out; echo spawned-err >&2; exec sleep 600").log(&log))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default() != "spawned-out\nspawned-err\n" {
        assert!(Instant::now() < deadline, "the spawned process never wrote its log");
        std::thread::sleep(Duration::from_millis(20));
    }
    (dir, log)
}

/// After close, the log of `spawn_runs_in_the_background`'s second process holds its output.
pub fn spawned_log_holds_its_output(log: &Path) {
    assert_eq!(std::fs::read_to_string(log).unwrap(), "spawned-out\nspawned-err\n");
}

/// Every backend-independent assertion, on fresh testbeds of `s`.
pub fn all(s: &Subject) {
    let mut tb = (s.open)();
    exec_status_output_env_cwd_stdin(tb.as_mut(), s);
    exec_timeout_kills_and_log_streams(tb.as_mut());
    copy_in_out(tb.as_mut());
    let (_dir, log) = spawn_runs_in_the_background(tb.as_mut());
    tb.close().unwrap();
    spawned_log_holds_its_output(&log);
    writes_do_not_reach_a_fresh_testbed(s);
}
