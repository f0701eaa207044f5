//! The first process of a testbed. The parent prepares every path and option as C strings,
//! then clones a child into new namespaces; the child only makes system calls (it is a fork
//! of a possibly multi-threaded process, so it must not allocate or take locks), reports the
//! step that failed over a pipe, and then either stays as pid 1 reaping orphans (unshare
//! backend) or execs systemd-nspawn (nspawn backend).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sched::CloneFlags;

use super::TestbedError;

/// One system call the child makes; the parent keeps the description for errors.
pub enum Op {
    /// `mount(2)`; a None source/fstype/data is passed as NULL.
    Mount {
        src: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    /// mkdir; an existing directory is fine.
    Mkdir {
        path: CString,
        mode: libc::mode_t,
    },
    Mknod {
        path: CString,
        mode: libc::mode_t,
        dev: libc::dev_t,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// Replaces a file (unlinked first so a symlink is not followed).
    WriteFile {
        path: CString,
        bytes: Vec<u8>,
    },
    Hostname(Vec<u8>),
    LoopbackUp,
    /// chdir(new_root); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/").
    PivotRoot(CString),
    /// Sends stdout/stderr to this file (stdin is /dev/null), for a program exec'd next.
    Output(CString),
    /// execv; never returns on success (the status pipe closes on exec).
    Exec {
        path: CString,
        argv: Vec<CString>,
    },
}

pub struct Plan {
    pub ops: Vec<(String, Op)>,
    pub flags: CloneFlags,
    /// The signal the child (and what it execs) gets if the thread that opened it dies
    /// (only set from the main thread: the signal follows the creating *thread*, not the
    /// process). SIGKILL for a plain testbed; SIGTERM for a booted nspawn, which then powers
    /// its container off (`--kill-signal`) instead of leaving it running without a parent.
    pub parent_death_signal: Option<libc::c_int>,
}

pub fn cstr(p: impl AsRef<Path>) -> CString {
    CString::new(p.as_ref().as_os_str().as_bytes()).expect("paths made by srukit have no NUL")
}

/// A cloned child waiting for `go`.
pub struct Child {
    pub pid: u32,
    go: Option<OwnedFd>,
    status: OwnedFd,
    descriptions: Vec<String>,
    ends_in_exec: bool,
}

/// Clones the child; it waits until `Child::release`, so the caller can record its pid
/// and put it in cgroups first.
pub fn clone_child(plan: Plan) -> Result<Child, TestbedError> {
    fn sys(what: &'static str) -> impl Fn(nix::errno::Errno) -> TestbedError {
        move |errno| TestbedError::Sys { what: what.to_string(), errno }
    }
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (st_r, st_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let descriptions: Vec<String> = plan.ops.iter().map(|(d, _)| d.clone()).collect();
    let ends_in_exec = matches!(plan.ops.last(), Some((_, Op::Exec { .. })));
    let devnull = cstr("/dev/null");
    // Pointer arrays for execv, built before the clone (the child gets a copy of them).
    let exec_ptrs: Vec<Vec<*const libc::c_char>> = plan
        .ops
        .iter()
        .map(|(_, op)| match op {
            Op::Exec { argv, .. } => {
                argv.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    let (gr, sw) = (go_r.as_raw_fd(), st_w.as_raw_fd());
    let flags = plan.flags;
    let mut stack = vec![0u8; 256 * 1024];
    let cb = Box::new(|| -> isize {
        // SAFETY: only system calls on memory prepared before the clone.
        unsafe { child_main(&plan, &exec_ptrs, &devnull, gr, sw) }
    });
    // SAFETY: the child runs `child_main`, which does not allocate or lock, then exits or
    // execs; the stack outlives the clone call (the child has its own copy of memory).
    let pid =
        unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }.map_err(sys("clone"))?;
    drop(go_r);
    drop(st_w);
    Ok(Child { pid: pid.as_raw() as u32, go: Some(go_w), status: st_r, descriptions, ends_in_exec })
}

impl Child {
    /// Lets the child run its plan and waits for its verdict: Ok once every step is done
    /// (or the exec happened), else the failed step and its errno.
    pub fn release(mut self) -> Result<(), TestbedError> {
        let go = self.go.take().expect("released once");
        let _ = nix::unistd::write(&go, b"g");
        drop(go);
        let mut buf = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            match nix::unistd::read(&self.status, &mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => return Err(TestbedError::Sys { what: "read testbed status".into(), errno }),
            }
        }
        if got < 8 {
            // EOF without a verdict: a successful exec closed the pipe, or the child died.
            return if self.ends_in_exec {
                Ok(())
            } else {
                Err(TestbedError::StartOther("the testbed's first process died during setup".into()))
            };
        }
        let step = i32::from_ne_bytes(buf[..4].try_into().expect("4 bytes"));
        let errno = i32::from_ne_bytes(buf[4..].try_into().expect("4 bytes"));
        if step < 0 {
            return Ok(());
        }
        let what = self.descriptions.get(step as usize).cloned().unwrap_or_else(|| format!("step {step}"));
        Err(TestbedError::Start { step: what, errno: nix::errno::Errno::from_raw(errno) })
    }
}

/// Reports `(step, errno)` to the parent; step -1 means "all done".
unsafe fn report(fd: RawFd, step: i32, errno: i32) {
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&step.to_ne_bytes());
    buf[4..].copy_from_slice(&errno.to_ne_bytes());
    unsafe { libc::write(fd, buf.as_ptr().cast(), 8) };
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn ptr(c: &Option<CString>) -> *const libc::c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    pad: [u8; 22],
}

unsafe fn run_op(op: &Op, exec_ptrs: &[*const libc::c_char]) -> Result<(), i32> {
    let ok = |r: libc::c_int| if r < 0 { Err(errno()) } else { Ok(()) };
    unsafe {
        match op {
            Op::Mount { src, target, fstype, flags, data } => ok(libc::mount(
                ptr(src),
                target.as_ptr(),
                ptr(fstype),
                *flags,
                data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr().cast()),
            )),
            Op::Mkdir { path, mode } => match ok(libc::mkdir(path.as_ptr(), *mode)) {
                Err(libc::EEXIST) => Ok(()),
                r => r,
            },
            // mknod honours the umask (022): chmod after, or /dev/null is not writable by the
            // build user.
            Op::Mknod { path, mode, dev } => ok(libc::mknod(path.as_ptr(), *mode, *dev))
                .and_then(|()| ok(libc::chmod(path.as_ptr(), *mode & 0o7777))),
            Op::Symlink { target, link } => ok(libc::symlink(target.as_ptr(), link.as_ptr())),
            Op::WriteFile { path, bytes } => {
                libc::unlink(path.as_ptr());
                let fd = libc::open(
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                    0o644,
                );
                if fd < 0 {
                    return Err(errno());
                }
                let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
                let e = errno();
                libc::close(fd);
                if n < 0 || n as usize != bytes.len() { Err(e) } else { Ok(()) }
            }
            Op::Hostname(name) => ok(libc::sethostname(name.as_ptr().cast(), name.len())),
            Op::LoopbackUp => {
                let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                if s < 0 {
                    return Err(errno());
                }
                let mut req = IfReq { name: [0; 16], flags: 0, pad: [0; 22] };
                req.name[..2].copy_from_slice(b"lo");
                const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
                const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
                let mut r = libc::ioctl(s, SIOCGIFFLAGS, &mut req as *mut IfReq);
                if r >= 0 {
                    req.flags |= libc::IFF_UP as libc::c_short;
                    r = libc::ioctl(s, SIOCSIFFLAGS, &mut req as *mut IfReq);
                }
                let e = errno();
                libc::close(s);
                if r < 0 { Err(e) } else { Ok(()) }
            }
            Op::PivotRoot(root) => {
                ok(libc::chdir(root.as_ptr()))?;
                let dot = c".".as_ptr();
                ok(libc::syscall(libc::SYS_pivot_root, dot, dot) as libc::c_int)?;
                ok(libc::umount2(dot, libc::MNT_DETACH))?;
                ok(libc::chdir(c"/".as_ptr()))
            }
            Op::Output(path) => {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND, 0o644);
                if fd < 0 {
                    return Err(errno());
                }
                libc::dup2(fd, 1);
                libc::dup2(fd, 2);
                libc::close(fd);
                Ok(())
            }
            Op::Exec { path, .. } => {
                libc::execv(path.as_ptr(), exec_ptrs.as_ptr());
                Err(errno())
            }
        }
    }
}

/// The child: close inherited descriptors, wait for `go`, run the plan, report, then be
/// pid 1 (reap orphans forever; it dies by SIGKILL at teardown).
unsafe fn child_main(
    plan: &Plan,
    exec_ptrs: &[Vec<*const libc::c_char>],
    devnull: &CString,
    go: RawFd,
    status: RawFd,
) -> isize {
    unsafe {
        if let Some(sig) = plan.parent_death_signal {
            // A parent that died before this line is caught below: `go` reads EOF.
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong);
        }
        // Inherited descriptors (other threads' pipes, the test harness's) must not be held
        // open for the testbed's lifetime.
        let (lo, hi) = (go.min(status) as libc::c_uint, go.max(status) as libc::c_uint);
        if lo > 3 {
            libc::close_range(3, lo - 1, 0);
        }
        if hi > lo + 1 {
            libc::close_range(lo + 1, hi - 1, 0);
        }
        libc::close_range(hi + 1, libc::c_uint::MAX, 0);
        let null = libc::open(devnull.as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
        let mut b = [0u8; 1];
        if libc::read(go, b.as_mut_ptr().cast(), 1) != 1 {
            libc::_exit(1);
        }
        libc::close(go);
        for (i, (_, op)) in plan.ops.iter().enumerate() {
            if let Err(e) = run_op(op, &exec_ptrs[i]) {
                report(status, i as i32, e);
                libc::_exit(1);
            }
        }
        report(status, -1, 0);
        libc::close(status);
        reap_forever()
    }
}

/// pid 1's job: reap every orphan. SIGCHLD is blocked and waited for, so no handler runs
/// in this forked copy of srukit.
unsafe fn reap_forever() -> ! {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
        loop {
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
            libc::sigtimedwait(&set, std::ptr::null_mut(), &ts);
        }
    }
}
