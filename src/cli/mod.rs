//! The command line: clap definitions and one `run` per subcommand. Each subcommand module
//! reads top to bottom as the steps a user would name, and returns an `Outcome` that the
//! edge (`main.rs`) renders as text or JSON.

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::exit::Exit;
use crate::reporter::{JsonEvents, Reporter, Terminal};

pub mod generate;
pub mod patches;
pub mod probe;
pub mod report;
pub mod testbed;
pub mod verify;

/// Stable release updates for Debian and Ubuntu: strict backports with proof.
#[derive(Debug, Parser)]
#[command(name = "srukit", version, about, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success; 1 the thing checked is not true (a patch does not \
apply, a verification failed); 2 bad input or usage; 3 could not run (missing tool, environment).")]
pub struct Cli {
    /// Machine output: one JSON document on stdout (newline-delimited events for `run`).
    #[arg(long, global = true)]
    pub json: bool,
    /// Say more: log every external command before it runs.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to use colour and progress bars.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The quilt series of a source tree: list, check, push, pop (strict, fuzz 0).
    #[command(subcommand)]
    Patches(patches::Command),
    /// A verification result rendered for Launchpad, Markdown, JSON or JUnit.
    Report(report::ReportArgs),
    /// Man pages and shell completions, from these definitions (for packaging).
    #[command(subcommand, hide = true)]
    Generate(generate::Command),
    /// Ask a live system something over the wire (the iSCSI write cache).
    #[command(subcommand)]
    Probe(probe::Command),
    /// Testbed images and throwaway containers: build, list, rm, gc, shell, exec.
    #[command(subcommand)]
    Testbed(testbed::Command),
    /// Run an SRU verification plan on the old and new packages, in fresh testbeds.
    Verify(verify::VerifyArgs),
}

/// What every command gets from the edge.
pub struct Ctx {
    pub json: bool,
    pub verbose: bool,
    pub color: Color,
    pub reporter: Box<dyn Reporter>,
}

impl Ctx {
    pub fn new(cli: &Cli) -> Ctx {
        if cli.verbose {
            // SAFETY: set once at start-up, before any thread exists.
            unsafe { std::env::set_var("SRUKIT_LOG_COMMANDS", "1") };
        }
        let reporter: Box<dyn Reporter> =
            if cli.json { Box::new(JsonEvents) } else { Box::new(Terminal { verbose: cli.verbose }) };
        Ctx { json: cli.json, verbose: cli.verbose, color: cli.color, reporter }
    }
}

/// A command's result: its exit code, the text a person reads and the JSON a pipeline reads.
pub struct Outcome {
    pub exit: Exit,
    pub text: String,
    pub json: serde_json::Value,
}

impl Outcome {
    pub fn new<T: Serialize>(exit: Exit, value: &T, text: impl Into<String>) -> Outcome {
        Outcome {
            exit,
            text: text.into(),
            json: serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()})),
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Ctx::new(&cli);
    match cli.command {
        Command::Patches(cmd) => patches::run(cmd, &ctx),
        Command::Report(args) => report::run(args, &ctx),
        Command::Generate(cmd) => generate::run(cmd, &ctx),
        Command::Probe(cmd) => probe::run(cmd, &ctx),
        Command::Testbed(cmd) => testbed::run(cmd, &ctx),
        Command::Verify(args) => verify::run(args, &ctx),
    }
}
