//! autopkgtest-virt-srukit driven as autopkgtest drives it: the binary is started through
//! a symlink of that name to target/release/srukit, requests go in on stdin, replies come
//! out on stdout, commands run through the exec prefix it prints. Edge cases of the
//! protocol (copies of files and dirs with spaces, revert twice, commands out of state,
//! unknown commands, quit, EOF and signals mid-session), the prefix's status contract,
//! and after every session: no run dir, scratch, cgroup, mount or process left. Then the
//! real autopkgtest 5.28 with `-B` on real bookworm packages pinned to exact versions:
//! gzip 1.12-1 (a plain test) and memcached 1.6.18-1 (two isolation-container tests),
//! on the unshare backend and on nspawn --boot, the one that advertises
//! isolation-container. Needs root, the bookworm-lanes and bookworm-systemd images
//! (built once, cached) and the archive (the testbed's apt installs test deps).

mod common;
mod dep8_common;
mod testbed_common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use testbed_common::{alive, leftovers_of, processes_with};

const DEF: &str = "bookworm-lanes";
const SCRATCH: &str = "/tmp/autopkgtest-srukit";
/// How many `sleep` processes the testbed has (its images need not have procps' pgrep).
const SLEEPS: &str =
    "n=0; for c in /proc/[0-9]*/comm; do [ \"$(cat $c 2>/dev/null)\" = sleep ] && n=$((n+1)); done; echo $n";

/// A dir holding `autopkgtest-virt-srukit` -> the srukit under test, as a user makes one.
fn server_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_srukit"), d.path().join("autopkgtest-virt-srukit"))
            .unwrap();
        d
    })
    .path()
}

/// Python's urllib.parse.quote for the characters these tests use in paths.
fn quote(s: &str) -> String {
    s.replace('%', "%25").replace(' ', "%20").replace(',', "%2C")
}

fn unquote(s: &str) -> String {
    s.replace("%20", " ").replace("%2C", ",").replace("%25", "%")
}

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: tempfile::NamedTempFile,
    /// Host pids of every testbed pid 1 the prefix named: gone once the session ends.
    testbeds: Vec<u32>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(server_dir().join("autopkgtest-virt-srukit"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = Server { child, stdin, stdout, stderr, testbeds: Vec::new() };
        assert_eq!(s.line(), "ok", "the banner; stderr: {}", s.stderr());
        s
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.stdout.read_line(&mut l).unwrap();
        l.trim_end_matches('\n').to_string()
    }

    fn send(&mut self, request: &str) -> String {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{request}").unwrap();
        stdin.flush().unwrap();
        self.line()
    }

    /// The result words of an `ok` reply, unquoted.
    fn ok(&mut self, request: &str) -> Vec<String> {
        let reply = self.send(request);
        let mut words = reply.split_whitespace();
        assert_eq!(words.next(), Some("ok"), "`{request}` -> `{reply}`; stderr: {}", self.stderr());
        words.map(unquote).collect()
    }

    fn open(&mut self) {
        assert_eq!(self.ok("open"), [SCRATCH]);
    }

    /// The exec prefix, as the client decodes it (split on `,`, each part unquoted).
    fn prefix(&mut self) -> Vec<String> {
        let reply = self.send("print-execute-command");
        let words: Vec<&str> = reply.split_whitespace().collect();
        assert!(
            words.len() == 2 && words[0] == "ok",
            "`ok` and one word: {reply}; stderr: {}",
            self.stderr()
        );
        let prefix: Vec<String> = words[1].split(',').map(unquote).collect();
        let pid = prefix.iter().position(|w| w == "--pid").map(|i| prefix[i + 1].parse().unwrap()).unwrap();
        self.testbeds.push(pid);
        prefix
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// Closes stdin and waits: the exit status and stderr.
    fn wait(&mut self) -> (ExitStatus, String) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        (status, self.stderr())
    }

    /// After the session: nothing of its testbeds is left on the host.
    fn assert_nothing_left(&self) {
        let left = leftovers_of(self.pid());
        assert!(left.is_empty(), "left behind: {left:?}");
        for &p in &self.testbeds {
            assert!(!alive(p), "testbed pid 1 {p} still runs");
        }
    }
}

/// Runs argv through the prefix, stdin from /dev/null (as adt_testbed.py does).
fn run(prefix: &[String], argv: &[&str]) -> Output {
    Command::new(&prefix[0]).args(&prefix[1..]).args(argv).stdin(Stdio::null()).output().unwrap()
}

fn sh(prefix: &[String], script: &str) -> String {
    let out = run(prefix, &["sh", "-c", script]);
    assert!(out.status.success(), "`{script}`: {:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (up to 10 s) for a condition a just-started background process makes true.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn quit(mut s: Server) {
    let stdin = s.stdin.as_mut().unwrap();
    writeln!(stdin, "quit").unwrap();
    stdin.flush().unwrap();
    let (status, stderr) = s.wait();
    assert!(status.success(), "quit exits 0: {status:?} {stderr}");
    s.assert_nothing_left();
}

#[test]
fn files_and_dirs_copy_down_and_up_with_spaces_and_modes() {
    let host = tempfile::tempdir().unwrap();
    let h = host.path();
    std::fs::write(h.join("a file, with spaces"), "plain\n").unwrap();
    std::fs::write(h.join("run me"), "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(h.join("run me"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tree = h.join("a tree");
    std::fs::create_dir_all(tree.join("sub dir")).unwrap();
    std::fs::write(tree.join("sub dir/deep file"), "deep\n").unwrap();
    std::fs::write(tree.join("top"), "top\n").unwrap();
    std::os::unix::fs::symlink("top", tree.join("link to top")).unwrap();

    let mut s = Server::start(&[DEF]);
    s.open();
    let p = s.prefix();
    let tb = format!("{SCRATCH}/in here");
    sh(&p, &format!("mkdir '{tb}'; echo kept > '{tb}/already there'"));
    for (src, dst) in [("a file, with spaces", "a file, with spaces"), ("run me", "run me")] {
        let req =
            format!("copydown {} {}", quote(&h.join(src).to_string_lossy()), quote(&format!("{tb}/{dst}")));
        assert!(s.ok(&req).is_empty());
    }
    assert_eq!(sh(&p, &format!("cat '{tb}/a file, with spaces'")), "plain\n");
    // The executable bit goes down with the file (VirtSubproc's `chmod +x`).
    assert_eq!(sh(&p, &format!("'{tb}/run me'")), "ran\n");
    // A directory's contents are merged into the destination directory.
    let req = format!("copydown {}/ {}/", quote(&tree.to_string_lossy()), quote(&tb));
    assert!(s.ok(&req).is_empty());
    assert_eq!(
        sh(
            &p,
            &format!("cd '{tb}' && cat 'sub dir/deep file' top 'already there' && readlink 'link to top'")
        ),
        "deep\ntop\nkept\ntop\n"
    );
    // A missing destination dir is made.
    let req =
        format!("copydown {}/ {}/", quote(&tree.to_string_lossy()), quote(&format!("{SCRATCH}/new dir")));
    assert!(s.ok(&req).is_empty());
    assert_eq!(sh(&p, &format!("cat '{SCRATCH}/new dir/top'")), "top\n");

    // Up: a file, and a directory into a host dir that does not exist yet.
    sh(
        &p,
        &format!(
            "mkdir -p '{SCRATCH}/out put/x y' && echo made > '{SCRATCH}/out put/x y/f g' && chmod 640 '{SCRATCH}/out put/x y/f g'"
        ),
    );
    let up = h.join("up dir");
    let req = format!("copyup {} {}/", quote(&format!("{SCRATCH}/out put/")), quote(&up.to_string_lossy()));
    assert!(s.ok(&req).is_empty());
    let f = up.join("x y/f g");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "made\n");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&f).unwrap().permissions()) & 0o777,
        0o640
    );
    let req = format!(
        "copyup {} {}",
        quote(&format!("{tb}/a file, with spaces")),
        quote(&h.join("back, up").to_string_lossy())
    );
    assert!(s.ok(&req).is_empty());
    assert_eq!(std::fs::read_to_string(h.join("back, up")).unwrap(), "plain\n");

    // A copy that cannot be done is the reply `copy-failed`; the session goes on.
    assert_eq!(
        s.send(&format!("copyup {SCRATCH}/no-such-file {}", quote(&h.join("x").to_string_lossy()))),
        "copy-failed"
    );
    assert_eq!(
        s.send(&format!("copydown {}/ {SCRATCH}/d/", quote(&h.join("no such dir").to_string_lossy()))),
        "copy-failed"
    );
    assert_eq!(s.ok("capabilities"), ["revert", "revert-full-system", "root-on-testbed"]);
    quit(s);
}

#[test]
fn revert_twice_keeps_the_scratch_path_and_drops_everything_else() {
    let mut s = Server::start(&[DEF]);
    s.open();
    let mut pids = Vec::new();
    for round in 0..3 {
        let p = s.prefix();
        // Nothing of the round before: files in the scratch, in /root, installed state,
        // processes.
        assert_eq!(sh(&p, &format!("ls -A {SCRATCH}; stat -c %a {SCRATCH}")), "1777\n", "round {round}");
        assert_eq!(
            sh(&p, "ls -A /root/marker 2>&1 || true"),
            "ls: cannot access '/root/marker': No such file or directory\n"
        );
        assert_eq!(sh(&p, SLEEPS), "0\n");
        sh(&p, &format!("echo {round} > {SCRATCH}/f; echo x > /root/marker; sleep 600 >/dev/null 2>&1 &"));
        pids.push(s.testbeds.last().copied().unwrap());
        if round < 2 {
            assert_eq!(s.ok("revert"), [SCRATCH]);
            // The old testbed is gone: its prefix fails as the prefix's own failure.
            let out = run(&p, &["true"]);
            assert_eq!(out.status.code(), Some(255));
            assert!(String::from_utf8_lossy(&out.stderr).contains("the testbed was closed"));
        }
    }
    pids.dedup();
    assert_eq!(pids.len(), 3, "each revert is a new testbed: {pids:?}");
    quit(s);
}

#[test]
fn the_exec_prefix_relays_status_and_keeps_254_and_255_for_itself() {
    let mut s = Server::start(&[DEF]);
    s.open();
    let p = s.prefix();
    for (script, want) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("exit 77", 77),
        ("exit 127", 127),
        ("exit 254", 253),
        ("exit 255", 253),
        ("kill -TERM $$", 128 + 15),
        ("kill -KILL $$", 128 + 9),
        ("kill -SEGV $$", 128 + 11),
    ] {
        let out = run(&p, &["sh", "-c", script]);
        assert_eq!(out.status.code(), Some(want), "`{script}`: {:?}", out.status);
    }
    assert_eq!(run(&p, &["no-such-program"]).status.code(), Some(127));
    // stdin, stdout and stderr are the caller's; the cwd is /.
    let out = Command::new(&p[0])
        .args(&p[1..])
        .args(["sh", "-c", "tr a-z A-Z; pwd; echo err >&2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"piped in\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n/\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // A clean environment: the caller's variables stay outside; the testbed's profile is read.
    let out = Command::new(&p[0]).args(&p[1..]).args(["env"]).env("SRUKIT_LEAK_PROBE", "1").output().unwrap();
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(!env.contains("SRUKIT_LEAK_PROBE"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=") && l.contains("/usr/sbin")), "{env}");
    // Inside: root, in the testbed's own namespaces (those of its pid 1), and the caller's
    // `env` prefix works as adt_testbed.py uses it.
    let pid1 = *s.testbeds.last().unwrap();
    let mut want = "0\n".to_string();
    for ns in ["mnt", "uts", "ipc", "net", "pid"] {
        let link = std::fs::read_link(format!("/proc/{pid1}/ns/{ns}")).unwrap();
        assert_ne!(link, std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap(), "{ns}");
        want.push_str(&format!("{}\n", link.display()));
    }
    assert_eq!(sh(&p, "id -u; for n in mnt uts ipc net pid; do readlink /proc/self/ns/$n; done"), want);
    assert_eq!(String::from_utf8_lossy(&run(&p, &["env", "A=b c", "sh", "-c", "echo $A"]).stdout), "b c\n");
    // Several at once.
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || sh(&p, &format!("sleep 0.3; echo {i}")))
        })
        .collect();
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, ["0\n", "1\n", "2\n", "3\n"]);
    // A background process left holding the caller's stdout does not hang the caller: it
    // is killed when the command ends (as 5.28's lxc and podman servers do).
    let started = std::time::Instant::now();
    let out = run(&p, &["sh", "-c", "sleep 600 & echo started"]);
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(30), "waited {:?}", started.elapsed());
    assert_eq!(sh(&p, SLEEPS), "0\n");
    // Detached from the caller's output, a daemon lives on until the testbed closes.
    sh(&p, "sleep 600 >/dev/null 2>&1 </dev/null &");
    eventually("the detached sleep runs", || sh(&p, SLEEPS) == "1\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(sh(&p, SLEEPS), "1\n", "and stays");
    // After close: 255 and a message, the prefix's own failure.
    assert!(s.ok("close").is_empty());
    let out = run(&p, &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the testbed was closed"), "{out:?}");
    // A reused pid is refused: the start time is checked.
    let mut forged = p.clone();
    let i = forged.iter().position(|w| w == "--pid").unwrap();
    forged[i + 1] = std::process::id().to_string();
    let out = run(&forged, &["true"]);
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    quit(s);
}

#[test]
fn protocol_errors_exit_non_zero_and_leave_nothing() {
    let cases: &[(&[&str], &str)] = &[
        (&["close"], "`close' when not open"),
        (&["revert"], "`revert' when not open"),
        (&["print-execute-command"], "`print-execute-command' when not open"),
        (&["copydown /etc/hostname /tmp/h"], "`copydown' when not open"),
        (&["copyup /etc/hostname /tmp/h"], "`copyup' when not open"),
        (&["shell /"], "`shell' when not open"),
        (&["capabilities now"], "too many arguments to command `capabilities'"),
        (&["open", "open"], "`open' when already open"),
        (&["open", "frobnicate"], "unknown command `frobnicate'"),
        (&["open", "execute sh,-c,true /dev/null /dev/null /dev/null /"], "unknown command `execute'"),
        (&["open", "copydown /etc/ /tmp/x"], "copydown paths must agree about directoryness"),
        (&["open", "copyup /etc /tmp/x/"], "copyup paths must agree about directoryness"),
        (&["open", "copydown"], "too few arguments to command `copydown'"),
        (&["open", "reboot"], "`reboot' when `reboot' not advertised"),
    ];
    for (requests, message) in cases {
        let mut s = Server::start(&[DEF]);
        let (last, before) = requests.split_last().unwrap();
        for r in before {
            assert!(r == &"open");
            s.open();
            s.prefix();
        }
        let stdin = s.stdin.as_mut().unwrap();
        writeln!(stdin, "{last}").unwrap();
        stdin.flush().unwrap();
        assert_eq!(s.line(), "", "no reply to `{last}`");
        let (status, stderr) = s.wait();
        assert_eq!(status.code(), Some(2), "{requests:?}: {stderr}");
        assert!(stderr.contains(message), "{requests:?}: wanted {message:?} in {stderr}");
        s.assert_nothing_left();
    }
}

#[test]
fn quit_eof_and_signals_mid_session_close_the_testbed() {
    // quit with a testbed open and a daemon running in it.
    let mut s = Server::start(&[DEF]);
    s.open();
    let p = s.prefix();
    sh(&p, "sleep 617 >/dev/null 2>&1 </dev/null &");
    eventually("sleep 617 runs", || processes_with("sleep\u{0}617").len() == 1);
    quit(s);
    assert!(processes_with("sleep\u{0}617").is_empty());

    // EOF on stdin: the caller died. The testbed is closed, the exit is non-zero.
    let mut s = Server::start(&[DEF]);
    s.open();
    let p = s.prefix();
    sh(&p, "sleep 618 >/dev/null 2>&1 </dev/null &");
    eventually("sleep 618 runs", || processes_with("sleep\u{0}618").len() == 1);
    let (status, stderr) = s.wait();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("end of file"), "{stderr}");
    s.assert_nothing_left();
    assert!(processes_with("sleep\u{0}618").is_empty());

    // SIGTERM, SIGINT and SIGHUP: closed, then killed by that signal (VirtSubproc re-raises).
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        let mut s = Server::start(&[DEF]);
        s.open();
        let p = s.prefix();
        sh(&p, "sleep 619 >/dev/null 2>&1 </dev/null &");
        eventually("sleep 619 runs", || processes_with("sleep\u{0}619").len() == 1);
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(s.pid() as i32, sig) }, 0);
        let status = s.child.wait().unwrap();
        assert_eq!(status.signal(), Some(sig), "{status:?}: {}", s.stderr());
        assert!(s.stderr().contains("closed testbed"), "{}", s.stderr());
        s.assert_nothing_left();
        assert!(processes_with("sleep\u{0}619").is_empty());
    }

    // quit before any open, and capabilities before open, are fine.
    let mut s = Server::start(&[DEF]);
    assert_eq!(s.ok("capabilities"), ["revert", "revert-full-system", "root-on-testbed"]);
    quit(s);
}

#[test]
fn bad_arguments_are_refused_before_the_banner() {
    let bin = server_dir().join("autopkgtest-virt-srukit");
    for (args, message) in [
        (&["no-such-definition"][..], "no testbed definition \"no-such-definition\""),
        (&[DEF, "--boot"][..], "--boot needs --backend nspawn"),
        (&[DEF, "--backend", "qemu"][..], "invalid value 'qemu'"),
        (&["--json", DEF][..], "virt-server has no --json"),
    ] {
        let out = Command::new(&bin).args(args).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        // No banner (--json's error document is on stdout, as for every command).
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.lines().any(|l| l == "ok"), "no banner: {stdout}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same binary under its own name is `srukit testbed virt-server`.
    let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["testbed", "virt-server", DEF])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    assert_eq!(out.status.code(), Some(3), "EOF right after the banner");
}

/// A bookworm source package pinned to an exact version, downloaded once.
fn dsc(pinned: &'static str) -> PathBuf {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap();
    common::cached_dsc(pinned)
}

struct Run {
    code: i32,
    summary: String,
    output: String,
}

/// `autopkgtest -B DSC -o OUT -- srukit ARGS...`, the server found on PATH by its name.
fn autopkgtest(dsc: &Path, server_args: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", server_dir().display(), std::env::var("PATH").unwrap());
    let out = Command::new("autopkgtest")
        .arg("-B")
        .arg(dsc)
        .arg("-o")
        .arg(out_dir.path().join("out"))
        .args(["--", "srukit"])
        .args(server_args)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let summary = std::fs::read_to_string(out_dir.path().join("out/summary")).unwrap_or_default();
    // The server said which testbeds it opened; their ids start with its pid.
    let owners: Vec<u32> = output
        .lines()
        .filter_map(|l| l.strip_prefix("autopkgtest-virt-srukit: opened testbed "))
        .filter_map(|rest| rest.split('-').next()?.parse().ok())
        .collect();
    assert!(!owners.is_empty(), "the server opened a testbed:\n{output}");
    for pid in owners {
        let left = leftovers_of(pid);
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    Run { code: out.status.code().unwrap_or(-1), summary, output }
}

#[test]
fn autopkgtest_runs_real_packages_on_the_unshare_backend() {
    let run = autopkgtest(&dsc("gzip=1.12-1"), &[DEF]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(dep8_common::parse_summary(&run.summary), [("simple-gzip".to_string(), "PASS".to_string())]);
    // Without a service manager as pid 1 there is no isolation-container: skipped, said why.
    let run = autopkgtest(&dsc("memcached=1.6.18-1"), &[DEF]);
    assert_eq!(run.code, 8, "all tests skipped: {}", run.output);
    // 5.28 writes each skipped test's line twice (`-- unshare` too, measured on the same
    // image): compare without repeats.
    let got = dep8_common::parse_summary(&run.summary);
    let mut unique: Vec<(String, String)> = Vec::new();
    for r in got {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    assert_eq!(
        unique,
        [("daemon".to_string(), "SKIP".to_string()), ("client.pl".to_string(), "SKIP".to_string())]
    );
    assert!(run.summary.contains("requires testbed capability \"isolation-container\""), "{}", run.summary);
}

#[test]
fn autopkgtest_runs_isolation_container_tests_on_a_booted_nspawn_testbed() {
    let mut s = Server::start(&["bookworm-systemd", "--backend", "nspawn", "--boot"]);
    assert_eq!(
        s.ok("capabilities"),
        ["revert", "revert-full-system", "root-on-testbed", "isolation-container"]
    );
    quit(s);
    // memcached's tests start the daemon with `service` and talk to it on 127.0.0.1:11211.
    let run = autopkgtest(&dsc("memcached=1.6.18-1"), &["bookworm-systemd", "--backend", "nspawn", "--boot"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(
        dep8_common::parse_summary(&run.summary),
        [("daemon".to_string(), "PASS".to_string()), ("client.pl".to_string(), "PASS".to_string())]
    );
}
