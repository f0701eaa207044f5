//! A testbed behind any autopkgtest virtualisation server (`autopkgtest-virt-qemu`, `-ssh`,
//! `-unshare`, `-incus`, srukit's own `-srukit`...): the `Testbed` trait over the protocol
//! client. Opens with `open`, `capabilities`, `print-execute-command`; runs every command
//! through the exec prefix (`exec`), copies with `copydown`/`copyup` (`copy`), and tears
//! down with `close` + `quit`. What the host cannot do through a server (a TCP connection
//! into the testbed, its pids, a memory cgroup, a shared data dir) is a typed
//! `MissingCapability` error, so a check needing it errors instead of passing.

mod copy;
mod exec;
pub mod protocol;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use self::protocol::{Client, OPEN_TIMEOUT, REQUEST_TIMEOUT};
use super::{
    BootStatus, ExecOutput, ExecRequest, Isolation, MemCgroup, OpenOptions, Testbed, TestbedError, VirtInfo,
    VirtSpec,
};

/// A background process started by `spawn`: its pid inside and the host process of the
/// exec prefix carrying it.
struct Spawned {
    pid: u32,
    carrier: crate::process::Background,
}

pub struct VirtTestbed {
    client: Option<Client>,
    argv: Vec<String>,
    server: String,
    id: String,
    scratch: String,
    caps: Vec<String>,
    prefix: Vec<String>,
    spawned: Vec<Spawned>,
    /// The server's stderr log when srukit chose where it goes: removed after a clean
    /// teardown, kept (and named in errors) otherwise.
    own_log: Option<PathBuf>,
}

/// Where a server's stderr goes when the caller names no log.
fn default_log(server: &str) -> Result<PathBuf, TestbedError> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = super::cache_root().join("virt-logs");
    crate::fsx::create_dir_all(&dir)?;
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(dir.join(format!("{server}-{}-{n}.log", std::process::id())))
}

impl VirtTestbed {
    /// Spawns the server and opens its testbed; refuses one that lacks the isolation the
    /// caller needs, or reports another release than the definition's.
    pub fn open(spec: &VirtSpec, opts: &OpenOptions) -> Result<VirtTestbed, TestbedError> {
        let program = &spec.argv[0];
        let server = program.rsplit('/').next().unwrap_or(program).to_string();
        if let Some(b) = opts.binds.first() {
            // The virt protocol has no verb for a host directory inside the testbed.
            return Err(TestbedError::StartOther(format!(
                "virt server {server} cannot bind {} into its testbed",
                b.host.display()
            )));
        }
        let own_log = match &opts.server_log {
            Some(_) => None,
            None => Some(default_log(&server)?),
        };
        let log = opts.server_log.clone().or_else(|| own_log.clone()).expect("one of them is set");
        let mut client = Client::spawn(&spec.argv, &log)?;
        let id = format!("virt-{server}-{}", client.pid());
        let opened = (|| {
            let scratch = client.request(&["open"], Some(1), OPEN_TIMEOUT)?.remove(0);
            // adt_testbed.py asks for capabilities after `open` (an ssh setup script
            // only knows them then).
            let caps = client.request(&["capabilities"], None, REQUEST_TIMEOUT)?;
            let word = client.request_raw(&["print-execute-command"], Some(1), REQUEST_TIMEOUT)?.remove(0);
            Ok::<_, TestbedError>((scratch, caps, protocol::decode_prefix(&word)))
        })();
        let (scratch, caps, prefix) = match opened {
            Ok(v) => v,
            Err(e) => {
                client.kill();
                return Err(e);
            }
        };
        let mut tb = VirtTestbed {
            client: Some(client),
            argv: spec.argv.clone(),
            server,
            id,
            scratch,
            caps,
            prefix,
            spawned: Vec::new(),
            own_log,
        };
        if let Err(e) = tb.check(spec, opts) {
            let _ = tb.teardown();
            return Err(e);
        }
        Ok(tb)
    }

    fn check(&mut self, spec: &VirtSpec, opts: &OpenOptions) -> Result<(), TestbedError> {
        let has = |c: &str| self.caps.iter().any(|x| x == c);
        let missing = match opts.isolation {
            Some(Isolation::Machine) if !has("isolation-machine") => Some("isolation-machine"),
            Some(Isolation::Container) if !has("isolation-machine") && !has("isolation-container") => {
                Some("isolation-container")
            }
            _ => None,
        };
        if let Some(capability) = missing {
            return Err(self.missing(capability));
        }
        if let Some(want) = &spec.release {
            let out = self.exec(&ExecRequest::shell(". /etc/os-release; echo \"$VERSION_CODENAME\""))?;
            let got = out.stdout_str().trim().to_string();
            if !out.success() || &got != want {
                return Err(TestbedError::VirtServer {
                    server: self.server.clone(),
                    msg: format!(
                        "the testbed reports release {got:?} in /etc/os-release, the definition says {want:?}"
                    ),
                });
            }
        }
        Ok(())
    }

    fn missing(&self, capability: &str) -> TestbedError {
        TestbedError::MissingCapability { server: self.server.clone(), capability: capability.to_string() }
    }

    fn client(&mut self) -> Result<&mut Client, TestbedError> {
        let server = self.server.clone();
        self.client.as_mut().ok_or(TestbedError::VirtServer { server, msg: "already closed".into() })
    }

    /// Kills what `spawn` started, copies its output to the host logs, then `close` + `quit`.
    fn teardown(&mut self) -> Result<(), TestbedError> {
        if self.client.is_none() {
            return Ok(());
        }
        let spawned = std::mem::take(&mut self.spawned);
        for s in &spawned {
            s.carrier.kill_group();
        }
        if !spawned.is_empty() {
            // A remote process outlives its carrier (ssh does not signal it): kill it by
            // its pid there too. Pid 1 is skipped: it means the process was pid 1 of its
            // own pid namespace (virt-unshare), gone with its carrier, and here would be
            // the killing shell's own namespace's init.
            let pids: Vec<String> =
                spawned.iter().filter(|s| s.pid != 1).map(|s| s.pid.to_string()).collect();
            if !pids.is_empty() {
                let _ = self
                    .exec(&ExecRequest::shell(&format!("kill -KILL {} 2>/dev/null; true", pids.join(" "))));
            }
        }
        self.client.take().expect("checked above").quit(true)?;
        if let Some(log) = self.own_log.take() {
            let _ = std::fs::remove_file(log);
        }
        Ok(())
    }
}

impl Testbed for VirtTestbed {
    fn exec(&mut self, req: &ExecRequest) -> Result<ExecOutput, TestbedError> {
        self.client()?;
        exec::run(&self.server, &self.prefix, req)
    }

    /// Starts `req` in the background through the prefix, the prefix process kept running
    /// on the host as its carrier: a server may end everything an exec started when the
    /// exec ends (virt-unshare runs each in its own pid namespace), so a detached
    /// (setsid/nohup) child would not survive there. The shell in front writes its pid to
    /// a file in the scratch dir, read back: the pid is the testbed's (the host cannot see
    /// a virt server's processes). Output streams to `req.log` on the host.
    fn spawn(&mut self, req: &ExecRequest) -> Result<u32, TestbedError> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pidf = format!("{}/srukit-spawn-{}-{n}.pid", self.scratch, std::process::id());
        let inner = exec::inner_argv(&ExecRequest { timeout: None, ..req.clone() });
        let mut words: Vec<String> =
            ["sh", "-c", "echo $$ >\"$0\" && exec \"$@\""].map(String::from).to_vec();
        words.push(pidf.clone());
        words.extend(inner);
        let argv = exec::through(&self.prefix, &words);
        let mut cmd = crate::process::Cmd::new(&argv[0]).args(&argv[1..]).own_process_group();
        if let Some(log) = &req.log {
            cmd = cmd.output_to_file(log);
        }
        let carrier = cmd.start()?;
        let shown = crate::process::shell_quote_all(&req.argv);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let pid = loop {
            let read = self.exec(&ExecRequest::new(["cat", &pidf]))?;
            if let Ok(pid) = read.stdout_str().trim().parse::<u32>() {
                break pid;
            }
            if let Some(status) = carrier.try_wait() {
                return Err(TestbedError::VirtServer {
                    server: self.server.clone(),
                    msg: format!("`{shown}` in the background {} at once", crate::process::describe(&status)),
                });
            }
            if std::time::Instant::now() > deadline {
                carrier.kill_group();
                return Err(TestbedError::VirtServer {
                    server: self.server.clone(),
                    msg: format!("`{shown}` in the background: no pid in {pidf} within 60s"),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        self.spawned.push(Spawned { pid, carrier });
        Ok(pid)
    }

    fn copy_in(&mut self, host: &Path, inside: &Path) -> Result<(), TestbedError> {
        // The parent made first, as srukit's own backends do (a server's copydown may not).
        let parent = inside.parent().unwrap_or(Path::new("/")).display().to_string();
        let prep = ExecRequest::new(["mkdir", "-p", &parent]);
        let out = self.exec(&prep)?;
        if !out.success() {
            return Err(TestbedError::VirtServer {
                server: self.server.clone(),
                msg: format!("could not prepare {}: {}", inside.display(), out.stderr_str().trim()),
            });
        }
        copy::down(self.client()?, host, inside)
    }

    fn copy_out(&mut self, inside: &Path, host: &Path) -> Result<(), TestbedError> {
        let is_dir = self.exec(&ExecRequest::new(["test", "-d", &inside.display().to_string()]))?.success();
        if let Some(parent) = host.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::fsx::create_dir_all(parent)?;
        }
        copy::up(self.client()?, inside, host, is_dir)
    }

    fn connect_tcp(&self, _addr: SocketAddr) -> Result<TcpStream, TestbedError> {
        Err(self.missing("connect_tcp"))
    }

    fn host_pid(&self, _inner_pid: u32) -> Result<u32, TestbedError> {
        Err(self.missing("host_pid"))
    }

    fn host_pids_named(&self, _name: &str) -> Result<Vec<u32>, TestbedError> {
        Err(self.missing("host_pids_named"))
    }

    fn memory_cgroup(&mut self, _name: &str) -> Result<MemCgroup, TestbedError> {
        Err(self.missing("memory_cgroup"))
    }

    fn data_dir(&self) -> Result<&Path, TestbedError> {
        Err(self.missing("data_dir"))
    }

    fn init_pid(&self) -> Option<u32> {
        None
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn boot_status(&self) -> Option<&BootStatus> {
        None
    }

    fn backend_name(&self) -> String {
        format!("virt:{}", self.server)
    }

    fn virt_info(&self) -> Option<VirtInfo> {
        Some(VirtInfo {
            argv: self.argv.clone(),
            capabilities: self.caps.clone(),
            exec_prefix: self.prefix.clone(),
        })
    }

    fn close(mut self: Box<Self>) -> Result<(), TestbedError> {
        self.teardown()
    }
}

impl Drop for VirtTestbed {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}
