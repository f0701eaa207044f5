//! SIGKILL `srukit testbed exec` at 24 different moments (while it opens, runs, closes),
//! on both backends, then let the next srukit command reap: no process, mount, cgroup,
//! run dir, scratch dir or systemd-nspawn propagate dir of the killed runs may be left, and
//! after `gc` no orphaned propagate dir of any srukit.

mod testbed_common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testbed_common::{gc, kill_after, leftovers_of, processes_with};

/// Propagate dirs of no running nspawn and no recorded testbed, named by an srukit that
/// names machines by testbed id (`srukit-<pid>-<n>-<hex>`; an older srukit elsewhere on the
/// machine may still be leaking short names), still orphaned a second later (not a testbed
/// that is closing right now).
fn orphaned_propagate_dirs() -> Vec<PathBuf> {
    let scan = || {
        let recorded: Vec<PathBuf> =
            srukit::testbed::state::all().into_iter().flat_map(|s| s.host_dirs).collect();
        srukit::testbed::nspawn::orphaned_propagate_dirs(&recorded)
            .into_iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let parts: Vec<&str> = name.strip_prefix("srukit-").unwrap_or("").split('-').collect();
                parts.len() == 3 && parts[..2].iter().all(|x| x.parse::<u64>().is_ok())
            })
            .collect::<Vec<_>>()
    };
    let first = scan();
    std::thread::sleep(Duration::from_secs(1));
    let second = scan();
    first.into_iter().filter(|p| second.contains(p)).collect()
}

#[test]
fn killed_srukit_leaves_nothing_after_the_next_command() {
    let bin = env!("CARGO_BIN_EXE_srukit");
    // Warm the image so every kill lands in open/exec/close, not in mmdebstrap.
    assert!(Command::new(bin).args(["testbed", "build", "bookworm-tgt"]).status().unwrap().success());
    let delays_ms =
        [0u64, 1, 2, 4, 6, 8, 10, 13, 16, 20, 25, 30, 35, 40, 50, 60, 70, 85, 100, 130, 160, 200, 260, 350];
    let mut killed = Vec::new();
    for (i, ms) in delays_ms.iter().enumerate() {
        let backend = if i % 2 == 0 { "unshare" } else { "nspawn" };
        let marker = format!("srukit-kill-marker-{i}");
        // Every third run's command ends at once, so kills also land in close.
        let pause = if i % 3 == 2 { "0" } else { "30" };
        let mut cmd = Command::new(bin);
        cmd.args(["testbed", "exec", "bookworm-tgt", "--backend", backend, "--", "sh", "-c"])
            .arg(format!("echo {marker} > /srv/data/m; sleep {pause} # {marker}"));
        killed.push((kill_after(cmd, Duration::from_millis(*ms)), marker));
    }
    gc(bin);
    std::thread::sleep(Duration::from_millis(200));
    for (pid, marker) in &killed {
        assert_eq!(leftovers_of(*pid), Vec::<String>::new(), "srukit {pid} left these");
        assert_eq!(processes_with(marker), Vec::<u32>::new(), "processes of {marker} survived");
    }
    assert_eq!(orphaned_propagate_dirs(), Vec::<PathBuf>::new(), "gc left these nspawn propagate dirs");
}
