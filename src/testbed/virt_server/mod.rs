//! `autopkgtest-virt-srukit` (= `srukit testbed virt-server`): autopkgtest's virtualisation
//! server protocol on stdin/stdout over srukit's testbeds. Reads request lines, opens,
//! reverts and closes one testbed, hands the client the exec prefix (`enter`), copies
//! through it (`copy`). Diagnostics go to stderr; stdout carries only the protocol.
//!
//! Follows autopkgtest 5.28 (VirtSubproc.py, adt_testbed.py): banner `ok`; a protocol or
//! state error is a message on stderr and a non-zero exit after closing the testbed; a
//! failed copy is the reply `copy-failed`; `quit`, EOF and SIGTERM/SIGINT/SIGHUP close
//! the testbed first (a signal is then re-raised, as VirtSubproc does).

pub mod copy;
pub mod enter;
pub mod protocol;

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use self::protocol::{ProtocolError, Request};
use super::{Backend, ExecRequest, Image, OpenOptions, Testbed, TestbedError, procfs};
use crate::exit::{Exit, ExitCodeOf};
use crate::process::Cmd;

/// The scratch dir handed to the client: one fixed name, so `revert` returns the same path
/// (adt_testbed.py bombs when it changes), recreated empty in the fresh testbed.
pub const SCRATCH: &str = "/tmp/autopkgtest-srukit";

#[derive(Debug, thiserror::Error)]
pub enum VirtError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("`{0}' when not open")]
    NotOpen(&'static str),
    #[error("`open' when already open")]
    AlreadyOpen,
    #[error("`{0}' when `{0}' not advertised")]
    NotAdvertised(&'static str),
    #[error("end of file on stdin - caller quit?")]
    Eof,
    #[error("reading requests: {0}")]
    Read(nix::errno::Errno),
    #[error("writing a reply: {0} - caller gone?")]
    Write(std::io::Error),
    #[error("could not {what}: {source}")]
    Testbed { what: &'static str, source: TestbedError },
}

impl ExitCodeOf for VirtError {
    fn exit(&self) -> Exit {
        match self {
            VirtError::Protocol(_)
            | VirtError::NotOpen(_)
            | VirtError::AlreadyOpen
            | VirtError::NotAdvertised(_) => Exit::BadInput,
            _ => Exit::CouldNotRun,
        }
    }
}

/// How the server was called.
pub struct ServerOptions {
    pub open: OpenOptions,
}

/// What ended the session without an error.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Quit,
    /// A signal arrived; the testbed is closed, the caller re-raises it.
    Signal(i32),
}

/// The capabilities (README.virtualisation-server.rst): a fresh testbed per `revert` undoes
/// everything, processes and network included. `isolation-container` promises pid 1 is a
/// service manager: only a booted nspawn testbed has one. Never `isolation-machine` (the
/// host's kernel), never `reboot` (the overlay's writable layer dies with the container,
/// so a reboot could not keep the testbed's state as the restriction needs), and no
/// `downtmp-host` (the scratch lives in the testbed's own overlay).
pub fn capabilities(backend: Backend) -> Vec<String> {
    let mut caps = vec!["revert".to_string(), "revert-full-system".into(), "root-on-testbed".into()];
    if backend == (Backend::Nspawn { boot: true }) {
        caps.push("isolation-container".into());
    }
    caps
}

struct Session {
    image: Image,
    opts: OpenOptions,
    tb: Option<Box<dyn Testbed>>,
    out: std::io::Stdout,
}

/// The session: banner, requests until `quit`, EOF or a signal. The testbed is closed on
/// every way out.
pub fn serve(image: Image, opts: ServerOptions) -> Result<Ended, VirtError> {
    let signals = SignalPipe::install();
    let mut s = Session { image, opts: opts.open, tb: None, out: std::io::stdout() };
    let result = s.run(&signals);
    let closed = s.close_testbed();
    match (result, closed) {
        (Ok(e), Ok(())) => Ok(e),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}

impl Session {
    fn run(&mut self, signals: &SignalPipe) -> Result<Ended, VirtError> {
        self.reply("ok")?;
        let mut lines = LineReader::default();
        loop {
            let line = match lines.next(signals)? {
                Input::Line(l) => l,
                Input::Eof => return Err(VirtError::Eof),
                Input::Signal(sig) => return Ok(Ended::Signal(sig)),
            };
            let req = protocol::parse(&line)?;
            if req == Request::Quit {
                self.close_testbed()?;
                // 5.28's client closes its read end before `quit`: a reply it cannot
                // read is no error.
                let _ = self.reply("ok");
                return Ok(Ended::Quit);
            }
            let reply = self.handle(req)?;
            self.reply(&reply)?;
        }
    }

    fn reply(&mut self, line: &str) -> Result<(), VirtError> {
        writeln!(self.out, "{line}").and_then(|()| self.out.flush()).map_err(VirtError::Write)
    }

    fn handle(&mut self, req: Request) -> Result<String, VirtError> {
        let name = req.name();
        match req {
            Request::Capabilities => Ok(protocol::ok(&capabilities(self.opts.backend))),
            Request::Open => {
                if self.tb.is_some() {
                    return Err(VirtError::AlreadyOpen);
                }
                self.open_testbed()?;
                Ok(protocol::ok(&[SCRATCH.to_string()]))
            }
            Request::Revert => {
                self.testbed(name)?;
                self.close_testbed()?;
                self.open_testbed()?;
                Ok(protocol::ok(&[SCRATCH.to_string()]))
            }
            Request::Close => {
                self.testbed(name)?;
                self.close_testbed()?;
                Ok(protocol::ok(&[]))
            }
            Request::PrintExecuteCommand => {
                let prefix = self.prefix(name)?;
                Ok(protocol::ok_encoded(&protocol::execute_command(&prefix)))
            }
            Request::Copydown { host, testbed, dir } => {
                let prefix = self.prefix(name)?;
                let executable = !dir && is_executable(&host);
                let script = copy::down_script(&prefix, &host, &testbed, dir, executable);
                Ok(copy_reply(name, &script))
            }
            Request::Copyup { testbed, host, dir } => {
                let prefix = self.prefix(name)?;
                Ok(copy_reply(name, &copy::up_script(&prefix, &testbed, &host, dir)))
            }
            Request::Shell { cwd, env } => {
                let prefix = self.prefix(name)?;
                shell(&prefix, &cwd, &env);
                Ok(protocol::ok(&[]))
            }
            Request::AuxverbDebugFail => {
                self.debug_fail();
                Ok(protocol::ok(&[]))
            }
            Request::Reboot { .. } => {
                self.testbed(name)?;
                Err(VirtError::NotAdvertised(name))
            }
            Request::Quit => unreachable!("quit is handled by the loop"),
        }
    }

    fn testbed(&self, cmd: &'static str) -> Result<&dyn Testbed, VirtError> {
        self.tb.as_deref().ok_or(VirtError::NotOpen(cmd))
    }

    /// `srukit testbed enter --pid P --start T --`, the program being this very binary.
    fn prefix(&self, cmd: &'static str) -> Result<Vec<String>, VirtError> {
        let pid = self.testbed(cmd)?.init_pid().ok_or(VirtError::Testbed {
            what: "find the testbed's pid 1",
            source: other("a testbed behind another virt server has no host pid 1".into()),
        })?;
        let start = procfs::start_time(pid)
            .ok_or(VirtError::Testbed { what: "find the testbed's pid 1", source: gone(pid) })?;
        let exe = std::env::current_exe().map_err(|e| VirtError::Testbed {
            what: "find srukit's own path",
            source: other(e.to_string()),
        })?;
        Ok(vec![
            exe.to_string_lossy().into_owned(),
            "testbed".into(),
            "enter".into(),
            "--pid".into(),
            pid.to_string(),
            "--start".into(),
            start.to_string(),
            "--".into(),
        ])
    }

    fn open_testbed(&mut self) -> Result<(), VirtError> {
        let mut tb = super::open(&self.image, &self.opts)
            .map_err(|source| VirtError::Testbed { what: "open the testbed", source })?;
        eprintln!("autopkgtest-virt-srukit: opened testbed {} (image {})", tb.id(), self.image.name);
        let mkdir = ExecRequest::new(["mkdir", "-m", "1777", "--", SCRATCH]);
        let made = tb.exec(&mkdir);
        let failed = match made {
            Ok(out) if out.success() => None,
            Ok(out) => Some(other(format!("mkdir {SCRATCH} failed: {}", out.stderr_str().trim()))),
            Err(e) => Some(e),
        };
        if let Some(source) = failed {
            let _ = tb.close();
            return Err(VirtError::Testbed { what: "make the scratch dir", source });
        }
        self.tb = Some(tb);
        Ok(())
    }

    fn close_testbed(&mut self) -> Result<(), VirtError> {
        match self.tb.take() {
            Some(tb) => {
                let id = tb.id().to_string();
                tb.close().map_err(|source| VirtError::Testbed { what: "close the testbed", source })?;
                eprintln!("autopkgtest-virt-srukit: closed testbed {id}");
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// `auxverb_debug_fail`: what is known about the testbed, on stderr.
    fn debug_fail(&self) {
        let Some(tb) = &self.tb else {
            eprintln!("autopkgtest-virt-srukit: no testbed is open");
            return;
        };
        let pid = tb.init_pid().unwrap_or(0);
        eprintln!(
            "autopkgtest-virt-srukit: testbed {} image {} backend {:?}, pid 1 is host pid {pid} ({})",
            tb.id(),
            self.image.name,
            self.opts.backend,
            if procfs::start_time(pid).is_some() { "alive" } else { "gone" }
        );
        if let Some(b) = tb.boot_status() {
            eprintln!(
                "autopkgtest-virt-srukit: booted {} in {:.2}s; failed units: {:?}",
                b.state, b.seconds, b.failed_units
            );
        }
    }
}

fn gone(pid: u32) -> TestbedError {
    other(format!("the testbed's pid 1 (host pid {pid}) is gone"))
}

fn other(msg: String) -> TestbedError {
    TestbedError::StartOther(msg)
}

fn is_executable(path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// Runs a copy script; a failure is the reply `copy-failed` (VirtSubproc's FailedCmd), its
/// output on stderr.
fn copy_reply(what: &str, script: &str) -> String {
    match Cmd::new("bash").args(["-ec", script]).output_unchecked() {
        Ok(out) if out.status.success() => protocol::ok(&[]),
        Ok(out) => {
            eprintln!(
                "autopkgtest-virt-srukit: {what} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            "copy-failed".into()
        }
        Err(e) => {
            eprintln!("autopkgtest-virt-srukit: {what} failed: {e}");
            "copy-failed".into()
        }
    }
}

/// `shell`: bash on the caller's terminal (/dev/tty, as VirtSubproc does), in CWD with the
/// given variables. No terminal is no error of the protocol: said on stderr.
fn shell(prefix: &[String], cwd: &str, env: &[String]) {
    use crate::process::shell_quote;
    let mut inner = format!("cd {}; ", shell_quote(cwd));
    for e in env {
        inner.push_str(&format!("export {}; ", shell_quote(e)));
    }
    if let Ok(term) = std::env::var("TERM") {
        inner.push_str(&format!("export TERM={}; ", shell_quote(&term)));
    }
    inner.push_str("bash -i");
    let mut words: Vec<String> = prefix.iter().map(|w| shell_quote(w)).collect();
    words.extend(["sh".into(), "-c".into(), shell_quote(&inner)]);
    let script = format!("exec {} </dev/tty >/dev/tty 2>/dev/tty", words.join(" "));
    match Cmd::new("sh").args(["-c", &script]).interactive() {
        Ok(0) => {}
        Ok(status) => eprintln!("autopkgtest-virt-srukit: shell exited {status}"),
        Err(e) => eprintln!("autopkgtest-virt-srukit: cannot run shell: {e}"),
    }
}

enum Input {
    Line(String),
    Eof,
    Signal(i32),
}

/// Reads stdin a chunk at a time, waiting on stdin and the signal pipe together, so a
/// signal is noticed while the server waits for the client.
#[derive(Default)]
struct LineReader {
    buf: Vec<u8>,
    eof: bool,
}

impl LineReader {
    fn next(&mut self, signals: &SignalPipe) -> Result<Input, VirtError> {
        loop {
            if let Some(sig) = signals.pending() {
                return Ok(Input::Signal(sig));
            }
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                if line.is_empty() {
                    continue;
                }
                return Ok(Input::Line(line));
            }
            if self.eof {
                // A last line without its newline is still a request.
                let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).trim().to_string();
                return Ok(if rest.is_empty() { Input::Eof } else { Input::Line(rest) });
            }
            // SAFETY: fd 0 stays open for the life of the process.
            let stdin = unsafe { BorrowedFd::borrow_raw(0) };
            let mut fds =
                [PollFd::new(stdin, PollFlags::POLLIN), PollFd::new(signals.read.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(VirtError::Read(e)),
            }
            if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                let mut chunk = [0u8; 4096];
                match nix::unistd::read(stdin, &mut chunk) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                    Err(e) => return Err(VirtError::Read(e)),
                }
            }
        }
    }
}

static SIGNAL_WRITE_FD: AtomicI32 = AtomicI32::new(-1);
static SIGNAL_SEEN: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL_SEEN.store(sig, Ordering::SeqCst);
    let fd = SIGNAL_WRITE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe only loses a wake-up byte.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// The self-pipe a signal handler writes to (VirtSubproc's SIGHUP/SIGTERM/SIGINT list;
/// SIGPIPE stays ignored, as Rust sets it: a write error says the caller is gone).
struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
}

const HANDLED: [Signal; 3] = [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT];

impl SignalPipe {
    fn install() -> SignalPipe {
        use nix::fcntl::OFlag;
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("a pipe can be made at start-up");
        SIGNAL_WRITE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
        for s in HANDLED {
            // SAFETY: the handler only stores an atomic and writes one byte.
            let _ = unsafe { sigaction(s, &action) };
        }
        SignalPipe { read, _write: write }
    }

    fn pending(&self) -> Option<i32> {
        let sig = SIGNAL_SEEN.load(Ordering::SeqCst);
        (sig != 0).then_some(sig)
    }
}

/// After the testbed is closed: die by the signal that ended the session, as VirtSubproc
/// does, so the caller sees how it ended.
pub fn reraise(sig: i32) -> ! {
    if let Ok(s) = Signal::try_from(sig) {
        // SAFETY: restoring the default action is always sound.
        let _ =
            unsafe { sigaction(s, &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty())) };
        let _ = nix::sys::signal::raise(s);
    }
    std::process::exit(128 + sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolation_container_only_where_pid_1_is_a_service_manager() {
        let base = ["revert", "revert-full-system", "root-on-testbed"];
        assert_eq!(capabilities(Backend::Unshare), base);
        assert_eq!(capabilities(Backend::Nspawn { boot: false }), base);
        assert_eq!(
            capabilities(Backend::Nspawn { boot: true }),
            ["revert", "revert-full-system", "root-on-testbed", "isolation-container"]
        );
    }

    #[test]
    fn the_caller_s_mistakes_are_bad_input_and_the_testbed_s_failures_could_not_run() {
        let bad = [
            VirtError::Protocol(ProtocolError::Unknown("x".into())),
            VirtError::NotOpen("close"),
            VirtError::AlreadyOpen,
            VirtError::NotAdvertised("reboot"),
        ];
        for e in bad {
            assert_eq!(e.exit(), Exit::BadInput, "{e}");
        }
        let failed = [
            VirtError::Eof,
            VirtError::Testbed { what: "open the testbed", source: other("no slirp4netns".into()) },
        ];
        for e in failed {
            assert_eq!(e.exit(), Exit::CouldNotRun, "{e}");
        }
    }
}
