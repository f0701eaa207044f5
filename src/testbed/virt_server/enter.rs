//! The exec prefix `srukit testbed enter --pid PID --start TICKS -- ARGV` that the virt
//! server hands autopkgtest: enters a running testbed's namespaces (mount, UTS, IPC,
//! network, pid) and runs ARGV there in a clean environment, relaying its exit status.
//!
//! Status contract (README.virtualisation-server.rst; adt_testbed.py treats 254 and 255
//! as "the auxverb failed"): the command's own 0..253 as is, 254 and 255 turned into 253
//! (as 5.28's lxc and podman servers do), killed by signal N -> 128+N, and 255 only for
//! the prefix's own failure (testbed gone, pid reused, setns or exec failed).

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::testbed::procfs;

/// The prefix's own failure (adt_testbed.py: "testbed auxverb failed").
pub const OWN_FAILURE: i32 = 255;

/// What the command's environment starts from, before the testbed's own files add to it:
/// 5.28's lxc and podman servers run `env -i bash -c 'set -a; . /etc/environment;
/// . /etc/default/locale; . /etc/profile; set +a; "$@"'`; unshare's helper passes only
/// PATH and SHELL. We match lxc/podman, with POSIX sh (essential in every Debian image)
/// and `exec`, so the command, not a shell, is the process whose status is relayed.
const ENV_SCRIPT: &str = "set -a; \
[ -r /etc/environment ] && . /etc/environment 2>/dev/null || true; \
[ -r /etc/default/locale ] && . /etc/default/locale 2>/dev/null || true; \
[ -r /etc/profile ] && . /etc/profile 2>/dev/null || true; \
set +a; exec \"$@\"";
const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the prefix itself failed.
#[derive(Debug, thiserror::Error)]
pub enum EnterError {
    #[error("testbed process {pid} is gone (or its pid was reused): the testbed was closed")]
    Gone { pid: u32 },
    #[error("could not open {path}: {source}")]
    Namespace { path: String, source: std::io::Error },
    #[error("setns({what}): {errno}")]
    Setns { what: &'static str, errno: nix::errno::Errno },
    #[error("{0}")]
    Other(String),
}

/// The namespaces entered, in nsenter's order (the mount namespace last: it changes what
/// paths mean). The pid namespace applies to the children forked after it.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let child = CHILD.load(Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(child, sig) };
    }
}

/// Runs `argv` in the testbed whose pid 1 is host pid `pid` started at `start` (clock
/// ticks, /proc/PID/stat field 22); returns the status to exit with.
pub fn run(pid: u32, start: u64, argv: &[String]) -> Result<i32, EnterError> {
    if argv.is_empty() {
        return Err(EnterError::Other("no command given after --".into()));
    }
    // Open first, check the start time after: the handles then surely belong to the
    // process that was checked, not to one that reused its pid.
    let mut handles = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = format!("/proc/{pid}/ns/{name}");
        match File::open(&path) {
            Ok(f) => handles.push((name, flag, f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(EnterError::Gone { pid }),
            Err(source) => return Err(EnterError::Namespace { path, source }),
        }
    }
    if !procfs::is_same(pid, start) {
        return Err(EnterError::Gone { pid });
    }
    let pid_ns = procfs::pid_ns(pid).ok_or(EnterError::Gone { pid })?;
    // Everything the child needs is made before fork: after it, only setns and exec.
    let mut args: Vec<CString> =
        ["sh", "-c", ENV_SCRIPT, "sh"].iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;
    for a in argv {
        args.push(cstring(a)?);
    }
    let env = [cstring(PATH)?];
    let sh = cstring("/bin/sh")?;
    let ours = [1, 2].map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok());
    let (pid_handle, others): (Vec<_>, Vec<_>) = handles.into_iter().partition(|(n, _, _)| *n == "pid");
    for (name, flag, f) in &pid_handle {
        setns(f, *flag).map_err(|errno| EnterError::Setns { what: name, errno })?;
    }
    // The child reports a failure to enter or exec on this close-on-exec pipe; EOF with
    // nothing written means the exec happened.
    let (report_r, report_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EnterError::Other(format!("pipe: {e}")))?;
    let forwarded = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT];
    // SAFETY: the child only calls async-signal-safe functions (setns, prctl, chdir,
    // write, execve, _exit) on data made before the fork.
    match unsafe { fork() }.map_err(|e| EnterError::Other(format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(report_r);
            let fail = |msg: &[u8]| -> ! {
                // SAFETY: write and _exit are async-signal-safe.
                unsafe {
                    libc::write(report_w.as_raw_fd(), msg.as_ptr().cast(), msg.len());
                    libc::_exit(OWN_FAILURE)
                }
            };
            for (name, flag, f) in &others {
                if setns(f, *flag).is_err() {
                    fail(name.as_bytes());
                }
            }
            // Killed with the prefix: a command must not outlive the prefix that
            // autopkgtest times out and kills.
            // SAFETY: prctl and chdir are async-signal-safe.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                libc::chdir(c"/".as_ptr());
            }
            let _ = nix::unistd::execve(&sh, &args, &env);
            fail(b"exec /bin/sh")
        }
        ForkResult::Parent { child } => {
            drop(report_w);
            CHILD.store(child.as_raw(), Ordering::Relaxed);
            let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
            for s in forwarded {
                // SAFETY: the handler only reads an atomic and calls kill(2).
                let _ = unsafe { sigaction(s, &action) };
            }
            let mut failed = String::new();
            let _ = File::from(report_r).read_to_string(&mut failed);
            let status = loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(_, code)) => break code,
                    Ok(WaitStatus::Signaled(_, sig, _)) => break 128 + sig as i32,
                    Ok(_) => continue,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(EnterError::Other(format!("waitpid: {e}"))),
                }
            };
            if !failed.is_empty() {
                return Err(if failed == "exec /bin/sh" {
                    EnterError::Other("could not exec /bin/sh in the testbed".into())
                } else if !procfs::is_same(pid, start) {
                    EnterError::Gone { pid }
                } else {
                    EnterError::Other(format!("could not enter the testbed's {failed} namespace"))
                });
            }
            kill_holders(pid_ns, &ours);
            Ok(relayed(status))
        }
    }
}

/// The status relayed for the command's own: 254 and 255 are the prefix's.
pub fn relayed(status: i32) -> i32 {
    if status == 254 || status == OWN_FAILURE { 253 } else { status }
}

/// Kills what the command left running in the testbed that still holds our stdout or
/// stderr pipe: otherwise the caller, reading to EOF, waits forever. 5.28's lxc and podman
/// servers do the same after every command. Only pipes and sockets: a terminal or
/// /dev/null says nothing about who started a process.
fn kill_holders(pid_ns: u64, ours: &[Option<std::path::PathBuf>; 2]) {
    let ours: Vec<&std::path::PathBuf> = ours
        .iter()
        .flatten()
        .filter(|p| p.to_str().is_some_and(|s| s.starts_with("pipe:") || s.starts_with("socket:")))
        .collect();
    if ours.is_empty() {
        return;
    }
    for p in procfs::pids_in_ns(pid_ns) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{p}/fd")) else { continue };
        let holds = fds.flatten().any(|e| std::fs::read_link(e.path()).is_ok_and(|l| ours.contains(&&l)));
        if holds {
            let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
        }
    }
}

fn cstring(s: &str) -> Result<CString, EnterError> {
    CString::new(s).map_err(|_| EnterError::Other(format!("argument {s:?} holds a NUL byte")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_prefix_keeps_254_and_255_for_itself() {
        for (status, want) in [
            (0, 0),
            (1, 1),
            (3, 3),
            (77, 77),
            (125, 125),
            (126, 126),
            (127, 127),
            (137, 137),
            (253, 253),
            (254, 253),
            (255, 253),
        ] {
            assert_eq!(super::relayed(status), want, "{status}");
        }
    }
}
