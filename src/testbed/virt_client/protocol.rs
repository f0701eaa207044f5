//! The client half of autopkgtest's virtualisation-server protocol: spawns a server
//! (`autopkgtest-virt-*`), sends URL-encoded request lines and checks each reply's `ok` and
//! its number of words, as autopkgtest 5.28's `adt_testbed.py` (`command`, `expect`) does.
//! The word encoding is the server side's (`virt_server::protocol`).

use std::path::Path;
use std::time::Duration;

use crate::process::{Cmd, Piped};
use crate::testbed::TestbedError;
use crate::testbed::virt_server::protocol::{quote, unquote};

/// How long the banner and `open` may take: qemu boots a VM in `open`, ssh setup scripts
/// start a machine.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(600);
/// Every other request (copies of big trees included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// A running server process.
pub struct Client {
    proc: Piped,
    /// The server's program name, for messages (`autopkgtest-virt-unshare`).
    pub server: String,
}

impl Client {
    /// Starts the server and waits for its `ok` banner; its stderr goes to `log`.
    pub fn spawn(argv: &[String], log: &Path) -> Result<Client, TestbedError> {
        let (program, args) = argv.split_first().expect("a parsed definition has a program");
        let server = program.rsplit('/').next().unwrap_or(program).to_string();
        let proc = Cmd::new(program).args(args).spawn_piped(log)?;
        let mut client = Client { proc, server };
        client.expect("(start-up banner)", Some(0), OPEN_TIMEOUT)?;
        Ok(client)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn error(&self, msg: String) -> TestbedError {
        TestbedError::VirtServer { server: self.server.clone(), msg }
    }

    /// Sends `words` (each URL-encoded) and returns the reply's result words (decoded);
    /// `nresults` is the exact count the reply must carry, when the protocol fixes it.
    pub fn request(
        &mut self,
        words: &[&str],
        nresults: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<String>, TestbedError> {
        Ok(self.request_raw(words, nresults, timeout)?.iter().map(|w| unquote(w)).collect())
    }

    /// As `request`, the result words left encoded (`print-execute-command`'s commas).
    pub fn request_raw(
        &mut self,
        words: &[&str],
        nresults: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<String>, TestbedError> {
        let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        self.proc.send(&line).map_err(|e| self.error(format!("could not send `{}`: {e}", words[0])))?;
        self.expect(words[0], nresults, timeout)
    }

    fn expect(
        &mut self,
        what: &str,
        nresults: Option<usize>,
        timeout: Duration,
    ) -> Result<Vec<String>, TestbedError> {
        let reply = self.proc.recv(timeout).map_err(|eof| {
            if eof {
                self.error(format!("exited before answering `{what}` (see its log)"))
            } else {
                self.error(format!("did not answer `{what}` within {}s", timeout.as_secs()))
            }
        })?;
        let mut words = reply.split_whitespace();
        if words.next() != Some("ok") {
            return Err(self.error(format!("`{what}` answered {reply:?}, not `ok`")));
        }
        let results: Vec<String> = words.map(str::to_string).collect();
        if let Some(n) = nresults
            && results.len() != n
        {
            return Err(self.error(format!("`{what}` answered {reply:?}: expected {n} result words")));
        }
        Ok(results)
    }

    /// `close` (when open), `quit`, then the exit status: 0 is a clean teardown. 5.28's
    /// servers exit on `quit` without a reply, so none is awaited.
    pub fn quit(mut self, opened: bool) -> Result<(), TestbedError> {
        let mut first_err = None;
        if opened && let Err(e) = self.request(&["close"], Some(0), REQUEST_TIMEOUT) {
            first_err = Some(e);
        }
        let _ = self.proc.send("quit");
        self.proc.close_stdin();
        match self.proc.wait_timeout(Duration::from_secs(60)) {
            Some(s) if s.success() => first_err.map_or(Ok(()), Err),
            Some(s) => Err(first_err.unwrap_or_else(|| {
                self.error(format!("{} after quit (see its log)", crate::process::describe(&s)))
            })),
            None => {
                self.proc.kill();
                Err(first_err.unwrap_or_else(|| self.error("did not exit within 60s of quit: killed".into())))
            }
        }
    }

    /// Kills the server without a word (a failed open; a drop without close).
    pub fn kill(mut self) {
        self.proc.close_stdin();
        if self.proc.wait_timeout(Duration::from_secs(30)).is_none() {
            self.proc.kill();
        }
    }
}

/// The exec prefix from `print-execute-command`'s one word: comma-separated, each part
/// URL-encoded (adt_testbed.py: `[unquote(w) for w in reply.split(',')]`).
pub fn decode_prefix(word_raw: &str) -> Vec<String> {
    word_raw.split(',').map(unquote).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbed::virt_server::protocol::execute_command;

    #[test]
    fn prefix_round_trips_through_the_servers_encoding() {
        let argv: Vec<String> = ["/usr/bin/env", "a,b", "two words", "100%"].map(String::from).to_vec();
        assert_eq!(decode_prefix(&execute_command(&argv)), argv);
    }
}
