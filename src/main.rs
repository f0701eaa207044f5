//! The edge: parse, run one command, print its outcome or its error once, exit with the
//! documented code (see `srukit::exit`).

use clap::Parser;
use srukit::cli::{self, Cli};
use srukit::exit::{Exit, exit_of};

fn main() {
    let cli = match Cli::try_parse() {
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
            let exit = exit_of(&err);
            if json {
                let chain: Vec<String> = err.chain().map(|c| c.to_string()).collect();
                let doc = serde_json::json!({"error": format!("{err:#}"), "causes": chain,
                    "exit_code": exit.code(), "exit": exit});
                println!("{}", serde_json::to_string_pretty(&doc).expect("a JSON value prints"));
            }
            eprintln!("error: {err:#}");
            exit
        }
    };
    std::process::exit(code.code());
}
