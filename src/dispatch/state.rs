//! `DIR/state.json`: what a running `srukit debci up` tells `srukit dispatch` (the broker's
//! URL, debci's config and data dirs, the processes), and the paths under the state dir.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DispatchError, Result};
use crate::fsx;

pub const SCHEMA: &str = "srukit-debci-state";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub schema: String,
    pub state_dir: PathBuf,
    /// The broker, loopback only.
    pub amqp: String,
    pub node: String,
    pub arch: String,
    pub backend: String,
    /// The queue the workers consume: `debci-tests-<arch>-<backend>`.
    pub queue: String,
    pub supervisor_pid: u32,
    pub broker_pid: u32,
    pub collector_pid: u32,
    pub workers: Vec<WorkerState>,
    pub started: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerState {
    pub name: String,
    pub pid: u32,
    pub restarts: u32,
}

/// The paths under a state dir.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths { root: root.to_path_buf() }
    }
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// debci's config dir (`debci_config_dir`): debci.conf and extra_apt_sources_list.yaml.
    pub fn config(&self) -> PathBuf {
        self.root.join("debci")
    }
    /// debci's data dir: its sqlite database and the collected results.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
    /// The broker's home (Erlang cookie), mnesia and logs.
    pub fn rabbitmq(&self) -> PathBuf {
        self.root.join("rabbitmq")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// TMPDIR of the workers: their /tmp/debci-worker-* dirs live here, removed at stop.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// A dir put first on the workers' PATH: `autopkgtest-virt-srukit` -> this srukit.
    pub fn bin(&self) -> PathBuf {
        self.root.join("bin")
    }
    /// The local apt repositories, one per (run, target, side).
    pub fn repos(&self) -> PathBuf {
        self.root.join("repo")
    }
}

impl State {
    pub fn write(&self) -> Result<()> {
        let p = Paths::new(&self.state_dir).state_file();
        let text = serde_json::to_string_pretty(self).map_err(|e| DispatchError::Debci(e.to_string()))?;
        fsx::write_atomic(&p, text + "\n")?;
        Ok(())
    }

    /// The state of a running engine: its state.json, and its supervisor alive.
    pub fn load(dir: &Path) -> Result<State> {
        let p = Paths::new(dir).state_file();
        let no = |m: String| DispatchError::NoEngine { path: dir.to_path_buf(), message: m };
        let text = fsx::read_to_string(&p).map_err(|e| no(e.to_string()))?;
        let s: State = serde_json::from_str(&text).map_err(|e| no(format!("{}: {e}", p.display())))?;
        if s.schema != SCHEMA {
            return Err(no(format!("{}: schema {}, not {SCHEMA}", p.display(), s.schema)));
        }
        if !crate::process::pid_alive(s.supervisor_pid) {
            return Err(no(format!("its supervisor (pid {}) is not running", s.supervisor_pid)));
        }
        Ok(s)
    }
}
