//! Run state of live testbeds: `/run/srukit/testbeds/<id>/state.json` records the owner
//! (pid + start time), the processes, cgroups and scratch dir, written before anything is
//! created. `reap_orphans` (at every open and `srukit testbed` command) and `gc` tear down
//! whatever a killed srukit left behind.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{TestbedError, cgroup, procfs};
use crate::fsx;

/// Where run state lives (`$SRUKIT_RUN_DIR` overrides, for tests on shared machines).
pub fn run_root() -> PathBuf {
    std::env::var_os("SRUKIT_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/srukit/testbeds"))
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct State {
    pub id: String,
    pub owner_pid: u32,
    pub owner_start: u64,
    pub backend: String,
    pub image_name: String,
    pub image_hash: String,
    pub scratch: PathBuf,
    /// Host pid + start time of processes to kill: the clone child (pid 1, or the
    /// systemd-nspawn process) and, for nspawn, the container's pid 1.
    pub pids: Vec<(u32, u64)>,
    /// Cgroup trees to destroy.
    pub cgroups: Vec<PathBuf>,
    /// Directories the backend makes on the host outside `scratch` (systemd-nspawn's
    /// propagate dir), removed once its processes are dead.
    #[serde(default)]
    pub host_dirs: Vec<PathBuf>,
    /// Left running on purpose (`shell --keep`): not an orphan.
    pub keep: bool,
    /// How a booted testbed came up (`nspawn-boot` only, once its boot settled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<super::boot::BootStatus>,
    pub created: String,
}

impl State {
    pub fn dir(&self) -> PathBuf {
        run_root().join(&self.id)
    }

    pub fn save(&self) -> Result<(), TestbedError> {
        let dir = self.dir();
        fsx::create_dir_all(&dir)?;
        let text = serde_json::to_string_pretty(self).expect("state serialises");
        fsx::write_atomic(&dir.join("state.json"), text)?;
        Ok(())
    }

    pub fn owner_alive(&self) -> bool {
        procfs::is_same(self.owner_pid, self.owner_start)
    }
}

/// Every recorded testbed.
pub fn all() -> Vec<State> {
    let Ok(rd) = std::fs::read_dir(run_root()) else { return Vec::new() };
    rd.filter_map(|e| {
        let dir = e.ok()?.path();
        match std::fs::read_to_string(dir.join("state.json")).ok().and_then(|t| serde_json::from_str(&t).ok())
        {
            Some(s) => Some(s),
            // A run dir without a readable state: its owner is writing it right now, or
            // died between mkdir and write. Ids start with the owner's pid.
            None => {
                let id = dir.file_name()?.to_string_lossy().into_owned();
                let owner: u32 = id.split('-').next()?.parse().ok()?;
                let age = std::fs::metadata(&dir).ok()?.modified().ok()?.elapsed().unwrap_or_default();
                let orphan = !Path::new(&format!("/proc/{owner}")).exists() || age > Duration::from_secs(60);
                orphan.then(|| State { id, ..Default::default() })
            }
        }
    })
    .collect()
}

/// Stops, unmounts and removes everything a testbed's state names. Safe to repeat. An nspawn
/// testbed's container is stopped first and its nspawn left to exit by itself
/// (`boot::stop_nspawn`); what is still alive then is killed, and if that was needed the
/// error says so once everything is removed.
pub fn teardown(state: &State) -> Result<(), TestbedError> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    // Every srukit command reaps orphans as it starts, so two may reach the same testbed: one
    // tears it down while the other waits, then finds its state gone. (A booted container
    // takes a second or two to power off: without the lock the second would kill it midway.)
    let dir = state.dir();
    let _lock = match std::fs::File::open(&dir) {
        Ok(f) => {
            f.lock().map_err(|source| fsx::FsError { op: "lock", path: dir.clone(), source })?;
            f
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(fsx::FsError { op: "open", path: dir, source }.into()),
    };
    if !dir.exists() {
        return Ok(());
    }
    let unclean = if state.backend.starts_with("nspawn") {
        super::boot::stop_nspawn(state)
            .err()
            .map(|msg| TestbedError::UncleanStop { id: state.id.clone(), msg })
    } else {
        None
    };
    let live: Vec<u32> =
        state.pids.iter().filter(|(p, s)| procfs::is_same(*p, *s)).map(|(p, _)| *p).collect();
    for &p in &live {
        let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
    }
    // Our own children must be reaped before they stop showing as alive.
    for &p in &live {
        let _ = nix::sys::wait::waitpid(Pid::from_raw(p as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while state.pids.iter().any(|(p, s)| procfs::is_same(*p, *s)) {
        if std::time::Instant::now() > deadline {
            return Err(TestbedError::Teardown {
                id: state.id.clone(),
                leftovers: "processes that would not die".into(),
            });
        }
        for &p in &live {
            let _ =
                nix::sys::wait::waitpid(Pid::from_raw(p as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Reap our own children that just became zombies.
    for &p in &live {
        let _ = nix::sys::wait::waitpid(Pid::from_raw(p as i32), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    }
    let mut first_err = unclean;
    for cg in &state.cgroups {
        if let Err(e) = cgroup::destroy_tree(cg) {
            first_err.get_or_insert(e);
        }
    }
    for d in &state.host_dirs {
        if let Err(e) = fsx::remove_dir_all(d) {
            first_err.get_or_insert(e.into());
        }
    }
    if !state.scratch.as_os_str().is_empty() {
        // Mounts live in the testbed's own mount namespace and die with it; a host mount
        // under scratch would be a bug, but it must not survive either.
        for m in procfs::mounts_under(&state.scratch) {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(e) = fsx::remove_dir_all(&state.scratch) {
            first_err.get_or_insert(e.into());
        }
    }
    fsx::remove_dir_all(&state.dir())?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Tears down testbeds whose owner is gone (and not kept). Returns their ids.
pub fn reap_orphans() -> Vec<String> {
    let mut reaped = Vec::new();
    for s in all() {
        if s.keep || s.owner_alive() {
            continue;
        }
        if teardown(&s).is_ok() {
            reaped.push(s.id.clone());
        }
    }
    reaped
}

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub testbeds_reaped: Vec<String>,
    pub images_removed: Vec<String>,
    pub temp_dirs_removed: Vec<String>,
}

/// `srukit testbed gc`: reaps orphaned testbeds (and kept ones with `kept`), removes
/// interrupted image builds, images no definition builds any more, and nspawn propagate
/// dirs of testbeds that are gone.
pub fn gc(kept: bool) -> Result<GcReport, TestbedError> {
    let mut report = GcReport { testbeds_reaped: reap_orphans(), ..Default::default() };
    if kept {
        for s in all().into_iter().filter(|s| s.keep) {
            teardown(&s)?;
            report.testbeds_reaped.push(s.id);
        }
    }
    // Scratch dirs whose run dir is gone (owner killed between the two).
    let scratch_root = super::image::cache_root().join("scratch");
    let live: Vec<PathBuf> = all().into_iter().map(|s| s.scratch).collect();
    if let Ok(rd) = std::fs::read_dir(&scratch_root) {
        for e in rd.flatten() {
            let p = e.path();
            // Only our own dirs (`<pid>-<n>-<hex>`): others may keep things in the cache.
            let ours = e.file_name().to_str().is_some_and(|n| {
                let parts: Vec<&str> = n.split('-').collect();
                parts.len() == 3 && parts[..2].iter().all(|x| x.parse::<u64>().is_ok())
            });
            if ours
                && e.file_type().is_ok_and(|t| t.is_dir())
                && !live.contains(&p)
                && procfs::mounts_under(&p).is_empty()
            {
                fsx::remove_dir_all(&p)?;
                report.temp_dirs_removed.push(p.display().to_string());
            }
        }
    }
    // systemd-nspawn's propagate dirs of testbeds gone without a teardown (killed before
    // they had a state, or run by an srukit that did not know of the dir).
    let recorded: Vec<PathBuf> = all().into_iter().flat_map(|s| s.host_dirs).collect();
    for d in super::nspawn::orphaned_propagate_dirs(&recorded) {
        fsx::remove_dir_all(&d)?;
        report.temp_dirs_removed.push(d.display().to_string());
    }
    let (images, temps) = super::image::collect_garbage()?;
    report.images_removed = images;
    report.temp_dirs_removed.extend(temps);
    Ok(report)
}

/// Live testbeds running on the image `hash` (used by `list` and `rm`).
pub fn users_of(hash: &str) -> Vec<String> {
    all().into_iter().filter(|s| s.image_hash == hash && (s.keep || s.owner_alive())).map(|s| s.id).collect()
}
