//! Starting and stopping an nspawn testbed's container. Booted (`--boot`: systemd is the
//! container's pid 1) it is ready once `systemctl is-system-running` says `running`, or
//! `degraded` with the failed units recorded; it stops with SIGRTMIN+4 to that pid 1 (the
//! power-off systemd documents for containers), after which systemd-nspawn exits by itself.
//! Never SIGKILL a booted nspawn: its container keeps running, re-parented to the host's
//! pid 1. Reads the testbed's state; writes nothing.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::state::State;
use super::{ExecOutput, ExecRequest, TestbedError, procfs};

/// What `--kill-signal` and teardown send to a booted container's pid 1: systemd's
/// "power off" (SIGRTMIN+3 would halt, which in a container also ends it, but less plainly).
pub const POWEROFF_SIGNAL_NAME: &str = "SIGRTMIN+4";

fn poweroff_signal() -> libc::c_int {
    libc::SIGRTMIN() + 4
}

/// How long a boot may take: 0.45 s measured on an idle host, a few seconds under load.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a booted container may take to power off (1.5-1.8 s measured; a loaded host
/// running several at once takes longer) before teardown falls back to killing it.
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(30);
/// How long nspawn may take to exit once its non-booted container's stub init is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a booted testbed came up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BootStatus {
    /// What `systemctl is-system-running` said when the boot settled: `running` or `degraded`.
    pub state: String,
    /// The units `systemctl --failed` listed then (empty when `running`).
    pub failed_units: Vec<String>,
    /// From the launch of systemd-nspawn to the settled boot.
    pub seconds: f64,
}

/// What a word from `systemctl is-system-running` means for a testbed waiting for its boot.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    Yes,
    NotYet,
    /// maintenance (an emergency or rescue shell), stopping: the boot will not finish.
    Never,
}

fn settled(word: &str) -> Settled {
    match word {
        "running" | "degraded" => Settled::Yes,
        // offline: the manager does not answer on its bus yet (the first milliseconds).
        "initializing" | "starting" | "offline" | "" => Settled::NotYet,
        _ => Settled::Never,
    }
}

/// The unit names in `systemctl list-units --failed --plain --no-legend` output.
fn failed_units(listing: &str) -> Vec<String> {
    listing.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect()
}

/// Polls `systemctl is-system-running` inside the testbed until the boot settles. `exec` runs
/// a command in the testbed; `died` says why the container is gone (None while it runs).
pub(super) fn wait_until_booted(
    exec: &mut dyn FnMut(&ExecRequest) -> Result<ExecOutput, TestbedError>,
    died: &dyn Fn() -> Option<String>,
    launched: Instant,
) -> Result<BootStatus, TestbedError> {
    let ask = ExecRequest::new(["systemctl", "is-system-running"]).timeout(Duration::from_secs(10));
    loop {
        if let Some(why) = died() {
            return Err(TestbedError::StartOther(format!("the booted container stopped: {why}")));
        }
        let out = exec(&ask)?;
        let word = out.stdout_str().trim().to_string();
        match settled(&word) {
            Settled::Yes => {
                let failed = if word == "degraded" {
                    let list = exec(
                        &ExecRequest::new([
                            "systemctl",
                            "list-units",
                            "--failed",
                            "--plain",
                            "--no-legend",
                            "--no-pager",
                        ])
                        .timeout(Duration::from_secs(10)),
                    )?;
                    failed_units(&list.stdout_str())
                } else {
                    Vec::new()
                };
                return Ok(BootStatus {
                    state: word,
                    failed_units: failed,
                    seconds: launched.elapsed().as_secs_f64(),
                });
            }
            Settled::Never => {
                return Err(TestbedError::StartOther(format!(
                    "systemd in the container did not finish booting: `systemctl is-system-running` says {word:?}"
                )));
            }
            Settled::NotYet => {}
        }
        if launched.elapsed() > BOOT_TIMEOUT {
            return Err(TestbedError::StartOther(format!(
                "systemd in the container did not finish booting within {}s (`systemctl is-system-running` last said {:?})",
                BOOT_TIMEOUT.as_secs(),
                if word.is_empty() { "nothing" } else { word.as_str() }
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops an nspawn testbed's container the clean way and waits for systemd-nspawn to exit by
/// itself: SIGRTMIN+4 to a booted container's pid 1; a SIGKILL to the `--as-pid2` stub init
/// of a plain one (its death ends the container's pid namespace). Without a recorded pid 1 (a
/// srukit killed while it started), a booted nspawn gets SIGTERM, which it turns into the
/// same power-off (`--kill-signal`). Err says what did not stop in time; the caller then
/// kills what is left.
pub(super) fn stop_nspawn(state: &State) -> Result<(), String> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let booted = state.backend == "nspawn-boot";
    let Some(&(nspawn, nspawn_start)) = state.pids.first() else { return Ok(()) };
    let leader = state.pids.get(1).copied().filter(|(p, s)| procfs::is_same(*p, *s));
    let nspawn_alive = || procfs::is_same(nspawn, nspawn_start);
    if !nspawn_alive() && leader.is_none() {
        return Ok(());
    }
    let pid = |p: u32| Pid::from_raw(p as i32);
    let ns = leader.and_then(|(p, _)| procfs::pid_ns(p));
    release_entered(ns, nspawn);
    match (leader, booted) {
        (Some((p, _)), true) => {
            // nix's Signal has no real-time signals: the raw kill(2).
            // SAFETY: kill(2) with a pid we recorded (checked by start time just above).
            unsafe { libc::kill(p as i32, poweroff_signal()) };
        }
        (Some((p, _)), false) => {
            let _ = kill(pid(p), Signal::SIGKILL);
        }
        (None, true) => {
            let _ = kill(pid(nspawn), Signal::SIGTERM);
        }
        // A plain container whose stub init never ran has nothing to stop cleanly.
        (None, false) => return Ok(()),
    }
    let bound = if booted { POWEROFF_TIMEOUT } else { EXIT_TIMEOUT };
    let deadline = Instant::now() + bound;
    let leader_alive = || leader.is_some_and(|(p, s)| procfs::is_same(p, s));
    let mut next_release = Instant::now() + Duration::from_millis(100);
    while nspawn_alive() || leader_alive() {
        if Instant::now() > next_release {
            release_entered(ns, nspawn);
            next_release = Instant::now() + Duration::from_millis(100);
        }
        // nspawn is our child when we started it: reap it, or it never stops looking alive.
        let _ = nix::sys::wait::waitpid(pid(nspawn), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        if Instant::now() > deadline {
            return Err(if booted {
                format!(
                    "systemd did not power off within {}s of {POWEROFF_SIGNAL_NAME} (systemd-nspawn {}, container pid 1 {})",
                    bound.as_secs(),
                    if nspawn_alive() { "still running" } else { "gone" },
                    if leader_alive() { "still running" } else { "gone" },
                )
            } else {
                format!("systemd-nspawn did not exit within {}s of its container's end", bound.as_secs())
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Kills the host-side `nsenter` parents of processes inside the container (commands srukit
/// runs there, daemons it spawned); their children pass to the container's pid 1. Else
/// systemd's final kill round hangs: it SIGSTOPs every process of the namespace first,
/// nsenter (waiting with WUNTRACED) then stops itself, outside the reach of the SIGCONT that
/// follows, and never reaps its child, which systemd-shutdown then waits 90 s for.
fn release_entered(ns: Option<u64>, nspawn: u32) {
    let Some(ns) = ns else { return };
    let inside = procfs::pids_in_ns(ns);
    for p in &inside {
        let Some(parent) = procfs::ppid(*p) else { continue };
        if parent != 0 && parent != nspawn && !inside.contains(&parent) && procfs::pid_ns(parent) != Some(ns)
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(parent as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_words_end_the_wait() {
        for (word, want) in [
            ("running", Settled::Yes),
            ("degraded", Settled::Yes),
            ("initializing", Settled::NotYet),
            ("starting", Settled::NotYet),
            ("offline", Settled::NotYet),
            ("", Settled::NotYet),
            ("maintenance", Settled::Never),
            ("stopping", Settled::Never),
            ("unknown", Settled::Never),
        ] {
            assert_eq!(settled(word), want, "{word:?}");
        }
    }

    #[test]
    fn failed_units_are_the_first_column() {
        let listing = "systemd-networkd.service loaded failed failed Network Configuration\n\
                       srv-data.mount           loaded failed failed /srv/data\n";
        assert_eq!(failed_units(listing), ["systemd-networkd.service", "srv-data.mount"]);
        assert!(failed_units("").is_empty());
    }
}
