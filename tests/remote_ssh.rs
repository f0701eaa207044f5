//! A "remote machine" on this host: testbeds/remote/netns-sshd runs sshd in a network
//! namespace of its own (10.200.N.2 over a veth), its own pid, mount and UTS namespaces,
//! chrooted into a fresh overlay of the remote-bookworm image, with apt through an
//! apt-cacher-ng it starts on 10.200.N.1. Driven by the real autopkgtest 5.28 through
//! `autopkgtest-virt-ssh -s netns-sshd` (open, revert, cleanup) and directly (start, stop);
//! every test asserts that nothing of its instances is left on the host.

mod common;
mod dep8_common;
mod remote_common;
mod testbed_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use remote_common::{Journal, Remote, SCRIPT};
use srukit::reporter::Quiet;
use srukit::testbed::{self, ExecRequest, OpenOptions};
use testbed_common::conformance::{self, Subject};

/// sed's DEP-8 test, pinned as tests/dep8_suites.rs pins it (the point-release suite).
const SED: (&str, &str, &str) = ("sed", "bookworm", "4.9-1+deb12u1");

/// Runs `autopkgtest -B WHAT --output-dir OUT -- ssh -s netns-sshd -- --root R --journal J`;
/// its exit code and the summary's (test, result) rows.
fn autopkgtest_on_remote(what: &Path, out: &Path, journal: &Journal) -> (i32, Vec<(String, String)>, String) {
    let root = remote_common::image_root();
    let log = out.with_extension("log");
    let status = Command::new("autopkgtest")
        .arg("-B")
        .arg(what)
        .arg("--output-dir")
        .arg(out)
        .args(["--", "ssh", "-s", SCRIPT, "--", "--root"])
        .arg(&root)
        .arg("--journal")
        .arg(&journal.path)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()))
        .status()
        .expect("autopkgtest runs (scripts/setup.sh installs it)");
    let summary = std::fs::read_to_string(out.join("summary")).unwrap_or_default();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    (status.code().unwrap_or(-1), dep8_common::parse_summary(&summary), log)
}

/// The host's own IPv4 addresses (`hostname -I` here).
fn host_addresses() -> Vec<String> {
    let out = Command::new("hostname").arg("-I").output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

#[test]
fn plain_autopkgtest_passes_seds_test_on_the_remote() {
    let (name, suite, version) = SED;
    let dsc = dep8_common::pinned_dsc(name, suite, version);
    let work = tempfile::tempdir().unwrap();
    let journal = Journal::new(work.path());
    let (code, results, log) = autopkgtest_on_remote(&dsc, &work.path().join("out"), &journal);
    assert_eq!(code, 0, "autopkgtest exit code; log:\n{log}");
    assert_eq!(results, [("sub".to_string(), "PASS".to_string())], "summary; log:\n{log}");
    // The setup script made one instance and autopkgtest-virt-ssh's close cleaned it up.
    let opened = journal.opened();
    assert_eq!(opened.len(), 1, "one open: {:?}", journal.events());
    assert!(journal.open_now().is_empty(), "cleanup ran: {:?}", journal.events());
    assert!(opened[0].1.is_some(), "it started its apt-cacher-ng: {:?}", journal.events());
    assert_eq!(journal.leftovers(), Vec::<String>::new());
}

/// tests/data/remote_revert: `break` (breaks-testbed) marks /etc, `after-revert` must not see
/// the mark, `machine` (isolation-machine) must be skipped: the remote shares the host's
/// kernel and says so.
#[test]
fn revert_is_a_fresh_overlay_and_no_machine_isolation_is_claimed() {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/remote_revert/");
    let work = tempfile::tempdir().unwrap();
    let journal = Journal::new(work.path());
    let out = work.path().join("out");
    let (code, results, log) = autopkgtest_on_remote(&tree, &out, &journal);
    let result = |t: &str| results.iter().find(|(n, _)| n == t).map(|(_, r)| r.as_str());
    assert_eq!(result("break"), Some("PASS"), "{results:?}\n{log}");
    assert_eq!(result("after-revert"), Some("PASS"), "the mark survived the revert: {results:?}\n{log}");
    assert_eq!(result("machine"), Some("SKIP"), "{results:?}\n{log}");
    // autopkgtest: 2 = at least one test skipped, none failed.
    assert_eq!(code, 2, "autopkgtest exit code; log:\n{log}");
    let events: Vec<String> = journal.events().into_iter().map(|(w, _)| w).collect();
    assert_eq!(events, ["open", "revert", "cleanup"], "one revert, after `break`");
    // The test ran on the remote's own address, not the host's.
    let (id, _) = journal.opened()[0];
    let seen = std::fs::read_to_string(out.join("after-revert-stdout")).unwrap();
    assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), [format!("10.200.{id}.2")]);
    assert_eq!(journal.leftovers(), Vec::<String>::new());
}

#[test]
fn two_started_remotes_are_machines_of_their_own_and_stop_leaves_nothing() {
    let mut a = Remote::start(None);
    let mut b = Remote::start(None);
    assert_ne!(a.id, b.id, "two instances at once get two numbers");
    let host = host_addresses();
    for r in [&a, &b] {
        assert_eq!(r.hostname, format!("10.200.{}.2", r.id));
        assert_eq!(r.netns, format!("srukit-remote-{}", r.id));
        assert_eq!(r.keys["capabilities"], "revert revert-full-system root-on-testbed");
        // Its own network: only its veth address, which is not one of the host's.
        let addrs = r.ssh_ok("hostname -I");
        assert_eq!(addrs.split_whitespace().collect::<Vec<_>>(), [r.hostname.as_str()]);
        assert!(!host.contains(&r.hostname), "{} is the host's ({host:?})", r.hostname);
        assert_eq!(r.ssh_ok("hostname").trim(), r.netns);
        // Its own pid namespace: sshd is pid 1; its own filesystem: the host's is not there.
        assert!(r.ssh_ok("cat /proc/1/cmdline").starts_with("sshd"), "pid 1 is sshd");
        r.ssh_ok(&format!("test ! -e {}", env!("CARGO_MANIFEST_DIR")));
    }
    // What one remote writes, neither the host nor the other remote sees.
    a.ssh_ok("echo a > /root/written-on-a");
    assert!(!Path::new("/root/written-on-a").exists());
    b.ssh_ok("test ! -e /root/written-on-a");
    // apt reaches the archive through the proxy on the host's end of the veth.
    let update = a.ssh(&format!("apt-get -q update && apt-config dump | grep -F '{}:3142'", a.host_address));
    assert!(update.status.success(), "apt-get update on the remote: {}", common::text(&update.stderr));
    // revert: a fresh overlay, the same address and key.
    let revert = remote_common::script(&["revert", "--id", &a.id.to_string()]);
    assert!(revert.status.success(), "revert: {}", common::text(&revert.stderr));
    assert_eq!(remote_common::keys(&revert.stdout)["hostname"], a.hostname);
    a.ssh_ok("test ! -e /root/written-on-a");
    // A number in use is refused (exit 2), and the running instance is untouched.
    let again = remote_common::script(&["start", "--id", &a.id.to_string()]);
    assert_eq!(again.status.code(), Some(2), "{}", common::text(&again.stderr));
    a.ssh_ok("true");

    let listed = |id: u8| {
        let out = remote_common::script(&["list"]);
        common::text(&out.stdout).lines().any(|l| l.starts_with(&format!("{id} srukit-remote-{id} ")))
    };
    assert!(listed(a.id) && listed(b.id), "list names both");

    let (ids, proxies) = ([a.id, b.id], [a.proxy_pid, b.proxy_pid]);
    assert!(proxies.iter().all(Option::is_some), "each started its apt-cacher-ng");
    for r in [&mut a, &mut b] {
        let out = r.stop();
        assert!(out.status.success(), "stop --id {}: {}", r.id, common::text(&out.stderr));
    }
    for (id, proxy) in ids.into_iter().zip(proxies) {
        assert_eq!(remote_common::leftovers(id, proxy), Vec::<String>::new(), "instance {id}");
        assert!(!listed(id), "list still names {id}");
        // Stopping what is gone is done, not an error.
        let out = remote_common::script(&["stop", "--id", &id.to_string()]);
        assert!(out.status.success(), "second stop: {}", common::text(&out.stderr));
    }
}

#[test]
fn bad_arguments_are_refused_with_exit_2_before_anything_starts() {
    // A state dir of its own: nothing may be made in it (other tests run instances meanwhile).
    let state = tempfile::tempdir().unwrap();
    for (args, said) in [
        (&["start", "--id", "255"][..], "--id 255"),
        (&["start", "--port", "0"][..], "--port 0"),
        (&["open", "-l", "test"][..], "-l test"),
        (&["open", "--frobnicate"][..], "unknown argument '--frobnicate'"),
        (&["revert"][..], "revert needs --id"),
        (&["start", "--root", "/nonexistent"][..], "--root /nonexistent"),
        (&["reboot"][..], "usage"),
    ] {
        let out = Command::new(SCRIPT).args(args).env("SRUKIT_REMOTE_STATE", state.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", common::text(&out.stderr));
        assert!(common::text(&out.stderr).contains(said), "{args:?}: {}", common::text(&out.stderr));
    }
    assert_eq!(common::listing(state.path()), Vec::<String>::new(), "a refused command made an instance");
}

/// A srukit definition naming the remote through autopkgtest-virt-ssh, written into
/// `dir/testbeds/NAME.toml` (the testbeds dir a plan in `dir` finds): the setup script over
/// the built image, its instances journalled.
fn ssh_def(dir: &Path, journal: &Journal) -> PathBuf {
    let defs = dir.join("testbeds");
    std::fs::create_dir_all(&defs).unwrap();
    let path = defs.join("remote-ssh.toml");
    let argv = [
        "autopkgtest-virt-ssh".to_string(),
        "-s".into(),
        SCRIPT.into(),
        "--".into(),
        "--root".into(),
        remote_common::image_root().display().to_string(),
        "--journal".into(),
        journal.path.display().to_string(),
    ];
    std::fs::write(&path, format!("virt-server = {argv:?}\nrelease = \"bookworm\"\n")).unwrap();
    path
}

#[test]
fn conformance_through_autopkgtest_virt_ssh_on_the_remote() {
    let work = tempfile::tempdir().unwrap();
    let journal = Journal::new(work.path());
    let def = ssh_def(work.path(), &journal);
    let image = testbed::ensure_image(&def.display().to_string(), &Quiet).expect("the definition loads");
    let open = || testbed::open(&image, &OpenOptions::default()).expect("the remote opens through virt-ssh");
    // Words reach the remote as given. autopkgtest-virt-ssh 5.28's exec prefix (its runcmd:
    // `ssh ... $(printf '%q ' "$@")`, unquoted) re-splits them on whitespace and ssh joins
    // them with one space, so "a  b" arrives as "a b" unless the client encodes its words.
    let mut tb = open();
    let out = tb.exec(&ExecRequest::new(["printf", "%s|", "a  b\n  c", "d\te"])).unwrap();
    tb.close().unwrap();
    assert_eq!(out.stdout_str(), "a  b\n  c|d\te|", "the words changed on their way to the remote");
    // The probe is removed in one testbed and must be back in the next: not sshd, which
    // re-executes itself for every login.
    conformance::all(&Subject { open: &open, probe: "/usr/bin/unzip", release: "bookworm" });
    let tb = open();
    assert_eq!(tb.backend_name(), "virt:autopkgtest-virt-ssh");
    let info = tb.virt_info().expect("a virt testbed records its server");
    for c in ["revert", "revert-full-system", "root-on-testbed"] {
        assert!(info.capabilities.iter().any(|x| x == c), "the remote lacks {c}: {info:?}");
    }
    assert!(
        !info.capabilities.iter().any(|x| x == "isolation-machine"),
        "shares the host's kernel: {info:?}"
    );
    tb.close().unwrap();
    assert!(!journal.opened().is_empty());
    assert!(journal.open_now().is_empty(), "every open was cleaned up: {:?}", journal.events());
    assert_eq!(journal.leftovers(), Vec::<String>::new());
}

/// `srukit testbed exec` on the definition: the command runs on the remote, whose only
/// address is its own 10.200.N.2, not one of the host's.
#[test]
fn srukit_testbed_exec_runs_on_the_remotes_own_address() {
    let work = tempfile::tempdir().unwrap();
    let journal = Journal::new(work.path());
    let def = ssh_def(work.path(), &journal);
    let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["testbed", "exec"])
        .arg(&def)
        .args(["--", "hostname", "-I"])
        .output()
        .unwrap();
    assert!(out.status.success(), "srukit testbed exec: {}", common::text(&out.stderr));
    let opened = journal.opened();
    assert_eq!(opened.len(), 1, "{:?}", journal.events());
    let remote = format!("10.200.{}.2", opened[0].0);
    assert_eq!(common::text(&out.stdout).split_whitespace().collect::<Vec<_>>(), [remote.as_str()]);
    assert!(!host_addresses().contains(&remote), "{remote} is one of the host's");
    assert!(journal.open_now().is_empty(), "closed: {:?}", journal.events());
    assert_eq!(journal.leftovers(), Vec::<String>::new());
}

/// The zip lane (Debian #1143866, testbeds/plans/deb-1143866-zip.toml; versions as
/// tests/lanes_debian.rs pins them) from the archive, verified on the default backend and,
/// the plan's testbed switched to the remote, through autopkgtest-virt-ssh.
const ZIP_PLAN: &str = "testbeds/plans/deb-1143866-zip.toml";
const ZIP_BEFORE: &str = "apt:zip=3.0-13@bookworm";
const ZIP_AFTER: &str = "apt:zip=3.0-13+deb12u1@bookworm-security";

fn verify(plan: &Path, out: &Path) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .arg("--json")
        .arg("verify")
        .arg(plan)
        .args(["--before", ZIP_BEFORE, "--after", ZIP_AFTER, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "srukit verify {}: {}", plan.display(), common::text(&o.stderr));
    serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap()
}

/// (side, phase, check) -> the outcome it matched, for every run of a result.
fn outcomes(doc: &serde_json::Value) -> Vec<(String, String, String, String)> {
    let mut v = Vec::new();
    for run in doc["runs"].as_array().unwrap() {
        for c in run["checks"].as_array().unwrap() {
            let s = |x: &serde_json::Value| x.as_str().unwrap_or("?").to_string();
            v.push((s(&run["side"]), s(&run["phase"]), s(&c["id"]), s(&c["matched_outcome"])));
        }
    }
    v.sort();
    v
}

#[test]
fn a_debian_lane_verified_through_the_ssh_backend_matches_the_default_backend() {
    let work = tempfile::tempdir().unwrap();
    let journal = Journal::new(work.path());
    ssh_def(work.path(), &journal);
    let original = Path::new(env!("CARGO_MANIFEST_DIR")).join(ZIP_PLAN);
    let text = std::fs::read_to_string(&original).unwrap();
    assert!(text.contains("\ntestbed = \"bookworm-lanes\"\n"), "the lane's testbed line moved");
    let plan = work.path().join("deb-1143866-zip.toml");
    std::fs::write(&plan, text.replace("\ntestbed = \"bookworm-lanes\"\n", "\ntestbed = \"remote-ssh\"\n"))
        .unwrap();

    let (default_out, ssh_out) = (work.path().join("default"), work.path().join("ssh"));
    let (default, ssh) = std::thread::scope(|s| {
        let d = s.spawn(|| verify(&original, &default_out));
        let ssh = verify(&plan, &ssh_out);
        (d.join().unwrap(), ssh)
    });
    for doc in [&default, &ssh] {
        assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    }
    assert_eq!(outcomes(&ssh), outcomes(&default), "the same check results on both backends");
    let want: Vec<(String, String, String, String)> = [
        ("after", "injection", "quoted"),
        ("after", "marker", "absent"),
        ("after", "plain-archive", "ok"),
        ("before", "injection", "injected"),
        ("before", "marker", "created"),
        ("before", "plain-archive", "ok"),
    ]
    .iter()
    .map(|(side, id, o)| (side.to_string(), "default".to_string(), id.to_string(), o.to_string()))
    .collect();
    assert_eq!(outcomes(&ssh), want);
    for run in ssh["runs"].as_array().unwrap() {
        let backend = run["testbed"]["backend"].as_str().unwrap_or_default();
        assert!(backend.contains("autopkgtest-virt-ssh"), "testbed.backend names virt-ssh: {backend}");
    }
    // Each run had a remote of its own, and none is left.
    assert!(!journal.opened().is_empty(), "{:?}", journal.events());
    assert!(journal.open_now().is_empty(), "every open was cleaned up: {:?}", journal.events());
    assert_eq!(journal.leftovers(), Vec::<String>::new());
}
