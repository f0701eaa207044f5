//! The one door to the outside world: every external command srukit runs goes through here.
//!
//! A command prints itself shell-quoted (so a user can paste it), its output is captured,
//! and a failure becomes an error that tells "could not start" from "exited non-zero" and
//! quotes the tail of stderr, in the manner of cargo's ProcessBuilder.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::exit::{Exit, ExitCodeOf};

/// How many lines of stderr (and stdout) an error quotes.
const TAIL_LINES: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not start `{cmd}`: {source}")]
    Spawn {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` {status}{}", tail_block(stderr_tail, stdout_tail))]
    Failed { cmd: String, status: String, code: Option<i32>, stdout_tail: String, stderr_tail: String },
    #[error("`{cmd}` timed out after {}s", timeout.as_secs_f64())]
    Timeout { cmd: String, timeout: Duration },
}

fn tail_block(stderr: &str, stdout: &str) -> String {
    let t = if stderr.trim().is_empty() { stdout } else { stderr };
    if t.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- output (last lines) ---\n{}", t.trim_end())
    }
}

impl ExitCodeOf for ProcessError {
    fn exit(&self) -> Exit {
        Exit::CouldNotRun
    }
}

/// An external command, built up and then run once.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    log: Option<PathBuf>,
    /// Append to `log` rather than truncate it (a supervised process restarted).
    append: bool,
    own_group: bool,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Cmd {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            timeout: None,
            log: None,
            append: false,
            own_group: false,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env.push((k.as_ref().to_owned(), v.as_ref().to_owned()));
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(k.as_ref().to_owned());
        self
    }

    pub fn stdin_bytes(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// Streams stdout and stderr (interleaved) into `path` instead of capturing them; the
    /// `Output` then carries empty stdout/stderr.
    pub fn output_to_file(mut self, path: impl AsRef<Path>) -> Self {
        self.log = Some(path.as_ref().to_owned());
        self
    }

    /// As `output_to_file`, but appending: a restarted daemon's log keeps its earlier runs.
    pub fn append_to_file(mut self, path: impl AsRef<Path>) -> Self {
        self.log = Some(path.as_ref().to_owned());
        self.append = true;
        self
    }

    /// Starts the command as the leader of its own process group, and a timeout kills the
    /// whole group: a wrapper (a virt server's exec prefix) and what it started go together.
    pub fn own_process_group(mut self) -> Self {
        self.own_group = true;
        self
    }

    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The command as a user would type it: each word shell-quoted where it needs to be.
    pub fn display(&self) -> String {
        let mut words = Vec::with_capacity(self.args.len() + 1);
        for (k, v) in &self.env {
            words.push(format!("{}={}", k.to_string_lossy(), shell_quote(&v.to_string_lossy())));
        }
        words.push(shell_quote(&self.program.to_string_lossy()));
        words.extend(self.args.iter().map(|a| shell_quote(&a.to_string_lossy())));
        let line = words.join(" ");
        match &self.cwd {
            Some(d) => format!("(cd {} && {line})", shell_quote(&d.to_string_lossy())),
            None => line,
        }
    }

    fn expression(&self) -> duct::Expression {
        let e = duct::cmd(&self.program, &self.args);
        // duct applies the outermost redirection first: stderr joins stdout, then stdout
        // goes to the file.
        let mut e = match &self.log {
            Some(p) => e.stderr_to_stdout().stdout_path(p),
            None => e.stdout_capture().stderr_capture(),
        }
        .unchecked();
        if let Some(d) = &self.cwd {
            e = e.dir(d);
        }
        if self.own_group {
            e = e.before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                Ok(())
            });
        }
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        for k in &self.env_remove {
            e = e.env_remove(k);
        }
        match &self.stdin {
            Some(input) => e.stdin_bytes(input.clone()),
            None => e.stdin_null(),
        }
    }

    /// Runs the command and returns its output whatever its exit status.
    pub fn output_unchecked(&self) -> Result<Output, ProcessError> {
        tracing_log(&self.display());
        let expr = self.expression();
        let spawn_err = |source| ProcessError::Spawn { cmd: self.display(), source };
        match self.timeout {
            None => expr.run().map_err(spawn_err),
            Some(t) => {
                let handle = expr.start().map_err(spawn_err)?;
                let deadline = std::time::Instant::now() + t;
                loop {
                    if let Some(out) = handle.try_wait().map_err(spawn_err)? {
                        return Ok(out.clone());
                    }
                    if std::time::Instant::now() >= deadline {
                        if self.own_group
                            && let Some(&pid) = handle.pids().first()
                        {
                            let _ = nix::sys::signal::killpg(
                                nix::unistd::Pid::from_raw(pid as i32),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                        let _ = handle.kill();
                        return Err(ProcessError::Timeout { cmd: self.display(), timeout: t });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    /// Starts the command without waiting, output captured: for a caller that must watch or
    /// kill it (`Handle::kill` sends SIGKILL), as the patch engine's kill test does.
    pub fn start_captured(&self) -> Result<duct::Handle, ProcessError> {
        tracing_log(&self.display());
        self.expression().start().map_err(|source| ProcessError::Spawn { cmd: self.display(), source })
    }

    /// Starts the command in the background (a daemon, or a long-running helper): its
    /// output goes to the `output_to_file` file, or nowhere. The caller waits or kills.
    pub fn start(&self) -> Result<Background, ProcessError> {
        tracing_log(&self.display());
        let mut e = duct::cmd(&self.program, &self.args).unchecked();
        e = match &self.log {
            Some(p) if self.append => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| ProcessError::Spawn { cmd: self.display(), source })?;
                e.stderr_to_stdout().stdout_file(f)
            }
            Some(p) => e.stderr_to_stdout().stdout_path(p),
            None => e.stdout_null().stderr_null(),
        };
        if let Some(d) = &self.cwd {
            e = e.dir(d);
        }
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        e = match &self.stdin {
            Some(input) => e.stdin_bytes(input.clone()),
            None => e.stdin_null(),
        };
        if self.own_group {
            e = e.before_spawn(|c| {
                use std::os::unix::process::CommandExt;
                c.process_group(0);
                Ok(())
            });
        }
        let handle = e.start().map_err(|source| ProcessError::Spawn { cmd: self.display(), source })?;
        Ok(Background { handle, cmd: self.display() })
    }

    /// Starts the command with piped stdin and stdout, for a line protocol (a virt server);
    /// its stderr is appended to `stderr_log`. The caller talks, then waits or kills.
    pub fn spawn_piped(&self, stderr_log: &Path) -> Result<Piped, ProcessError> {
        use std::process::{Command, Stdio};
        tracing_log(&self.display());
        let spawn_err = |source| ProcessError::Spawn { cmd: self.display(), source };
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(stderr_log).map_err(spawn_err)?;
        let mut c = Command::new(&self.program);
        c.args(&self.args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log);
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        let mut child = c.spawn().map_err(spawn_err)?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        // A reader thread turns the blocking pipe into lines a caller can wait on with a
        // deadline (a server that hangs must not hang srukit).
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Piped { child, stdin: Some(stdin), lines, cmd: self.display() })
    }

    /// Runs the command on the caller's terminal (stdin, stdout, stderr inherited), for
    /// the few interactive commands (`testbed shell`); returns its exit code.
    pub fn interactive(&self) -> Result<i32, ProcessError> {
        tracing_log(&self.display());
        let mut e = duct::cmd(&self.program, &self.args).unchecked();
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        if let Some(d) = &self.cwd {
            e = e.dir(d);
        }
        let out = e.run().map_err(|source| ProcessError::Spawn { cmd: self.display(), source })?;
        Ok(out.status.code().unwrap_or(128))
    }

    /// Runs the command; a non-zero exit is an error quoting the tail of its output.
    pub fn run(&self) -> Result<Output, ProcessError> {
        let out = self.output_unchecked()?;
        if out.status.success() { Ok(out) } else { Err(self.failed(&out)) }
    }

    /// Runs the command and returns its stdout as text (lossy), trimmed of the final newline.
    pub fn read(&self) -> Result<String, ProcessError> {
        let out = self.run()?;
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// The error for an output that exited non-zero.
    pub fn failed(&self, out: &Output) -> ProcessError {
        ProcessError::Failed {
            cmd: self.display(),
            status: describe_status(&out.status),
            code: out.status.code(),
            stdout_tail: tail(&out.stdout, TAIL_LINES),
            stderr_tail: tail(&out.stderr, TAIL_LINES),
        }
    }
}

/// A command started with `Cmd::start`, still running or finished.
pub struct Background {
    handle: duct::Handle,
    cmd: String,
}

impl Background {
    pub fn pid(&self) -> u32 {
        self.handle.pids().first().copied().unwrap_or(0)
    }

    pub fn display(&self) -> &str {
        &self.cmd
    }

    /// `Some(status)` once it has exited.
    pub fn try_wait(&self) -> Option<std::process::ExitStatus> {
        self.handle.try_wait().ok().flatten().map(|o| o.status)
    }

    /// Kills it (if still running) and reaps it.
    pub fn kill(&self) {
        let _ = self.handle.kill();
        let _ = self.handle.wait();
    }

    /// Kills its whole process group (it must have been started with `own_process_group`:
    /// a wrapper and what it started), then reaps it.
    pub fn kill_group(&self) {
        if self.try_wait().is_none() && self.pid() > 0 {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pid() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.kill();
    }
}

/// A command started with `Cmd::spawn_piped`: lines in, lines out.
pub struct Piped {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    cmd: String,
}

impl Piped {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn display(&self) -> &str {
        &self.cmd
    }

    /// Writes one line (a newline is added).
    pub fn send(&mut self, line: &str) -> std::io::Result<()> {
        use std::io::Write;
        let stdin = self.stdin.as_mut().ok_or_else(|| std::io::Error::other("stdin already closed"))?;
        stdin.write_all(format!("{line}\n").as_bytes())?;
        stdin.flush()
    }

    /// The next line of stdout; `Err(true)` at end of file, `Err(false)` when `timeout` passed.
    pub fn recv(&self, timeout: Duration) -> Result<String, bool> {
        use std::sync::mpsc::RecvTimeoutError;
        self.lines.recv_timeout(timeout).map_err(|e| matches!(e, RecvTimeoutError::Disconnected))
    }

    /// Closes its stdin (end of file for it).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills it (if still running) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "exited with status N" / "was killed by signal N".
pub fn describe(status: &std::process::ExitStatus) -> String {
    describe_status(status)
}

fn describe_status(status: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "failed".to_string(),
    }
}

/// The last `n` lines of some output, as text.
pub fn tail(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether a process with this pid exists (signal 0).
pub fn pid_alive(pid: u32) -> bool {
    pid != 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// The pid a temporary entry `.tmp-<pid>-<rest>` names: a cache's writer in progress.
pub fn tmp_owner(name: &str) -> Option<u32> {
    name.strip_prefix(".tmp-")?.split('-').next()?.parse().ok()
}

/// Quotes a word for a POSIX shell only when it needs it.
pub fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// Words joined as a shell would read them back.
pub fn shell_quote_all(words: &[String]) -> String {
    words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

/// Is `program` on PATH? Used to turn a missing tool into a clear "could not run" error
/// before a stage starts, rather than a spawn error in the middle of it.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// Verbose mode logs every command to stderr before it runs (SRUKIT_LOG_COMMANDS=1,
/// set by `-v`), so a user can replay it.
fn tracing_log(line: &str) {
    if std::env::var_os("SRUKIT_LOG_COMMANDS").is_some() {
        eprintln!("+ {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("plain-word_1.2"), "plain-word_1.2");
        assert_eq!(shell_quote("two words"), "'two words'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn display_quotes_and_names_cwd() {
        let c = Cmd::new("echo").arg("a b").cwd("/tmp");
        assert_eq!(c.display(), "(cd /tmp && echo 'a b')");
    }

    #[test]
    fn failure_quotes_stderr_and_status() {
        let err = Cmd::new("sh").args(["-c", "echo boom >&2; exit 7"]).run().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("exited with status 7"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = Cmd::new("/nonexistent/srukit-no-such-tool").run().unwrap_err();
        assert!(matches!(err, ProcessError::Spawn { .. }), "{err}");
    }

    #[test]
    fn timeout_kills() {
        let err = Cmd::new("sleep").arg("5").timeout(Duration::from_millis(100)).run().unwrap_err();
        assert!(matches!(err, ProcessError::Timeout { .. }), "{err}");
    }

    #[test]
    fn output_streams_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        Cmd::new("sh").args(["-c", "echo out; echo err >&2"]).output_to_file(&log).run().unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "out\nerr\n");
    }

    #[test]
    fn background_runs_until_killed() {
        let bg = Cmd::new("sleep").arg("30").start().unwrap();
        assert!(bg.pid() > 0);
        assert!(bg.try_wait().is_none());
        bg.kill();
        assert!(bg.try_wait().is_some());
    }

    #[test]
    fn stdin_is_fed() {
        let out = Cmd::new("cat").stdin_bytes(b"hello".to_vec()).read().unwrap();
        assert_eq!(out, "hello");
    }
}
