//! `srukit debci up`: the foreground supervisor. Starts epmd and the broker (loopback), creates
//! debci's database, starts one collector and N workers (`debci worker --backend srukit`, as
//! root: the srukit backend changes only its testbed, never the host), says "ready" when the
//! broker answers and every worker consumes, restarts whatever exits (workers exit when the
//! broker goes away; nothing else would restart them without systemd), and on SIGTERM/SIGINT
//! stops workers, collector, broker and epmd, in that order, leaving nothing behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, killpg, sigaction};
use nix::unistd::Pid;
use serde::Serialize;

use super::state::{Paths, State, WorkerState};
use super::{DispatchError, Result, broker, debci};
use crate::fsx;
use crate::process::{Background, Cmd};

/// What `debci up` was asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub state_dir: PathBuf,
    pub workers: usize,
    /// The testbed definition of every job (`SRUKIT_DEBCI_TESTBED`).
    pub testbed: PathBuf,
    /// Per suite: `SRUKIT_DEBCI_TESTBED_<suite>`.
    pub suite_testbeds: Vec<(String, PathBuf)>,
    pub ready_timeout: Duration,
}

/// A line of progress: `ready`, `restarted`, `stopping`, `stopped`.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub event: &'a str,
    #[serde(flatten)]
    pub detail: serde_json::Value,
}

static SIGNALLED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: i32) {
    SIGNALLED.store(sig, Ordering::SeqCst);
}

fn catch_signals() {
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic.
        let _ = unsafe { sigaction(s, &action) };
    }
}

/// One supervised process: how to start it again, and the running one.
struct Child {
    name: String,
    cmd: Cmd,
    proc: Background,
    restarts: u32,
    last_start: Instant,
}

impl Child {
    fn start(name: &str, cmd: Cmd) -> Result<Child> {
        let proc = cmd.start()?;
        Ok(Child { name: name.to_string(), cmd, proc, restarts: 0, last_start: Instant::now() })
    }

    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn restart(&mut self) -> Result<()> {
        self.proc = self.cmd.start()?;
        self.restarts += 1;
        self.last_start = Instant::now();
        Ok(())
    }

    /// SIGTERM to its process group (it is a session leader: `setsid`), then SIGKILL.
    fn stop(&self, grace: Duration) {
        let pg = Pid::from_raw(self.pid() as i32);
        let _ = killpg(pg, Signal::SIGTERM);
        let t0 = Instant::now();
        while self.proc.try_wait().is_none() && t0.elapsed() < grace {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(pg, Signal::SIGKILL);
        self.proc.kill();
    }
}

pub struct Engine {
    paths: Paths,
    opts: UpOptions,
    epmd: Background,
    broker: Background,
    collector: Option<Child>,
    workers: Vec<Child>,
    installed_backend: bool,
    started: String,
    arch: String,
}

fn arch() -> Result<String> {
    Ok(Cmd::new("dpkg").arg("--print-architecture").read()?)
}

/// The environment every debci process gets.
fn debci_cmd(paths: &Paths, opts: &UpOptions, args: &[&str]) -> Cmd {
    let path = format!("{}:{}", paths.bin().display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Cmd::new("setsid")
        .arg("debci")
        .args(args)
        .env("debci_config_dir", paths.config())
        .env("TMPDIR", paths.tmp())
        .env("PATH", path)
        .env("SRUKIT_DEBCI_TESTBED", &opts.testbed)
        .cwd("/usr/share/debci");
    for (suite, def) in &opts.suite_testbeds {
        c = c.env(format!("SRUKIT_DEBCI_TESTBED_{}", suite.replace(['-', '.'], "_")), def);
    }
    c
}

impl Engine {
    /// Starts everything and returns once ready (or stops what it started and errs).
    pub fn up(opts: UpOptions) -> Result<Engine> {
        broker::check_installed()?;
        debci::check_installed()?;
        broker::check_ports()?;
        catch_signals();
        let paths = Paths::new(&opts.state_dir);
        for d in [paths.logs(), paths.tmp(), paths.bin(), paths.repos()] {
            fsx::create_dir_all(&d)?;
        }
        // The virt server the backend calls, found first on the workers' PATH: this srukit.
        let link = paths.bin().join("autopkgtest-virt-srukit");
        let _ = fsx::remove_file_if_exists(&link);
        let exe = std::env::current_exe().map_err(|e| DispatchError::Debci(e.to_string()))?;
        fsx::symlink(&exe, &link)?;
        let arch = arch()?;
        debci::write_config(&paths, &broker::url(), &arch)?;
        let installed_backend = debci::install_backend()?;
        let epmd = broker::start_epmd(&paths)?;
        let broker_proc = match broker::start(&paths) {
            Ok(b) => b,
            Err(e) => {
                epmd.kill();
                return Err(e);
            }
        };
        let mut engine = Engine {
            paths,
            opts,
            epmd,
            broker: broker_proc,
            collector: None,
            workers: Vec::new(),
            installed_backend,
            started: chrono_now(),
            arch,
        };
        if let Err(e) = engine.start_rest() {
            engine.stop();
            return Err(e);
        }
        Ok(engine)
    }

    fn start_rest(&mut self) -> Result<()> {
        broker::await_startup(&self.paths, &self.broker, Duration::from_secs(60))?;
        debci::migrate(&self.paths)?;
        // Declared now, so a run with no worker can enqueue (durable, x-max-priority 10).
        debci::cmd(
            &self.paths,
            &["amqp", "declare-queue", "--arch", &self.arch, "--backend", debci::BACKEND],
        )
        .timeout(Duration::from_secs(60))
        .run()?;
        let c = debci_cmd(&self.paths, &self.opts, &["collector"])
            .append_to_file(self.paths.logs().join("collector.log"));
        self.collector = Some(Child::start("collector", c)?);
        for i in 1..=self.opts.workers {
            let name = format!("worker-{i}");
            let c = debci_cmd(&self.paths, &self.opts, &["worker", "--backend", debci::BACKEND])
                .env("SRUKIT_DEBCI_WORKER", &name)
                .append_to_file(self.paths.logs().join(format!("{name}.log")));
            self.workers.push(Child::start(&name, c)?);
        }
        self.wait_consumers()?;
        self.state().write()
    }

    pub fn queue(&self) -> String {
        format!("debci-tests-{}-{}", self.arch, debci::BACKEND)
    }

    fn wait_consumers(&self) -> Result<()> {
        let t0 = Instant::now();
        loop {
            for w in &self.workers {
                if w.proc.try_wait().is_some() {
                    return Err(DispatchError::DiedAtStart {
                        what: w.name.clone(),
                        log: self.paths.logs().join(format!("{}.log", w.name)),
                    });
                }
            }
            let consumers = broker::list_queues(&self.paths)?
                .into_iter()
                .find(|q| q.name == self.queue())
                .map(|q| q.consumers)
                .unwrap_or(0);
            if consumers as usize >= self.opts.workers {
                return Ok(());
            }
            if t0.elapsed() > self.opts.ready_timeout {
                return Err(DispatchError::WorkersTimeout {
                    seconds: self.opts.ready_timeout.as_secs(),
                    consumers,
                    workers: self.opts.workers,
                    log: self.paths.logs(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn state(&self) -> State {
        State {
            schema: super::state::SCHEMA.into(),
            state_dir: self.paths.root.clone(),
            amqp: broker::url(),
            node: broker::NODE.into(),
            arch: self.arch.clone(),
            backend: debci::BACKEND.into(),
            queue: self.queue(),
            supervisor_pid: std::process::id(),
            broker_pid: self.broker.pid(),
            collector_pid: self.collector.as_ref().map(Child::pid).unwrap_or(0),
            workers: self
                .workers
                .iter()
                .map(|w| WorkerState { name: w.name.clone(), pid: w.pid(), restarts: w.restarts })
                .collect(),
            started: self.started.clone(),
        }
    }

    /// Supervises until SIGTERM/SIGINT/SIGHUP; `say` gets each restart. Returns the signal.
    pub fn supervise(&mut self, say: &mut dyn FnMut(Event)) -> Result<i32> {
        loop {
            let sig = SIGNALLED.load(Ordering::SeqCst);
            if sig != 0 {
                return Ok(sig);
            }
            let mut changed = false;
            if self.broker.try_wait().is_some() {
                // Messages are persistent and the queue durable: a new broker on the same
                // mnesia dir has them all.
                self.broker = broker::start(&self.paths)?;
                broker::await_startup(&self.paths, &self.broker, Duration::from_secs(60))?;
                say(Event { event: "restarted", detail: serde_json::json!({"process": "rabbitmq-server"}) });
                changed = true;
            }
            for c in self.workers.iter_mut().chain(self.collector.as_mut()) {
                // At most one restart a second: a broker that is still down makes them exit
                // at once.
                if c.proc.try_wait().is_some() && c.last_start.elapsed() > Duration::from_secs(1) {
                    c.restart()?;
                    say(Event {
                        event: "restarted",
                        detail: serde_json::json!({"process": c.name, "pid": c.pid(), "restarts": c.restarts}),
                    });
                    changed = true;
                }
            }
            if changed {
                self.state().write()?;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops everything it started; nothing is left (processes, ports, the workers' temp dirs,
    /// the backend it installed). Messages not yet consumed stay in the mnesia dir.
    pub fn stop(&mut self) {
        for w in &self.workers {
            w.stop(Duration::from_secs(10));
        }
        if let Some(c) = &self.collector {
            c.stop(Duration::from_secs(10));
        }
        broker::stop(&self.paths, &self.broker);
        let _ = killpg(Pid::from_raw(self.broker.pid() as i32), Signal::SIGKILL);
        self.epmd.kill();
        let _ = killpg(Pid::from_raw(self.epmd.pid() as i32), Signal::SIGKILL);
        let _ = fsx::remove_dir_all(&self.paths.tmp());
        let _ = fsx::create_dir_all(&self.paths.tmp());
        if self.installed_backend {
            debci::remove_backend();
        }
        let _ = fsx::remove_file_if_exists(&self.paths.state_file());
    }
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether `dir` is usable as a state dir: absolute, no spaces (it ends up in apt source
/// lines and in the backend's arguments).
pub fn check_state_dir(dir: &Path) -> std::result::Result<PathBuf, crate::UsageError> {
    let abs = std::path::absolute(dir).map_err(|e| crate::UsageError(format!("{}: {e}", dir.display())))?;
    if abs.to_string_lossy().chars().any(char::is_whitespace) {
        return Err(crate::UsageError(format!(
            "{}: a state dir path must not contain spaces",
            abs.display()
        )));
    }
    Ok(abs)
}
