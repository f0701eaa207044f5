//! Shared by the testbed tests (testbed_boot, testbed_conformance, testbed_kill): what a
//! testbed leaves on the host, read from /proc, /run, the scratch cache and the cgroup
//! hierarchies, to assert that close or gc removed it.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod conformance;

use srukit::testbed::{self, Testbed};

/// The host dirs a running testbed owns: its run dir, its scratch dir, its cgroup in each
/// hierarchy and systemd-nspawn's propagate dir (the unshare backend must not make one).
pub fn host_paths(tb: &dyn Testbed) -> Vec<PathBuf> {
    let id = tb.id();
    let mut paths = vec![
        Path::new("/run/srukit/testbeds").join(id),
        tb.data_dir().unwrap().parent().unwrap().to_path_buf(),
    ];
    for h in ["systemd", "unified", "memory"] {
        paths.push(Path::new("/sys/fs/cgroup").join(h).join("srukit").join(id));
    }
    paths.push(testbed::nspawn::propagate_dir(id));
    paths
}

/// What a killed srukit `pid` may have left: run dirs, scratch dirs, cgroups, propagate dirs
/// and mounts of its testbeds (ids start with its pid).
pub fn leftovers_of(pid: u32) -> Vec<String> {
    let prefix = format!("{pid}-");
    let mut left = Vec::new();
    let dirs = [
        PathBuf::from("/run/srukit/testbeds"),
        testbed::cache_root().join("scratch"),
        "/sys/fs/cgroup/systemd/srukit".into(),
        "/sys/fs/cgroup/unified/srukit".into(),
        "/sys/fs/cgroup/memory/srukit".into(),
    ];
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                left.push(e.path().display().to_string());
            }
        }
    }
    for e in std::fs::read_dir(testbed::nspawn::PROPAGATE_ROOT).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&format!("srukit-{prefix}")) {
            left.push(e.path().display().to_string());
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    left.extend(mounts.lines().filter(|l| l.contains(&format!("/scratch/{prefix}"))).map(str::to_string));
    left
}

pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Running (a zombie waiting for its reaper is dead).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !matches!(s[s.rfind(')').unwrap() + 2..].chars().next(), Some('Z' | 'X')))
        .unwrap_or(false)
}

/// Live processes whose command line carries `needle` (a test command's marker, or the
/// machine name systemd-nspawn carries, which holds the killed srukit's pid).
pub fn processes_with(needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            alive(*p) && String::from_utf8_lossy(&cmd).contains(needle)
        })
        .collect()
}

/// Starts `cmd` (output discarded), SIGKILLs it after `delay` and reaps it: a srukit killed
/// at that moment of its run. Returns its pid, which its testbeds' ids start with.
pub fn kill_after(mut cmd: std::process::Command, delay: std::time::Duration) -> u32 {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
    child.id()
}

/// `srukit testbed gc`, which must succeed.
pub fn gc(bin: &str) {
    let gc = std::process::Command::new(bin).args(["testbed", "gc"]).output().unwrap();
    assert!(gc.status.success(), "{}", String::from_utf8_lossy(&gc.stderr));
}
