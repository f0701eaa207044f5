//! Testbeds: cached Debian images and fast, isolated, always-cleaned-up containers behind one
//! trait. Reads `testbeds/<name>.toml`; writes images under `$XDG_CACHE_HOME/srukit/images`,
//! per-testbed scratch under `$XDG_CACHE_HOME/srukit/scratch` and run state under
//! `/run/srukit/testbeds`.
//!
//! Callers (build, verify) use only `ensure_image`, `open` and the `Testbed` trait.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::{Exit, ExitCodeOf};

mod boot;
mod cgroup;
pub mod definition;
mod image;
mod init;
pub mod nspawn;
mod plan;
mod procfs;
mod running;
pub mod state;
mod uplink;
pub mod virt_client;
pub mod virt_server;

pub use boot::BootStatus;
pub use cgroup::MemCgroup;
pub use definition::Definition;
pub use image::{Image, ImageInfo, VirtSpec, cache_root, ensure_image, list_images, remove_image};
pub use state::{GcReport, gc, reap_orphans};

/// Which container technology runs a testbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// Native namespaces + overlayfs (the default, fastest).
    #[default]
    Unshare,
    /// systemd-nspawn; `boot` runs the image's systemd as pid 1.
    Nspawn { boot: bool },
}

#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub backend: Backend,
    /// Share the host's network namespace (for `apt-get` against the mirror); the host's
    /// /etc/resolv.conf is copied in.
    pub host_network: bool,
    /// Without `host_network`: the testbed's own network namespace gets a user-mode uplink
    /// (slirp4netns: NAT and a DNS forwarder), so it reaches the mirror while its loopback
    /// and ports stay its own (testbeds running at once do not collide on a port).
    pub uplink: bool,
    /// Leave the testbed running (and its run dir) after close, for inspection.
    pub keep: bool,
    /// Put the overlay's writable layer on the real disk (scratch dir) instead of a
    /// per-testbed tmpfs (RAM): for testbeds that write gigabytes outside the data dir.
    pub upper_on_disk: bool,
    /// What the plan needs a virt-server testbed to isolate (`needs = ["init"]` wants a
    /// container or a machine, `needs = ["machine"]` a machine); checked against the
    /// server's capabilities at open. srukit's own backends ignore it.
    pub isolation: Option<Isolation>,
    /// A virt server's stderr goes here (the run's log); else beside the host's temp files.
    pub server_log: Option<PathBuf>,
    /// Read-only overlay layers stacked over the image, topmost first (a build's
    /// "build-deps installed" layer). Never written: the testbed's writes go to its own
    /// upper dir. srukit's own backends only; a virt server refuses them.
    pub layers: Vec<PathBuf>,
    /// Host directories bound read-write into the testbed (a build cache that outlives it);
    /// srukit's own backends only: a virt server refuses them at open.
    pub binds: Vec<Bind>,
}

/// A host directory that appears read-write at `inside` in the testbed: what is written
/// there outlives the testbed (everything else goes with its overlay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    /// Absolute; made (with its parents) in the testbed's root if the image lacks it.
    pub inside: PathBuf,
}

/// The isolation a plan needs from a testbed (autopkgtest's `isolation-*` capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Container,
    Machine,
}

/// One command to run inside a testbed.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// Added to a clean environment (PATH, HOME=/root, LANG=C.UTF-8, DEBIAN_FRONTEND).
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
    /// Stream stdout and stderr to this host file instead of capturing them.
    pub log: Option<PathBuf>,
}

impl ExecRequest {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(argv: I) -> ExecRequest {
        ExecRequest { argv: argv.into_iter().map(Into::into).collect(), ..Default::default() }
    }
    /// `sh -c SCRIPT`.
    pub fn shell(script: &str) -> ExecRequest {
        ExecRequest::new(["sh", "-c", script])
    }
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    pub fn cwd(mut self, d: impl Into<PathBuf>) -> Self {
        self.cwd = Some(d.into());
        self
    }
    pub fn stdin(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(b.into());
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
    pub fn log(mut self, p: impl Into<PathBuf>) -> Self {
        self.log = Some(p.into());
        self
    }
}

#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// The exit code; 128+N when killed by signal N.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A running testbed: open, exec, copy in, copy out, close (autopkgtest's virt-server verbs).
pub trait Testbed: Send {
    /// Runs a command to completion; a non-zero exit is an `ExecOutput`, not an error.
    fn exec(&mut self, req: &ExecRequest) -> Result<ExecOutput, TestbedError>;
    /// Starts a background process (e.g. `tgtd -f`); returns its pid as seen from the host.
    /// Its output goes to `req.log` (a host file) when given. Killed at close.
    fn spawn(&mut self, req: &ExecRequest) -> Result<u32, TestbedError>;
    /// Copies a host file or directory to `inside` (created or replaced).
    fn copy_in(&mut self, host: &Path, inside: &Path) -> Result<(), TestbedError>;
    /// Copies a file or directory from inside the testbed to `host`.
    fn copy_out(&mut self, inside: &Path, host: &Path) -> Result<(), TestbedError>;
    /// A TCP connection made inside the testbed's network namespace, usable from the host.
    fn connect_tcp(&self, addr: SocketAddr) -> Result<TcpStream, TestbedError>;
    /// Host pid of a process given its pid inside the testbed.
    fn host_pid(&self, inner_pid: u32) -> Result<u32, TestbedError>;
    /// Host pids of the testbed's processes whose command name (`comm`) is `name`, so the
    /// host can read their /proc (e.g. `/proc/<pid>/fdinfo`).
    fn host_pids_named(&self, name: &str) -> Result<Vec<u32>, TestbedError>;
    /// A memory cgroup (v1, or v2 where it has the memory controller) removed at close.
    fn memory_cgroup(&mut self, name: &str) -> Result<MemCgroup, TestbedError>;
    /// A real-disk directory, the same as `INSIDE_DATA_DIR` inside the testbed (a virt
    /// server has none: a missing capability).
    fn data_dir(&self) -> Result<&Path, TestbedError>;
    /// Host pid of the testbed's pid 1; None where the host cannot see it (a virt server).
    fn init_pid(&self) -> Option<u32>;
    /// The testbed's id (its run dir is `/run/srukit/testbeds/<id>`).
    fn id(&self) -> &str;
    /// How a booted testbed (`Backend::Nspawn { boot: true }`) came up; None for the others.
    fn boot_status(&self) -> Option<&BootStatus>;
    /// What runs the testbed, as result.json's `testbed.backend` says it (`unshare`,
    /// `virt:autopkgtest-virt-qemu`, ...).
    fn backend_name(&self) -> String;
    /// A virt server's argv and capabilities, for the run's evidence; None for srukit's own.
    fn virt_info(&self) -> Option<VirtInfo> {
        None
    }
    /// The overlay's writable layer as the host sees it, while the testbed runs: only with
    /// `upper_on_disk` (a tmpfs upper lives in the testbed's own mount namespace), and only
    /// for srukit's own backends. Read it, never write it (overlayfs forbids that).
    fn upper_dir(&self) -> Option<PathBuf> {
        None
    }
    /// Tears everything down: processes, mounts, cgroups, scratch and run dir.
    fn close(self: Box<Self>) -> Result<(), TestbedError>;
}

/// Where `data_dir()` appears inside every testbed.
pub const INSIDE_DATA_DIR: &str = "/srv/data";

/// What a virt-server testbed records about its server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VirtInfo {
    pub argv: Vec<String>,
    pub capabilities: Vec<String>,
    /// What `print-execute-command` answered, decoded.
    pub exec_prefix: Vec<String>,
}

/// Starts a fresh testbed from an image, or through the virt server a definition names.
pub fn open(image: &Image, opts: &OpenOptions) -> Result<Box<dyn Testbed>, TestbedError> {
    if let Some(spec) = &image.virt {
        if !opts.layers.is_empty() {
            return Err(TestbedError::MissingCapability {
                server: spec.argv[0].clone(),
                capability: "stack read-only layers over its image".into(),
            });
        }
        return Ok(Box::new(virt_client::VirtTestbed::open(spec, opts)?));
    }
    Ok(Box::new(running::Running::open(image, opts)?))
}

#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("{}{}: bad testbed definition: {msg}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Definition { path: PathBuf, line: Option<usize>, msg: String },
    #[error("no testbed definition {name:?} (looked for {})", searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    UnknownDefinition { name: String, searched: Vec<PathBuf> },
    #[error("no cached image {0:?} (see `srukit testbed list`)")]
    UnknownImage(String),
    #[error("image {name} is in use by testbed {testbed}")]
    ImageInUse { name: String, testbed: String },
    #[error("{tool} is not installed: {hint}")]
    MissingTool { tool: String, hint: String },
    #[error("mirror {mirror} is unreachable: {reason}")]
    MirrorUnreachable { mirror: String, reason: String },
    #[error("not enough free space in {}: {free_mib} MiB free, an image build needs {need_mib} MiB", path.display())]
    NoSpace { path: PathBuf, free_mib: u64, need_mib: u64 },
    #[error("building image {name} failed: {cause} (full log: {})\n--- mmdebstrap log (last lines) ---\n{tail}", log.display())]
    ImageBuild { name: String, cause: String, log: PathBuf, tail: String },
    #[error("could not start testbed: {step}: {errno}")]
    Start { step: String, errno: nix::errno::Errno },
    #[error("could not start testbed: {0}")]
    StartOther(String),
    #[error("`{cmd}` in testbed {id} timed out after {}s", timeout.as_secs_f64())]
    Timeout { id: String, cmd: String, timeout: Duration },
    #[error("{what}: {errno}")]
    Sys { what: String, errno: nix::errno::Errno },
    #[error("cgroup {}: {msg}", path.display())]
    Cgroup { path: PathBuf, msg: String },
    #[error("testbed {id} did not stop cleanly: {msg}; what was left of it was killed")]
    UncleanStop { id: String, msg: String },
    #[error("testbed {id}: teardown left {leftovers}")]
    Teardown { id: String, leftovers: String },
    #[error("{server} cannot {capability}: a virt-server testbed lacks it")]
    MissingCapability { server: String, capability: String },
    #[error("virt server {server}: {msg}")]
    VirtServer { server: String, msg: String },
    #[error("virt server {server}: its exec prefix failed (status {status}) running `{cmd}`: an infrastructure failure, not the command's outcome{}", if tail.is_empty() { String::new() } else { format!("\n--- output (last lines) ---\n{tail}") })]
    VirtExec { server: String, cmd: String, status: i32, tail: String },
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
}

impl ExitCodeOf for TestbedError {
    fn exit(&self) -> Exit {
        match self {
            TestbedError::Definition { .. }
            | TestbedError::UnknownDefinition { .. }
            | TestbedError::UnknownImage(_) => Exit::BadInput,
            TestbedError::Fs(e) => e.exit(),
            _ => Exit::CouldNotRun,
        }
    }
}

/// `memory.stat`-style `key value` lines.
pub(crate) fn parse_stat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}
