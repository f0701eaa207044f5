//! What systemd-nspawn leaves on the host outside a testbed's scratch dir: the propagate
//! dir `/run/systemd/nspawn/propagate/<machine>` it makes at start (for `machinectl bind`
//! and `copy-to`) and removes only when it exits on its own, which a testbed's nspawn,
//! killed at teardown, never does. Teardown removes the testbed's own; `gc` sweeps the
//! `srukit-*` ones no running nspawn and no recorded testbed uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::procfs;

/// Where systemd-nspawn makes a propagate dir per machine (systemd's `nspawn-mount.c`).
pub const PROPAGATE_ROOT: &str = "/run/systemd/nspawn/propagate";

/// The machine name (and so the hostname) of an nspawn testbed: the whole id, so its
/// propagate dir names the testbed and its owner's pid, and two testbeds never share one.
pub fn machine_name(id: &str) -> String {
    format!("srukit-{id}")
}

/// The propagate dir systemd-nspawn makes for testbed `id`.
pub fn propagate_dir(id: &str) -> PathBuf {
    Path::new(PROPAGATE_ROOT).join(machine_name(id))
}

/// The machine names in running processes' argv (`--machine=NAME`, `--machine NAME`,
/// `-M NAME`): every systemd-nspawn on the host, whoever started it.
fn running_machines() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for pid in procfs::all_pids() {
        let argv = procfs::cmdline(pid);
        for (i, arg) in argv.iter().enumerate() {
            if let Some(name) = arg.strip_prefix("--machine=") {
                names.insert(name.to_string());
            } else if (arg == "--machine" || arg == "-M")
                && let Some(name) = argv.get(i + 1)
            {
                names.insert(name.clone());
            }
        }
    }
    names
}

/// `srukit-*` propagate dirs whose testbed is gone: no running process names that machine
/// and no recorded testbed (`recorded`, live or about to be torn down) owns the dir.
pub fn orphaned_propagate_dirs(recorded: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(PROPAGATE_ROOT) else { return Vec::new() };
    let candidates: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("srukit-"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| !recorded.contains(p))
        .collect();
    if candidates.is_empty() {
        return candidates;
    }
    // Read after listing: a dir only exists once its nspawn runs, so a testbed starting now
    // is either not listed yet or already in this set.
    let running = running_machines();
    candidates
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| !running.contains(n.to_string_lossy().as_ref())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_name_is_the_whole_id_and_a_valid_hostname() {
        let name = machine_name("4194304-4294967295-fffff");
        assert_eq!(name, "srukit-4194304-4294967295-fffff");
        // systemd's machine_name_is_valid: a hostname, at most 64 characters.
        assert!(name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        assert_eq!(propagate_dir("1-0-abcde"), Path::new("/run/systemd/nspawn/propagate/srukit-1-0-abcde"));
    }

    #[test]
    fn a_running_process_naming_its_machine_is_seen_in_each_spelling() {
        let spellings: [&[&str]; 3] =
            [&["--machine=srukit-test-a"], &["--machine", "srukit-test-a"], &["-M", "srukit-test-a"]];
        for args in spellings {
            assert!(!running_machines().contains("srukit-test-a"));
            // A shell blocked in its builtin `read`: its argv stays as given, no child outlives it.
            let mut sh = std::process::Command::new("sh")
                .args(["-c", "read x", "sh"])
                .args(args)
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("sh starts");
            // spawn returns when exec closes the CLOEXEC fds, a moment before the kernel sets
            // the new argv: wait for it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while procfs::cmdline(sh.id()).len() < 4 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let seen = running_machines().contains("srukit-test-a");
            sh.kill().expect("sh is killed");
            sh.wait().expect("sh is reaped");
            assert!(seen, "{args:?} not seen");
        }
    }
}
