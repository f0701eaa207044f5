//! Commands through a virt server's exec prefix: the argv srukit runs is
//! `PREFIX env -i PATH=... K=V [timeout -k 2 S] [sh -c 'cd "$1" && shift && exec "$@"' sh CWD] ARGV`,
//! so the clean environment, the working directory and the time limit hold on any testbed
//! (a remote one too). The words travel as one shell-safe word (`through`): some servers'
//! prefixes re-split what they are given (autopkgtest-virt-ssh's `runcmd` collapses runs of
//! spaces in an argument that also holds a newline), and an argv must arrive as it was sent.

use std::time::{Duration, Instant};

use crate::process::Cmd;
use crate::testbed::{ExecOutput, ExecRequest, TestbedError};

/// The clean environment every srukit testbed gives a command (as `running.rs` does).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How much longer than the in-testbed `timeout` the host waits before it kills the prefix
/// itself (a hung connection to a remote testbed).
const HOST_GRACE: Duration = Duration::from_secs(15);

/// The argv after the prefix for a request: environment, time limit, directory, command.
pub fn inner_argv(req: &ExecRequest) -> Vec<String> {
    let mut argv: Vec<String> = vec!["env".into(), "-i".into()];
    argv.extend([
        format!("PATH={PATH}"),
        "HOME=/root".into(),
        "LANG=C.UTF-8".into(),
        "DEBIAN_FRONTEND=noninteractive".into(),
    ]);
    argv.extend(req.env.iter().map(|(k, v)| format!("{k}={v}")));
    if let Some(t) = req.timeout {
        // coreutils' timeout runs the command in its own process group inside the testbed
        // and signals all of it: what a host-side kill of the prefix cannot reach on a remote.
        argv.extend(["timeout".into(), "-k".into(), "2".into(), format!("{:.3}s", t.as_secs_f64())]);
    }
    if let Some(cwd) = &req.cwd {
        argv.extend(
            ["sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh"]
                .map(String::from)
                .into_iter()
                .chain([cwd.display().to_string()]),
        );
    }
    argv.extend(req.argv.iter().cloned());
    argv
}

/// `prefix` + a `sh -c` whose only argument is made of shell-safe characters and decodes
/// to `words` exactly: each byte of the quoted command line as a printf octal escape, so no
/// re-quoting or word splitting by the prefix (or a remote login shell) can change it.
pub fn through(prefix: &[String], words: &[String]) -> Vec<String> {
    let line = format!("exec {}", crate::process::shell_quote_all(words));
    let octal: String = line.bytes().map(|b| format!("\\{b:03o}")).collect();
    let mut full = prefix.to_vec();
    full.extend(["sh".to_string(), "-c".to_string(), format!("eval \"$(printf '{octal}')\"")]);
    full
}

/// Runs `req` through `prefix`; 254/255 from the prefix are infrastructure failures.
pub fn run(server: &str, prefix: &[String], req: &ExecRequest) -> Result<ExecOutput, TestbedError> {
    let full = through(prefix, &inner_argv(req));
    let mut cmd = Cmd::new(&full[0]).args(&full[1..]).own_process_group();
    if let Some(input) = &req.stdin {
        cmd = cmd.stdin_bytes(input.clone());
    }
    if let Some(log) = &req.log {
        cmd = cmd.output_to_file(log);
    }
    if let Some(t) = req.timeout {
        cmd = cmd.timeout(t + HOST_GRACE);
    }
    let shown = crate::process::shell_quote_all(&req.argv);
    let started = Instant::now();
    let out = match cmd.output_unchecked() {
        Ok(out) => out,
        Err(crate::process::ProcessError::Timeout { .. }) => {
            return Err(TestbedError::VirtServer {
                server: server.to_string(),
                msg: format!(
                    "`{shown}` did not end {}s after its {}s limit: its exec prefix's process group was killed; \
                     on a remote testbed the command itself may still be running there",
                    HOST_GRACE.as_secs(),
                    req.timeout.unwrap_or_default().as_secs_f64()
                ),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let duration = started.elapsed();
    let status = {
        use std::os::unix::process::ExitStatusExt;
        out.status.code().unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
    };
    if let Some(t) = req.timeout
        && duration >= t
        && (status == 124 || status == 137)
    {
        return Err(TestbedError::Timeout { id: server.to_string(), cmd: shown, timeout: t });
    }
    if status == 254 || status == 255 {
        let tail = crate::process::tail(&out.stderr, 20);
        return Err(TestbedError::VirtExec { server: server.to_string(), cmd: shown, status, tail });
    }
    Ok(ExecOutput { status, stdout: out.stdout, stderr: out.stderr, duration })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_limit_and_directory_wrap_the_argv() {
        let req = ExecRequest::new(["ls", "a b"])
            .env("FOO", "x y")
            .cwd("/usr/share")
            .timeout(Duration::from_millis(1500));
        let argv = inner_argv(&req);
        assert_eq!(argv[..2], ["env", "-i"]);
        assert!(argv.contains(&"FOO=x y".to_string()) && argv.contains(&"HOME=/root".to_string()));
        let t = argv.iter().position(|a| a == "timeout").unwrap();
        assert_eq!(argv[t..t + 4], ["timeout", "-k", "2", "1.500s"]);
        assert_eq!(
            argv[argv.len() - 7..],
            ["sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", "/usr/share", "ls", "a b"]
        );
    }

    #[test]
    fn words_arrive_as_sent_through_a_prefix_that_resplits() {
        // autopkgtest-virt-ssh's runcmd: its arguments re-split, joined by ssh with single
        // spaces, and read again by the remote's shell.
        let resplit = ["bash", "-c", "set -- $(printf '%q ' \"${@% }\"); exec sh -c \"$*\"", "runcmd"]
            .map(String::from);
        let word = "a  b\n  c\t'd\"$e`f\\";
        let argv = through(&resplit, &["printf".into(), "%s|".into(), word.into()]);
        let out = crate::process::Cmd::new(&argv[0]).args(&argv[1..]).output_unchecked().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{word}|"));
    }

    #[test]
    fn a_local_prefix_runs_it() {
        // `env` as the "prefix": what a virt-null server hands out.
        let prefix = vec!["env".to_string()];
        let out = run(
            "test",
            &prefix,
            &ExecRequest::shell("echo $HOME $FOO; pwd; exit 3").env("FOO", "f").cwd("/usr"),
        )
        .unwrap();
        assert_eq!((out.status, out.stdout_str().as_str()), (3, "/root f\n/usr\n"));
        let err = run("test", &prefix, &ExecRequest::new(["sleep", "5"]).timeout(Duration::from_millis(200)))
            .unwrap_err();
        assert!(matches!(err, TestbedError::Timeout { .. }), "{err}");
        let err = run("test", &prefix, &ExecRequest::shell("exit 255")).unwrap_err();
        assert!(matches!(err, TestbedError::VirtExec { status: 255, .. }), "{err}");
    }
}
