//! A running testbed (both backends): starts it from an image (overlay on a fresh
//! upper/work dir under the scratch dir), runs commands in it by entering its namespaces
//! (`nsenter -t <pid 1> -a`), copies files through `/proc/<pid 1>/root`, and tears it all
//! down at close or drop.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;

use super::boot;
use super::init::{self, Op, cstr};
use super::plan::{Network, nspawn_ops, unshare_ops};
use super::state::{self, State};
use super::{
    Backend, Bind, ExecOutput, ExecRequest, Image, MemCgroup, OpenOptions, Testbed, TestbedError, cgroup,
    procfs,
};
use crate::fsx;
use crate::process::{Background, Cmd, ProcessError};

/// The namespaces a testbed has (`-a` would also ask for a cgroup namespace, which a
/// kernel without CONFIG_CGROUPS' namespace support lacks, and ours never creates).
const NS_FLAGS: [&str; 5] = ["-m", "-u", "-i", "-n", "-p"];

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Running {
    state: State,
    backend: Backend,
    /// Host pid of the process whose namespaces commands enter (the testbed's pid 1).
    init_pid: u32,
    data_dir: PathBuf,
    spawned: Vec<Background>,
    seq: u32,
    done: bool,
    keep: bool,
    upper_on_disk: bool,
}

fn new_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{n}-{:05x}", std::process::id(), t & 0xfffff)
}

impl Running {
    pub fn open(image: &Image, opts: &OpenOptions) -> Result<Running, TestbedError> {
        state::reap_orphans();
        let id = new_id();
        let me = std::process::id();
        let scratch = super::image::cache_root().join("scratch").join(&id);
        let tracking: Vec<PathBuf> = cgroup::tracking_roots().into_iter().map(|r| r.join(&id)).collect();
        let mut cgroups = tracking.clone();
        if let Some(m) = cgroup::memory_root() {
            cgroups.push(m.join(&id));
        }
        let st = State {
            id: id.clone(),
            owner_pid: me,
            owner_start: procfs::start_time(me).unwrap_or(0),
            backend: match opts.backend {
                Backend::Unshare => "unshare".into(),
                Backend::Nspawn { boot: false } => "nspawn".into(),
                Backend::Nspawn { boot: true } => "nspawn-boot".into(),
            },
            image_name: image.name.clone(),
            image_hash: image.hash.clone(),
            scratch: scratch.clone(),
            pids: Vec::new(),
            cgroups,
            host_dirs: match opts.backend {
                Backend::Unshare => Vec::new(),
                Backend::Nspawn { .. } => vec![super::nspawn::propagate_dir(&id)],
            },
            keep: false,
            boot: None,
            created: chrono::Utc::now().to_rfc3339(),
        };
        // Recorded before anything exists, so a kill at any later moment leaves a trail.
        st.save()?;
        let mut tb = Running {
            state: st,
            backend: opts.backend,
            init_pid: 0,
            data_dir: scratch.join("data"),
            spawned: Vec::new(),
            seq: 0,
            done: false,
            keep: opts.keep,
            upper_on_disk: opts.upper_on_disk,
        };
        match tb.start(image, opts, &tracking) {
            Ok(()) => Ok(tb),
            Err(e) => {
                let _ = tb.teardown();
                Err(e)
            }
        }
    }

    fn start(&mut self, image: &Image, opts: &OpenOptions, tracking: &[PathBuf]) -> Result<(), TestbedError> {
        let scratch = self.state.scratch.clone();
        let rw = scratch.join("rw");
        for d in [&rw, &scratch.join("root"), &self.data_dir] {
            fsx::create_dir_all(d)?;
        }
        if matches!(self.backend, Backend::Nspawn { boot: true })
            && !image.lower.join("usr/lib/systemd/systemd").exists()
        {
            return Err(TestbedError::StartOther(format!(
                "image {} has no systemd to boot: add systemd-sysv to its packages",
                image.name
            )));
        }
        if !image.lower.join("usr").is_dir() {
            return Err(TestbedError::StartOther(format!(
                "image {} has no extracted tree at {}",
                image.name,
                image.lower.display()
            )));
        }
        let root = scratch.join("root");
        let mut ops = vec![(
            "make / private".to_string(),
            Op::Mount {
                src: None,
                target: cstr("/"),
                fstype: None,
                flags: libc::MS_REC | libc::MS_PRIVATE,
                data: None,
            },
        )];
        if !opts.upper_on_disk {
            // The writable layer on a tmpfs of the testbed's own mount namespace: it costs
            // no disk metadata work to create or delete, and vanishes with the namespace.
            ops.push((
                format!("mount tmpfs on {}", rw.display()),
                Op::Mount {
                    src: Some(cstr("tmpfs")),
                    target: cstr(&rw),
                    fstype: Some(cstr("tmpfs")),
                    flags: 0,
                    data: Some(cstr("mode=755")),
                },
            ));
        }
        for d in ["upper", "work"] {
            ops.push((format!("mkdir {d}"), Op::Mkdir { path: cstr(rw.join(d)), mode: 0o755 }));
        }
        // Extra layers sit above the image: overlayfs's lowerdir lists the topmost first.
        let lowers = opts
            .layers
            .iter()
            .chain(std::iter::once(&image.lower))
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        ops.push((
            format!("mount overlay on {}", root.display()),
            Op::Mount {
                src: Some(cstr("overlay")),
                target: cstr(&root),
                fstype: Some(cstr("overlay")),
                flags: 0,
                data: Some(cstr(format!(
                    // volatile: no syncfs of the (real-disk) upper fs at unmount, which
                    // otherwise flushes the whole disk and costs a second per close.
                    "lowerdir={},upperdir={},workdir={},volatile",
                    lowers,
                    rw.join("upper").display(),
                    rw.join("work").display()
                ))),
            },
        ));
        let uplink = opts.uplink && !opts.host_network;
        let resolv = if opts.host_network {
            std::fs::read("/etc/resolv.conf").ok()
        } else if uplink {
            Some(super::uplink::RESOLV_CONF.to_vec())
        } else {
            None
        };
        let net = Network { host: opts.host_network, resolv };
        // The data dir, then the caller's binds: each a host dir seen read-write inside.
        let data = Bind { host: self.data_dir.clone(), inside: PathBuf::from(super::INSIDE_DATA_DIR) };
        let mut binds = vec![data];
        for b in &opts.binds {
            if !b.inside.is_absolute() || !b.host.is_dir() {
                return Err(TestbedError::StartOther(format!(
                    "bind {} on {}: needs an existing host directory and an absolute path inside",
                    b.host.display(),
                    b.inside.display()
                )));
            }
            binds.push(b.clone());
        }
        let (flags, pid1_is_child) = match self.backend {
            Backend::Unshare => {
                unshare_ops(&mut ops, &root, &binds, &self.state.id, net);
                let mut f = CloneFlags::CLONE_NEWNS
                    | CloneFlags::CLONE_NEWPID
                    | CloneFlags::CLONE_NEWUTS
                    | CloneFlags::CLONE_NEWIPC;
                if !opts.host_network {
                    f |= CloneFlags::CLONE_NEWNET;
                }
                (f, true)
            }
            Backend::Nspawn { boot } => {
                nspawn_ops(&mut ops, &root, &binds, &self.state.id, &scratch, boot, net)?;
                (CloneFlags::CLONE_NEWNS, false)
            }
        };
        // PR_SET_PDEATHSIG follows the creating thread: only safe from the main thread, and
        // not for a testbed meant to outlive us.
        let main_thread = nix::unistd::gettid().as_raw() as u32 == std::process::id();
        let booted = matches!(self.backend, Backend::Nspawn { boot: true });
        let death_signal = if booted { libc::SIGTERM } else { libc::SIGKILL };
        let launched = Instant::now();
        let child = init::clone_child(init::Plan {
            ops,
            flags,
            parent_death_signal: (main_thread && !opts.keep).then_some(death_signal),
        })?;
        let child_start = procfs::start_time(child.pid).unwrap_or(0);
        self.state.pids.push((child.pid, child_start));
        self.state.save()?;
        for t in tracking {
            cgroup::create(t)?;
            cgroup::add_pid(t, child.pid)?;
        }
        child.release()?;
        if pid1_is_child {
            self.init_pid = self.state.pids[0].0;
        } else {
            self.init_pid = self.wait_for_nspawn_leader(booted)?;
            self.state.pids.push((self.init_pid, procfs::start_time(self.init_pid).unwrap_or(0)));
            self.state.save()?;
        }
        if uplink {
            let bg = super::uplink::start(self.init_pid)?;
            // Recorded for gc (a killed srukit's slirp4netns outlives it), killed at close.
            self.state.pids.push((bg.pid(), procfs::start_time(bg.pid()).unwrap_or(0)));
            self.spawned.push(bg);
            self.state.save()?;
        }
        if booted {
            let (nspawn, leader) = (self.state.pids[0], self.state.pids[1]);
            let log = self.state.scratch.join("nspawn.log");
            let died = move || {
                (!procfs::is_same(nspawn.0, nspawn.1) || !procfs::is_same(leader.0, leader.1)).then(|| {
                    let log = std::fs::read(&log).unwrap_or_default();
                    format!("systemd-nspawn's output (last lines):\n{}", crate::process::tail(&log, 15))
                })
            };
            let status = boot::wait_until_booted(&mut |req| self.exec(req), &died, launched)?;
            self.state.boot = Some(status);
            self.state.save()?;
        }
        Ok(())
    }

    /// systemd-nspawn forks the container's pid 1 (its NSpid ends in 1); it is ready once
    /// its own child runs (`--as-pid2` stub init forked our command), or, booted, once
    /// systemd is pid 1.
    fn wait_for_nspawn_leader(&self, boot: bool) -> Result<u32, TestbedError> {
        let nspawn = self.state.pids[0].0;
        let deadline = Instant::now() + Duration::from_secs(if boot { 30 } else { 10 });
        loop {
            if !procfs::is_same(nspawn, self.state.pids[0].1) {
                let log = std::fs::read(self.state.scratch.join("nspawn.log")).unwrap_or_default();
                return Err(TestbedError::StartOther(format!(
                    "systemd-nspawn exited:\n{}",
                    crate::process::tail(&log, 15)
                )));
            }
            let desc = procfs::descendants(nspawn);
            if let Some(&leader) = desc.iter().find(|&&p| {
                let ns = procfs::nspid(p);
                ns.len() >= 2 && ns.last() == Some(&1)
            }) {
                let ready = if boot {
                    procfs::comm(leader).as_deref() == Some("systemd")
                } else {
                    desc.iter().any(|&p| {
                        procfs::nspid(p).last() == Some(&2) && procfs::comm(p).as_deref() == Some("sleep")
                    })
                };
                if ready {
                    return Ok(leader);
                }
            }
            if Instant::now() > deadline {
                return Err(TestbedError::StartOther(
                    "systemd-nspawn did not start its container in time".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn teardown(&mut self) -> Result<(), TestbedError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let r = state::teardown(&self.state);
        for bg in self.spawned.drain(..) {
            bg.kill();
        }
        r
    }

    /// `nsenter -t PID -m -u -i -n -p -- env -i PATH=... [-C cwd] K=V... argv` (no `--wd`: entering the
    /// mount namespace already puts us at its root).
    fn enter(&self, req: &ExecRequest, argv: &[String]) -> Cmd {
        let mut c = Cmd::new("nsenter")
            .arg("-t")
            .arg(self.init_pid.to_string())
            .args(NS_FLAGS)
            .arg("--")
            .arg("/usr/bin/env")
            .arg("-i");
        if let Some(d) = &req.cwd {
            c = c.arg("-C").arg(d);
        }
        c = c
            .arg(format!("PATH={PATH}"))
            .arg("HOME=/root")
            .arg("LANG=C.UTF-8")
            .arg("DEBIAN_FRONTEND=noninteractive");
        for (k, v) in &req.env {
            c = c.arg(format!("{k}={v}"));
        }
        c.args(argv)
    }

    fn check_argv(&self, req: &ExecRequest) -> Result<(), TestbedError> {
        if req.argv.is_empty() {
            return Err(TestbedError::StartOther("exec with an empty command".into()));
        }
        Ok(())
    }

    /// A path inside the testbed, seen from the host.
    fn host_view(&self, inside: &Path) -> PathBuf {
        let rel = inside.strip_prefix("/").unwrap_or(inside);
        PathBuf::from(format!("/proc/{}/root", self.init_pid)).join(rel)
    }

    /// Leaves it running and marks it kept, so gc does not reap it (`gc --kept` does).
    fn keep(&mut self) -> Result<(), TestbedError> {
        self.state.keep = true;
        self.state.save()?;
        self.done = true;
        Ok(())
    }
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Testbed for Running {
    fn exec(&mut self, req: &ExecRequest) -> Result<ExecOutput, TestbedError> {
        self.check_argv(req)?;
        let mut argv = Vec::new();
        if let Some(t) = req.timeout {
            // Killed inside, so the command does not outlive its nsenter.
            argv.extend(["timeout".to_string(), "-k".into(), "2".into(), format!("{:.3}", t.as_secs_f64())]);
        }
        argv.extend(req.argv.iter().cloned());
        let mut cmd = self.enter(req, &argv);
        if let Some(input) = &req.stdin {
            cmd = cmd.stdin_bytes(input.clone());
        }
        if let Some(t) = req.timeout {
            cmd = cmd.timeout(t + Duration::from_secs(5));
        }
        if let Some(log) = &req.log {
            cmd = cmd.output_to_file(log);
        }
        let started = Instant::now();
        let timed_out =
            |t| TestbedError::Timeout { id: self.state.id.clone(), cmd: req.argv.join(" "), timeout: t };
        let out = match cmd.output_unchecked() {
            Ok(o) => o,
            Err(ProcessError::Timeout { .. }) => return Err(timed_out(req.timeout.unwrap_or_default())),
            Err(e) => return Err(e.into()),
        };
        let duration = started.elapsed();
        let status = exit_code(&out.status);
        if let Some(t) = req.timeout
            && (status == 124 || status == 137)
            && duration >= t
        {
            return Err(timed_out(t));
        }
        Ok(ExecOutput { status, stdout: out.stdout, stderr: out.stderr, duration })
    }

    fn spawn(&mut self, req: &ExecRequest) -> Result<u32, TestbedError> {
        self.check_argv(req)?;
        self.seq += 1;
        let pidfile = format!("/run/.srukit-spawn-{}", self.seq);
        let mut argv =
            vec!["sh".to_string(), "-c".into(), format!("echo $$ > {pidfile}; exec \"$@\""), "sh".into()];
        argv.extend(req.argv.iter().cloned());
        let mut cmd = self.enter(req, &argv);
        if let Some(log) = &req.log {
            cmd = cmd.output_to_file(log);
        }
        let bg = cmd.start()?;
        let host_pidfile = self.host_view(Path::new(&pidfile));
        let deadline = Instant::now() + Duration::from_secs(10);
        let inner: u32 = loop {
            if let Some(p) = std::fs::read_to_string(&host_pidfile).ok().and_then(|t| t.trim().parse().ok()) {
                break p;
            }
            if let Some(status) = bg.try_wait() {
                return Err(TestbedError::StartOther(format!(
                    "`{}` exited at once ({status})",
                    req.argv.join(" ")
                )));
            }
            if Instant::now() > deadline {
                bg.kill();
                return Err(TestbedError::StartOther(format!("`{}` did not start", req.argv.join(" "))));
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let _ = std::fs::remove_file(&host_pidfile);
        self.spawned.push(bg);
        let pid = self.host_pid(inner)?;
        // The pid file is written just before `exec`: return once the wrapper is replaced,
        // so the caller's /proc/<pid> is the daemon's (comm, fds).
        while Instant::now() < deadline {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if !String::from_utf8_lossy(&cmdline).contains(".srukit-spawn-") {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(pid)
    }

    fn copy_in(&mut self, host: &Path, inside: &Path) -> Result<(), TestbedError> {
        let dest = self.host_view(inside);
        if let Some(parent) = dest.parent() {
            fsx::create_dir_all(parent)?;
        }
        if fsx::metadata(host)?.is_dir() {
            fsx::copy_tree(host, &dest)?;
        } else {
            fsx::copy(host, &dest)?;
        }
        Ok(())
    }

    fn copy_out(&mut self, inside: &Path, host: &Path) -> Result<(), TestbedError> {
        let src = self.host_view(inside);
        if let Some(parent) = host.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsx::create_dir_all(parent)?;
        }
        if fsx::metadata(&src)?.is_dir() {
            fsx::copy_tree(&src, host)?;
        } else {
            fsx::copy(&src, host)?;
        }
        Ok(())
    }

    fn connect_tcp(&self, addr: SocketAddr) -> Result<TcpStream, TestbedError> {
        let ns_path = format!("/proc/{}/ns/net", self.init_pid);
        let ns = std::fs::File::open(&ns_path).map_err(|source| crate::fsx::FsError {
            op: "open",
            path: ns_path.clone().into(),
            source,
        })?;
        // setns changes only the calling thread: do it on a throwaway one. The socket keeps
        // the namespace it was made in.
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|errno| TestbedError::Sys {
                    what: "setns into the testbed's network".into(),
                    errno,
                })?;
                TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .map_err(|e| TestbedError::StartOther(format!("connect to {addr} inside testbed: {e}")))
            })
            .join()
            .unwrap_or_else(|_| Err(TestbedError::StartOther("connect thread panicked".into())))
        })
    }

    fn host_pid(&self, inner_pid: u32) -> Result<u32, TestbedError> {
        let ns = procfs::pid_ns(self.init_pid)
            .ok_or_else(|| TestbedError::StartOther(format!("testbed {} is not running", self.state.id)))?;
        procfs::pids_in_ns(ns).into_iter().find(|&p| procfs::nspid(p).last() == Some(&inner_pid)).ok_or_else(
            || TestbedError::StartOther(format!("no process {inner_pid} in testbed {}", self.state.id)),
        )
    }

    fn host_pids_named(&self, name: &str) -> Result<Vec<u32>, TestbedError> {
        let ns = procfs::pid_ns(self.init_pid)
            .ok_or_else(|| TestbedError::StartOther(format!("testbed {} is not running", self.state.id)))?;
        Ok(procfs::pids_in_ns(ns).into_iter().filter(|&p| procfs::comm(p).as_deref() == Some(name)).collect())
    }

    fn memory_cgroup(&mut self, name: &str) -> Result<MemCgroup, TestbedError> {
        let root = cgroup::memory_root().ok_or_else(|| TestbedError::Cgroup {
            path: "/sys/fs/cgroup".into(),
            msg: "no memory controller (neither cgroup v1 memory nor v2 with memory)".into(),
        })?;
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(TestbedError::StartOther(format!("bad cgroup name {name:?}")));
        }
        MemCgroup::new(root.join(&self.state.id).join(name))
    }

    fn upper_dir(&self) -> Option<PathBuf> {
        self.upper_on_disk.then(|| self.state.scratch.join("rw/upper"))
    }

    fn data_dir(&self) -> Result<&Path, TestbedError> {
        Ok(&self.data_dir)
    }

    fn init_pid(&self) -> Option<u32> {
        Some(self.init_pid)
    }

    fn id(&self) -> &str {
        &self.state.id
    }

    fn boot_status(&self) -> Option<&boot::BootStatus> {
        self.state.boot.as_ref()
    }

    fn backend_name(&self) -> String {
        match self.backend {
            Backend::Unshare => "unshare".into(),
            Backend::Nspawn { boot: false } => "nspawn".into(),
            Backend::Nspawn { boot: true } => "nspawn-boot".into(),
        }
    }

    fn close(mut self: Box<Self>) -> Result<(), TestbedError> {
        if self.keep {
            for bg in self.spawned.drain(..) {
                std::mem::forget(bg);
            }
            return self.keep();
        }
        self.teardown()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.keep && !self.done {
            let _ = self.keep();
            return;
        }
        let _ = self.teardown();
    }
}
