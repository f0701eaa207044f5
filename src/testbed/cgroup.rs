//! cgroups for testbeds: a tracking cgroup per testbed (so teardown and gc can find every
//! process, including systemd-nspawn's), and named memory cgroups whose `memory.stat` the
//! verification stage reads. Writes under /sys/fs/cgroup/<hierarchy>/srukit/<id>.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::TestbedError;

const ROOT: &str = "/sys/fs/cgroup";

fn is_cgroup2(dir: &Path) -> bool {
    dir.join("cgroup.controllers").exists()
}

/// The directories under which a testbed's tracking cgroups live: v1's named `systemd`
/// hierarchy and the v2 tree (hybrid `unified` or a pure v2 root). Those are where
/// systemd-nspawn puts its payload too.
pub fn tracking_roots() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    if is_cgroup2(root) {
        return vec![root.join("srukit")];
    }
    ["systemd", "unified"]
        .iter()
        .map(|h| root.join(h))
        .filter(|p| p.is_dir())
        .map(|p| p.join("srukit"))
        .collect()
}

/// Where memory cgroups are made: the v1 memory hierarchy, else a v2 tree that has the
/// memory controller.
pub fn memory_root() -> Option<PathBuf> {
    let root = Path::new(ROOT);
    let v1 = root.join("memory");
    if v1.join("memory.stat").exists() || v1.join("cgroup.procs").exists() && !is_cgroup2(&v1) {
        return Some(v1.join("srukit"));
    }
    for v2 in [root.to_path_buf(), root.join("unified")] {
        let ctl = std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
        if ctl.split_whitespace().any(|c| c == "memory") {
            // v2 only lets leaf cgroups hold processes: enable memory for our subtree.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+memory");
            return Some(v2.join("srukit"));
        }
    }
    None
}

/// Creates `dir` (and parents) and, on v2, enables the memory controller below `srukit/`.
pub fn create(dir: &Path) -> Result<(), TestbedError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TestbedError::Cgroup { path: dir.to_path_buf(), msg: format!("could not create: {e}") })
}

pub fn add_pid(dir: &Path, pid: u32) -> Result<(), TestbedError> {
    std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| TestbedError::Cgroup {
        path: dir.to_path_buf(),
        msg: format!("could not add pid {pid}: {e}"),
    })
}

/// Every pid in a cgroup and its children.
pub fn pids_in_tree(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_dir())
    {
        if let Ok(t) = std::fs::read_to_string(e.path().join("cgroup.procs")) {
            pids.extend(t.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
    }
    pids
}

/// Kills every process in a cgroup tree, waits for it to empty, removes the directories
/// deepest first (a cgroup directory can only be removed once it has no processes and no
/// children). Returns what could not be removed.
pub fn destroy_tree(dir: &Path) -> Result<(), TestbedError> {
    if !dir.exists() {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = pids_in_tree(dir);
        if pids.is_empty() {
            break;
        }
        for p in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*p as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if Instant::now() > deadline {
            return Err(TestbedError::Cgroup {
                path: dir.to_path_buf(),
                msg: format!("processes {pids:?} would not die"),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .contents_first(true)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .map(|e| e.into_path())
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                // EBUSY while the last exiting task is still being released.
                Err(e) if tries < 200 => {
                    let _ = e;
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    return Err(TestbedError::Cgroup { path: d, msg: format!("could not remove: {e}") });
                }
            }
        }
    }
    Ok(())
}

/// A memory cgroup inside a testbed's cgroup tree; removed when the testbed closes.
#[derive(Debug, Clone)]
pub struct MemCgroup {
    path: PathBuf,
}

impl MemCgroup {
    pub(crate) fn new(path: PathBuf) -> Result<MemCgroup, TestbedError> {
        create(&path)?;
        Ok(MemCgroup { path })
    }

    /// Moves a process (host pid) into this cgroup. Children it forks later follow it.
    pub fn add_pid(&self, pid: u32) -> Result<(), TestbedError> {
        add_pid(&self.path, pid)
    }

    /// `memory.stat` as numbers (bytes for sizes): `dirty`, `writeback`, `cache`, ...
    pub fn stat(&self) -> Result<BTreeMap<String, u64>, TestbedError> {
        let f = self.path.join("memory.stat");
        let text = std::fs::read_to_string(&f)
            .map_err(|e| TestbedError::Cgroup { path: f.clone(), msg: format!("could not read: {e}") })?;
        let mut stat = super::parse_stat(&text);
        // v2 names them `file_dirty` / `file_writeback`; offer the v1 names too.
        for (v2, v1) in [("file_dirty", "dirty"), ("file_writeback", "writeback"), ("file", "cache")] {
            if let Some(v) = stat.get(v2).copied() {
                stat.entry(v1.to_string()).or_insert(v);
            }
        }
        Ok(stat)
    }

    /// The pids in this cgroup.
    pub fn pids(&self) -> Vec<u32> {
        pids_in_tree(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
