//! The autopkgtest virtualisation-server protocol as words on a line: parses a request
//! (URL-decoded, as autopkgtest 5.28's client quotes every argument) and encodes a reply.
//! Pure: no testbed, no I/O. The rules follow `/usr/share/autopkgtest/lib/VirtSubproc.py`
//! and `README.virtualisation-server.rst` of autopkgtest 5.28.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What Python's `urllib.parse.quote` (the client's and VirtSubproc's quoting) leaves as is:
/// letters, digits, `_.-~` and `/`. Everything else, the comma of `print-execute-command`
/// and the space of a path included, is `%XX`.
const QUOTE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-').remove(b'~').remove(b'/');

/// One request from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Capabilities,
    Open,
    PrintExecuteCommand,
    /// Host path to testbed path; `dir` when both end in `/`.
    Copydown {
        host: String,
        testbed: String,
        dir: bool,
    },
    /// Testbed path to host path; `dir` when both end in `/`.
    Copyup {
        testbed: String,
        host: String,
        dir: bool,
    },
    Revert,
    /// `reboot [prepare-only]`.
    Reboot {
        prepare_only: bool,
    },
    Close,
    Quit,
    /// `shell CWD [VAR=value...]`: an interactive shell on the caller's terminal.
    Shell {
        cwd: String,
        env: Vec<String>,
    },
    AuxverbDebugFail,
}

impl Request {
    /// The command word, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Capabilities => "capabilities",
            Request::Open => "open",
            Request::PrintExecuteCommand => "print-execute-command",
            Request::Copydown { .. } => "copydown",
            Request::Copyup { .. } => "copyup",
            Request::Revert => "revert",
            Request::Reboot { .. } => "reboot",
            Request::Close => "close",
            Request::Quit => "quit",
            Request::Shell { .. } => "shell",
            Request::AuxverbDebugFail => "auxverb_debug_fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("empty commands are not permitted")]
    Empty,
    #[error("unknown command `{0}'")]
    Unknown(String),
    #[error("too few arguments to command `{0}'")]
    TooFew(String),
    #[error("too many arguments to command `{0}'")]
    TooMany(String),
    #[error("{0} paths must be nonempty")]
    EmptyPath(&'static str),
    #[error("{0} paths must agree about directoryness (presence or absence of trailing /)")]
    Directoryness(&'static str),
    #[error("`reboot' takes only `prepare-only', not `{0}'")]
    RebootArg(String),
}

/// `%XX`-decodes a word (invalid UTF-8 replaced, as Python's `unquote` does).
pub fn unquote(word: &str) -> String {
    percent_decode_str(word).decode_utf8_lossy().into_owned()
}

/// `%XX`-encodes a word as Python's `urllib.parse.quote` does.
pub fn quote(word: &str) -> String {
    utf8_percent_encode(word, QUOTE).to_string()
}

/// Parses one request line: whitespace-separated words, each URL-decoded; a command's
/// `-` and `_` are the same (VirtSubproc looks up `cmd_` + the word with `-` as `_`).
pub fn parse(line: &str) -> Result<Request, ProtocolError> {
    let words: Vec<String> = line.split_whitespace().map(unquote).collect();
    let Some((cmd, args)) = words.split_first() else {
        return Err(ProtocolError::Empty);
    };
    let key = cmd.replace('-', "_");
    let arity = |min: usize, max: Option<usize>| -> Result<(), ProtocolError> {
        if args.len() < min {
            return Err(ProtocolError::TooFew(cmd.clone()));
        }
        if max.is_some_and(|m| args.len() > m) {
            return Err(ProtocolError::TooMany(cmd.clone()));
        }
        Ok(())
    };
    let req = match key.as_str() {
        "capabilities" => Request::Capabilities,
        "open" => Request::Open,
        "print_execute_command" => Request::PrintExecuteCommand,
        "revert" => Request::Revert,
        "close" => Request::Close,
        "quit" => Request::Quit,
        "auxverb_debug_fail" => Request::AuxverbDebugFail,
        "copydown" | "copyup" => {
            arity(2, Some(2))?;
            let up = key == "copyup";
            let what = if up { "copyup" } else { "copydown" };
            let dir = directoryness(what, &args[0], &args[1])?;
            let (a, b) = (args[0].clone(), args[1].clone());
            return Ok(if up {
                Request::Copyup { testbed: a, host: b, dir }
            } else {
                Request::Copydown { host: a, testbed: b, dir }
            });
        }
        "reboot" => {
            arity(0, Some(1))?;
            return match args.first().map(String::as_str) {
                None => Ok(Request::Reboot { prepare_only: false }),
                Some("prepare-only") => Ok(Request::Reboot { prepare_only: true }),
                Some(other) => Err(ProtocolError::RebootArg(other.to_string())),
            };
        }
        "shell" => {
            arity(1, None)?;
            return Ok(Request::Shell { cwd: args[0].clone(), env: args[1..].to_vec() });
        }
        _ => return Err(ProtocolError::Unknown(cmd.clone())),
    };
    arity(0, Some(0))?;
    Ok(req)
}

/// VirtSubproc's rule: both paths end in `/` (a directory's contents) or neither (a file).
fn directoryness(what: &'static str, a: &str, b: &str) -> Result<bool, ProtocolError> {
    if a.is_empty() || b.is_empty() {
        return Err(ProtocolError::EmptyPath(what));
    }
    let dir = a.ends_with('/');
    if dir != b.ends_with('/') {
        return Err(ProtocolError::Directoryness(what));
    }
    Ok(dir)
}

/// `ok` and the result words, each quoted (the client unquotes every result word).
pub fn ok(results: &[String]) -> String {
    std::iter::once("ok".to_string()).chain(results.iter().map(|r| quote(r))).collect::<Vec<_>>().join(" ")
}

/// `ok` and one word already encoded (`execute_command`'s): quoting it again would turn
/// its commas into `%2C`, and the client would see one program.
pub fn ok_encoded(word: &str) -> String {
    format!("ok {word}")
}

/// The one word of `print-execute-command`: the argv quoted word by word, joined by commas
/// (the client splits on `,` and unquotes each part).
pub fn execute_command(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_url_decoded() {
        assert_eq!(
            parse("copydown /tmp/a%20b/f%2Cx /tmp/autopkgtest-srukit/f%2Cx").unwrap(),
            Request::Copydown {
                host: "/tmp/a b/f,x".into(),
                testbed: "/tmp/autopkgtest-srukit/f,x".into(),
                dir: false
            }
        );
        assert_eq!(
            parse("copyup /x/ /host%20dir/\n").unwrap(),
            Request::Copyup { testbed: "/x/".into(), host: "/host dir/".into(), dir: true }
        );
    }

    #[test]
    fn commands_and_their_arity() {
        let table: &[(&str, Result<Request, ProtocolError>)] = &[
            ("capabilities", Ok(Request::Capabilities)),
            ("open", Ok(Request::Open)),
            ("print-execute-command", Ok(Request::PrintExecuteCommand)),
            ("print_execute_command", Ok(Request::PrintExecuteCommand)),
            ("auxverb_debug_fail", Ok(Request::AuxverbDebugFail)),
            ("revert", Ok(Request::Revert)),
            ("close", Ok(Request::Close)),
            ("  quit  ", Ok(Request::Quit)),
            ("reboot", Ok(Request::Reboot { prepare_only: false })),
            ("reboot prepare-only", Ok(Request::Reboot { prepare_only: true })),
            ("reboot now", Err(ProtocolError::RebootArg("now".into()))),
            (
                "shell /tmp A=1 B=x%20y",
                Ok(Request::Shell { cwd: "/tmp".into(), env: vec!["A=1".into(), "B=x y".into()] }),
            ),
            ("shell", Err(ProtocolError::TooFew("shell".into()))),
            ("open now", Err(ProtocolError::TooMany("open".into()))),
            ("copydown /a", Err(ProtocolError::TooFew("copydown".into()))),
            ("copydown /a /b /c", Err(ProtocolError::TooMany("copydown".into()))),
            ("copydown /a/ /b", Err(ProtocolError::Directoryness("copydown"))),
            ("copyup /a /b/", Err(ProtocolError::Directoryness("copyup"))),
            ("execute sh,-c,true", Err(ProtocolError::Unknown("execute".into()))),
            ("", Err(ProtocolError::Empty)),
            ("   ", Err(ProtocolError::Empty)),
        ];
        for (line, want) in table {
            assert_eq!(&parse(line), want, "{line:?}");
        }
    }

    #[test]
    fn replies_quote_as_python_does() {
        assert_eq!(ok(&[]), "ok");
        assert_eq!(ok(&["/tmp/autopkgtest-srukit".into()]), "ok /tmp/autopkgtest-srukit");
        assert_eq!(ok(&["a b".into(), "c".into()]), "ok a%20b c");
        assert_eq!(ok_encoded("/x,a%20b,--"), "ok /x,a%20b,--");
        // urllib.parse.quote("a b,c~d_e.f-g/h%") == "a%20b%2Cc~d_e.f-g/h%25"
        assert_eq!(quote("a b,c~d_e.f-g/h%"), "a%20b%2Cc~d_e.f-g/h%25");
        assert_eq!(unquote("a%20b%2Cc~d_e.f-g/h%25"), "a b,c~d_e.f-g/h%");
        assert_eq!(
            execute_command(&["/usr/bin/srukit".into(), "testbed".into(), "a,b c".into(), "--".into()]),
            "/usr/bin/srukit,testbed,a%2Cb%20c,--"
        );
    }
}
