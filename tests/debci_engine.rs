//! The debci engine end to end, every service started and stopped here, loopback only:
//! `srukit debci up` (RabbitMQ, debci's collector, debci workers with the srukit backend) and
//! `srukit dispatch` of three run out dirs at once (six jobs: a target x two sides each):
//!   - unzip #1142905: `srukit run` of the backport folder (the single-target layout; its
//!     after source has no srukit test, so dispatch exports the plan and rebuilds the source);
//!   - ca-certificates #1151413: 20230311+deb12u1 and the fix (+deb12u2, tests exported) built
//!     with `srukit build` into the same layout (the after source carries the tests);
//!   - the unzip builds again in the multi-target layout (`OUT/result.json` `targets`,
//!     `OUT/bookworm/...`).
//!
//! The jobs are enqueued on an engine with no worker, which is then stopped (the broker
//! restarts between enqueue and consume: the queue is durable, the messages persistent);
//! a second engine with two workers consumes them, and one worker's whole process group is
//! killed with SIGKILL mid-job: the job is delivered again and completes, and every job is
//! collected exactly once. After each engine: no port, no process, no temp dir left.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{cached_dsc, text, unpack};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn srukit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_srukit"));
    c.current_dir(root());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}\n{}", text(&o.stdout), text(&o.stderr));
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&o.stdout), text(&o.stderr)))
}

/// A running `srukit debci up`: its ready event, and every event line after it.
struct Engine {
    child: Child,
    events: mpsc::Receiver<serde_json::Value>,
    ready: serde_json::Value,
}

impl Engine {
    fn up(state: &Path, workers: usize) -> Engine {
        let mut child = srukit()
            .args(["--json", "debci", "up", "--workers", &workers.to_string(), "--state"])
            .arg(state)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("srukit debci up starts");
        let (tx, events) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let ready = events.recv_timeout(Duration::from_secs(120)).expect("a ready event within 120 s");
        assert_eq!(ready["event"], "ready", "{ready:#}");
        assert_eq!(ready["workers"].as_array().unwrap().len(), workers);
        Engine { child, events, ready }
    }

    /// SIGTERM, then the stopped summary; nothing of the engine is left.
    fn stop(&mut self, state: &Path) -> Vec<serde_json::Value> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "debci up exits 0 on SIGTERM: {status}");
        // The reader thread may not have passed on the last lines yet: read to the end of
        // its output (the channel closes at EOF).
        let mut seen = Vec::new();
        while let Ok(e) = self.events.recv_timeout(Duration::from_secs(30)) {
            seen.push(e);
        }
        assert!(seen.iter().any(|e| e["event"] == "stopped"), "{seen:?}");
        nothing_left(state);
        seen
    }
}

/// A failed assertion still stops the engine (its services are the test's to stop).
impl Drop for Engine {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// No port, no process of the engine, no worker temp dir, no state.json.
fn nothing_left(state: &Path) {
    for port in [5672, 25672, 4369] {
        assert!(!listening(port), "port {port} still listens after stop");
    }
    let mine = state.to_string_lossy().to_string();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let env = String::from_utf8_lossy(&env).replace('\0', " ");
        assert!(
            !(cmd.contains(&mine) || env.contains(&format!("debci_config_dir={mine}"))),
            "a process of the engine is left: {} {cmd}",
            e.path().display()
        );
    }
    let tmp: Vec<_> = std::fs::read_dir(state.join("tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "temp files left in {}/tmp", state.display());
    assert!(!state.join("state.json").exists());
}

fn work(name: &str) -> PathBuf {
    let d = PathBuf::from("/var/tmp/srukit-debci-engine").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// unzip: the whole `srukit run` (single-target layout).
fn unzip_run(out: &Path) {
    let o = run(srukit()
        .args(["--json", "run", "patches/deb-1142905-unzip-smartzip", "--source", "unzip=6.0-28", "--out"])
        .arg(out));
    ok(&o, "srukit run unzip");
}

/// ca-certificates: both sides built with `srukit build`, the fix's tree with the exported
/// tests in `apply/tree`, as `srukit run` lays them out.
fn ca_certificates_run(out: &Path, work: &Path) {
    let old = unpack("ca-certificates=20230311+deb12u1", work, "old", false);
    let _ = cached_dsc("ca-certificates=20230311+deb12u1");
    std::fs::create_dir_all(out.join("apply")).unwrap();
    let tree = unpack("ca-certificates=20230311+deb12u1", &out.join("apply"), "tree", false);
    common::ca_certificates_1151413_fix(&tree);
    let plan = root().join("tests/data/export_dep8/deb-1151413-ca-certificates-install.toml");
    ok(&run(srukit().args(["export", "dep8"]).arg(&plan).arg("--into").arg(&tree)), "export dep8");
    for (t, side) in [(&old, "build-before"), (&tree, "build-after")] {
        ok(
            &run(srukit().args(["--json", "build", "--tree"]).arg(t).arg("--out").arg(out.join(side))),
            "build",
        );
    }
}

/// The unzip builds again, in the multi-target layout.
fn multi_target_copy(from: &Path, out: &Path) {
    let series = out.join("bookworm");
    std::fs::create_dir_all(&series).unwrap();
    for stage in ["build-before", "build-after", "verify"] {
        ok(&run(Command::new("cp").arg("-a").arg(from.join(stage)).arg(&series)), "cp -a");
    }
    std::fs::write(
        out.join("result.json"),
        r#"{"schema":"srukit-run-result","schema_version":1,"backport":"deb-1142905-unzip-smartzip","verdict":"verification-done","targets":[{"series":"bookworm","result":"bookworm/verify/result.json","error":null}]}"#,
    )
    .unwrap();
}

fn count_lines(path: &Path, pat: &str) -> usize {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter(|l| l.contains(pat)).count()
}

fn worker_logs(state: &Path, pat: &str) -> usize {
    (1..=2).map(|i| count_lines(&state.join(format!("logs/worker-{i}.log")), pat)).sum()
}

#[test]
fn six_jobs_survive_a_broker_restart_and_a_killed_worker_and_fold_per_target() {
    let base = work("runs");
    let unzip = base.join("unzip");
    let ca = base.join("ca-certificates");
    let multi = base.join("multi");
    unzip_run(&unzip);
    ca_certificates_run(&ca, &base);
    multi_target_copy(&unzip, &multi);
    let state = work("state");
    let runs = [&unzip, &ca, &multi];

    // Bad input is refused before anything is published: a dir that is no run.
    let o = run(srukit().args(["dispatch", "--state"]).arg(&state).arg(&base));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    // Enqueue on an engine with no worker, then stop it: the broker goes down with six
    // messages in the queue.
    let mut engine = Engine::up(&state, 0);
    let o = run(srukit().args(["--json", "dispatch", "--state"]).arg(&state).args(runs));
    ok(&o, "srukit dispatch (enqueue only)");
    let enqueued = json(&o);
    let ids: Vec<u64> =
        enqueued["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 6, "{enqueued:#}");
    engine.stop(&state);

    // A new broker on the same state: the messages are there; two workers consume them.
    let mut engine = Engine::up(&state, 2);
    assert!(engine.ready["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(engine.ready["queue"], "debci-tests-amd64-srukit");
    let state_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("state.json")).unwrap()).unwrap();
    let worker_pid = |i: usize| state_json["workers"][i - 1]["pid"].as_u64().unwrap() as i32;
    let dispatch = srukit()
        .args(["--json", "dispatch", "--resume", "--wait", "--timeout", "600", "--state"])
        .arg(&state)
        .args(runs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill a worker's whole process group (debci worker, amqp-consume, autopkgtest, the virt
    // server) while it runs a job: the first worker whose log shows a job started and not
    // ended. The workers consume as soon as they are up, and a job on a warm machine takes a
    // second or two, so the logs are polled closely rather than at a fixed moment.
    let log = |i: usize| state.join(format!("logs/worker-{i}.log"));
    let mid_job = |i: usize| {
        let l = log(i);
        count_lines(&l, " started") > count_lines(&l, " pass") + count_lines(&l, "fail ")
    };
    let t0 = Instant::now();
    let victim = loop {
        if let Some(i) = (1..=2).find(|&i| mid_job(i)) {
            break i;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "no worker started a job");
        std::thread::sleep(Duration::from_millis(5));
    };
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(worker_pid(victim)),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // A killed worker writes nothing more: its job still unended means the kill was mid-job
    // (a job that ended in the moment between the poll and the kill is a failed setup, not a
    // pass).
    assert!(
        mid_job(victim),
        "worker-{victim}'s job ended before the kill:\n{}",
        std::fs::read_to_string(log(victim)).unwrap_or_default()
    );
    let out = dispatch.wait_with_output().unwrap();
    ok(&out, "srukit dispatch --resume --wait");
    let doc = json(&out);

    // Six jobs, each collected once; seven starts (the killed one delivered again).
    let jobs = doc["jobs"].as_array().unwrap();
    let mut got: Vec<u64> = jobs.iter().map(|j| j["id"].as_u64().unwrap()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 6, "{doc:#}");
    assert_eq!(worker_logs(&state, " started"), 7, "six jobs and one redelivery");
    assert_eq!(
        count_lines(&state.join("logs/collector.log"), "unzip bookworm/amd64")
            + count_lines(&state.join("logs/collector.log"), "ca-certificates bookworm/amd64"),
        6
    );
    let collected = std::fs::read_dir(state.join("data/autopkgtest/bookworm/amd64/u/unzip")).unwrap().count()
        + std::fs::read_dir(state.join("data/autopkgtest/bookworm/amd64/c/ca-certificates")).unwrap().count();
    assert_eq!(collected, 6);
    // Both workers ran jobs.
    let records: Vec<serde_json::Value> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["jobs"].as_array().unwrap().clone())
        .collect();
    assert_eq!(records.len(), 6);
    for w in ["worker-1", "worker-2"] {
        assert!(records.iter().any(|r| r["worker"].as_str().unwrap_or("").ends_with(w)), "{w}: {records:#?}");
    }
    for r in &records {
        assert_eq!(r["status"], "pass", "{r:#}");
        assert!(r["queued_seconds"].as_f64().unwrap() >= 0.0);
        assert!(r["test_seconds"].as_f64().unwrap() > 0.0);
    }
    // verification-done per target, in each run's dispatch/result.json and reports.
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    for out in runs {
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("dispatch/result.json")).unwrap())
                .unwrap();
        assert_eq!(r["schema"], "srukit-dispatch-result");
        let targets = r["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0]["series"], "bookworm");
        assert_eq!(targets[0]["verdict"], "verification-done", "{r:#}");
        let sides: Vec<&str> = targets[0]["summary"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["side"].as_str().unwrap())
            .collect();
        assert!(sides.contains(&"before") && sides.contains(&"after"), "{sides:?}");
        let lp = std::fs::read_to_string(out.join("dispatch/report/launchpad.txt")).unwrap();
        assert!(lp.contains("bookworm: verification-done"), "{lp}");
        let junit = std::fs::read_to_string(out.join("dispatch/junit.xml")).unwrap();
        assert!(junit.contains("<testsuite name=\"bookworm\""), "{junit}");
    }
    let events = engine.stop(&state);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "restarted" && e["process"] == format!("worker-{victim}").as_str()),
        "the killed worker was restarted: {events:?}"
    );
}
