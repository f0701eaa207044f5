//! Shared by the remote-machine tests: starts and stops instances of
//! `testbeds/remote/netns-sshd` (sshd in a netns + pidns + chroot over the remote-bookworm
//! image), guards that stop them on drop (a panicking test too), the instances a setup-script
//! journal names, and what an instance may leave on the host.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::testbed_common::{alive, all_pids};

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testbeds/remote/netns-sshd");
/// The image definition the remote serves.
pub const IMAGE: &str = "remote-bookworm";
/// Where the script keeps its instances (its default).
pub const STATE: &str = "/run/srukit/remote";

/// The remote image's root (the `lower` of `srukit testbed build remote-bookworm`), built once.
pub fn image_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
            .args(["--json", "testbed", "build", IMAGE])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("srukit runs");
        assert!(
            out.status.success(),
            "srukit testbed build {IMAGE}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("testbed build --json");
        PathBuf::from(doc["lower"].as_str().expect("a lower dir in testbed build --json"))
    })
    .clone()
}

/// Runs the script with `args` (the srukit binary named for a build it may need).
pub fn script(args: &[&str]) -> Output {
    Command::new(SCRIPT)
        .args(args)
        .env("SRUKIT", env!("CARGO_BIN_EXE_srukit"))
        .output()
        .expect("netns-sshd runs")
}

/// The `key=value` lines the script prints for `open`, `start` and `revert`.
pub fn keys(stdout: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A running instance, started directly (`netns-sshd start`); stopped on drop.
pub struct Remote {
    pub id: u8,
    pub hostname: String,
    pub port: String,
    pub identity: PathBuf,
    pub netns: String,
    pub host_address: String,
    pub state: PathBuf,
    pub keys: BTreeMap<String, String>,
    /// The apt-cacher-ng it started (pid), to check it is gone after stop.
    pub proxy_pid: Option<u32>,
    stopped: bool,
}

impl Remote {
    /// Starts an instance (the lowest free number, or `id`) over the remote-bookworm image.
    pub fn start(id: Option<u8>) -> Remote {
        let root = image_root();
        let id_text = id.map(|i| i.to_string());
        let mut args = vec!["start", "--root", root.to_str().unwrap()];
        if let Some(i) = &id_text {
            args.extend(["--id", i]);
        }
        let out = script(&args);
        assert!(out.status.success(), "netns-sshd start: {}", String::from_utf8_lossy(&out.stderr));
        let keys = keys(&out.stdout);
        let id: u8 = keys["extraopts"].strip_prefix("--id ").expect("extraopts --id N").parse().unwrap();
        Remote {
            id,
            hostname: keys["hostname"].clone(),
            port: keys["port"].clone(),
            identity: keys["identity"].clone().into(),
            netns: keys["netns"].clone(),
            host_address: keys["host_address"].clone(),
            state: keys["state"].clone().into(),
            proxy_pid: keys["proxy_pid"].parse().ok(),
            keys,
            stopped: false,
        }
    }

    /// Runs a shell command on the remote as root over ssh (as autopkgtest-virt-ssh logs in).
    pub fn ssh(&self, command: &str) -> Output {
        Command::new("ssh")
            .args(["-q", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "ConnectTimeout=10", "-i"])
            .arg(&self.identity)
            .args(["-p", &self.port, "-l", "root", &self.hostname, "--", command])
            .output()
            .expect("ssh runs")
    }

    /// `ssh` that must succeed; its stdout.
    pub fn ssh_ok(&self, command: &str) -> String {
        let out = self.ssh(command);
        assert!(
            out.status.success(),
            "ssh {} {command:?}: {:?}\n{}",
            self.hostname,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `netns-sshd stop --id N`; the script's own check of what is left is its exit code.
    pub fn stop(&mut self) -> Output {
        self.stopped = true;
        script(&["stop", "--id", &self.id.to_string()])
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if !self.stopped {
            let out = self.stop();
            if !out.status.success() {
                eprintln!("netns-sshd stop --id {}: {}", self.id, String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// The journal a setup script appends to (`--journal FILE`): on drop, every instance it
/// opened and did not clean up is stopped (a test that panicked mid-run leaves nothing).
pub struct Journal {
    pub path: PathBuf,
}

impl Journal {
    pub fn new(dir: &Path) -> Journal {
        Journal { path: dir.join("netns-sshd.journal") }
    }

    pub fn events(&self) -> Vec<(String, u8)> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.parse().ok()?))
            })
            .collect()
    }

    /// The instances opened, in order, each with the apt-cacher-ng it started.
    pub fn opened(&self) -> Vec<(u8, Option<u32>)> {
        std::fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "open").then_some(())?;
                let id = w.next()?.parse().ok()?;
                let proxy = w.next().and_then(|p| p.strip_prefix("proxy_pid=")).and_then(|p| p.parse().ok());
                Some((id, proxy))
            })
            .collect()
    }

    /// Everything every opened instance left (empty: all cleaned up).
    pub fn leftovers(&self) -> Vec<String> {
        self.opened().into_iter().flat_map(|(id, proxy)| leftovers(id, proxy)).collect()
    }

    /// Instances opened and not cleaned up (yet).
    pub fn open_now(&self) -> Vec<u8> {
        let mut open = Vec::new();
        for (what, id) in self.events() {
            match what.as_str() {
                "open" => open.push(id),
                "cleanup" => open.retain(|&i| i != id),
                _ => {}
            }
        }
        open
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        for id in self.open_now() {
            let out = script(&["stop", "--id", &id.to_string()]);
            if !out.status.success() {
                eprintln!("netns-sshd stop --id {id}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

/// What instance `id` has left on the host: its netns, its veth, its state dir, any mount of
/// its root in any process's view, a process in its netns, its addresses on a host link, and
/// its apt-cacher-ng (`proxy_pid`) if still alive (a zombie is dead: nothing reaps here).
pub fn leftovers(id: u8, proxy_pid: Option<u32>) -> Vec<String> {
    let mut left = Vec::new();
    let netns = format!("srukit-remote-{id}");
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    if String::from_utf8_lossy(&list.stdout).lines().any(|l| l.split_whitespace().next() == Some(&netns)) {
        left.push(format!("netns {netns}"));
    }
    if Path::new("/run/netns").join(&netns).exists() {
        left.push(format!("/run/netns/{netns}"));
    }
    let veth = format!("srkr{id}h");
    if Path::new("/sys/class/net").join(&veth).exists() {
        left.push(format!("veth {veth}"));
    }
    let state = Path::new(STATE).join(id.to_string());
    if state.exists() {
        left.push(format!("state dir {}", state.display()));
    }
    let needle = format!(" {}/", state.display());
    for pid in all_pids() {
        let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        if let Some(l) = info.lines().find(|l| l.contains(&needle)) {
            left.push(format!("pid {pid} sees a mount: {l}"));
        }
    }
    let addrs = Command::new("ip").args(["-4", "-o", "addr", "show"]).output().unwrap();
    let prefix = format!(" 10.200.{id}.");
    if let Some(l) = String::from_utf8_lossy(&addrs.stdout).lines().find(|l| l.contains(&prefix)) {
        left.push(format!("address: {l}"));
    }
    if let Some(pid) = proxy_pid
        && alive(pid)
    {
        left.push(format!("apt-cacher-ng pid {pid}"));
    }
    left
}
