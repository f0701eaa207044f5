//! The edge: parse, run one command, print its outcome or its error once, exit with the
//! documented code (see `srukit::exit`).

use clap::Parser;
use srukit::cli::{self, Cli, exit_code};
use srukit::exit::Exit;

/// The name the virt server is installed under (a symlink to srukit): autopkgtest runs
/// `autopkgtest-virt-srukit ARGS`, which is `srukit testbed virt-server ARGS`.
const VIRT_SERVER_NAME: &str = "autopkgtest-virt-srukit";

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args.first().map(std::path::Path::new).and_then(|p| p.file_name()).map(|n| n.to_owned());
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new(VIRT_SERVER_NAME)) {
        args.splice(0..1, ["srukit", "testbed", "virt-server"].map(Into::into));
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { Exit::BadInput.code() } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let json = cli.json;
    let code = match cli::run(cli) {
        Ok(outcome) => {
            if json && outcome.compact {
                println!("{}", serde_json::to_string(&outcome.json).expect("a JSON value prints"));
            } else if json {
                println!("{}", serde_json::to_string_pretty(&outcome.json).expect("a JSON value prints"));
            } else if !outcome.text.is_empty() {
                print!("{}", outcome.text);
                if !outcome.text.ends_with('\n') {
                    println!();
                }
            }
            outcome.exit
        }
        Err(err) => {
            let exit = exit_code::of_error(&err);
            let message = one_line(&err);
            if json {
                let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
                let doc = serde_json::json!({"error": message, "causes": chain,
                    "exit_code": exit.code(), "exit": exit});
                println!("{}", serde_json::to_string_pretty(&doc).expect("a JSON value prints"));
            }
            eprintln!("error: {message}");
            exit
        }
    };
    std::process::exit(code.code());
}

/// The error and its causes joined by ": ", as `{:#}` does, leaving out a cause that the
/// message before it already ends with (errors that quote their source in their own text).
fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain().map(|c| c.to_string()) {
        if out.is_empty() {
            out = cause;
        } else if !out.ends_with(&cause) {
            out = format!("{out}: {cause}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_quoted_source_is_said_once() {
        let io = std::io::Error::from_raw_os_error(6);
        let fs = srukit::fsx::FsError { op: "copy", path: "/x/s.sock".into(), source: io };
        let err = anyhow::Error::new(fs).context("building the source package");
        let line = super::one_line(&err);
        assert_eq!(line.matches("No such device or address").count(), 1, "{line}");
        assert!(line.starts_with("building the source package: could not copy /x/s.sock: "), "{line}");
    }
}
