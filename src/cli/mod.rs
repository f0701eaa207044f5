//! The command line: clap definitions and one `run` per subcommand. Each subcommand module
//! reads top to bottom as the steps a user would name, and returns an `Outcome` that the
//! edge (`main.rs`) renders as text or JSON.

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::exit::Exit;
use crate::reporter::{Quiet, Reporter, Terminal};

pub mod apply;
pub mod backport;
pub mod build;
pub mod debci;
pub mod dep3;
pub mod dispatch;
pub mod exit_code;
pub mod export;
pub mod generate;
pub mod patches;
pub mod probe;
pub mod report;
pub mod run;
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
    /// DEP-3 patch headers.
    #[command(subcommand)]
    Dep3(dep3::Command),
    /// Apply a backport folder to a source tree: patches, series, changelog; all or nothing.
    Apply(apply::ApplyArgs),
    /// An upstream commit as a DEP-3 patch for an older release (3-way pick, in memory).
    Backport(backport::BackportArgs),
    /// Testbed images and throwaway containers: build, list, rm, gc, shell, exec, virt-server.
    #[command(subcommand)]
    Testbed(testbed::Command),
    /// The source upload (.dsc, source-only .changes) and binaries built in a clean testbed.
    Build(build::Args),
    /// Run an SRU verification plan on the old and new packages, in fresh testbeds.
    Verify(verify::VerifyArgs),
    /// Ask a live system something over the wire (the iSCSI write cache).
    #[command(subcommand)]
    Probe(probe::Command),
    /// A verification result rendered for Launchpad, Markdown, JSON or JUnit.
    Report(report::ReportArgs),
    /// A verification plan as DEP-8 tests in a source tree (debian/tests).
    #[command(subcommand)]
    Export(export::Command),
    /// The whole pipeline for a backport folder: build old, apply, build new, verify, report.
    Run(run::RunArgs),
    /// A debci engine on this machine: RabbitMQ (loopback), a collector, N srukit workers.
    #[command(subcommand)]
    Debci(debci::Command),
    /// Runs' exported tests as debci jobs (a target x side each); results folded per target.
    Dispatch(dispatch::DispatchArgs),
    /// Man pages and shell completions, from these definitions (for packaging).
    #[command(subcommand, hide = true)]
    Generate(generate::Command),
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
        // With --json, stdout is one JSON document: progress stays quiet (`run` alone streams
        // newline-delimited events, and builds its own reporter for them).
        let reporter: Box<dyn Reporter> =
            if cli.json { Box::new(Quiet) } else { Box::new(Terminal { verbose: cli.verbose }) };
        Ctx { json: cli.json, verbose: cli.verbose, color: cli.color, reporter }
    }
}

/// A command's result: its exit code, the text a person reads and the JSON a pipeline reads.
pub struct Outcome {
    pub exit: Exit,
    pub text: String,
    pub json: serde_json::Value,
    /// Print the JSON on one line (the last of a stream of events).
    pub compact: bool,
}

impl Outcome {
    pub fn new<T: Serialize>(exit: Exit, value: &T, text: impl Into<String>) -> Outcome {
        Outcome {
            exit,
            text: text.into(),
            json: serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()})),
            compact: false,
        }
    }

    pub fn compact(mut self) -> Outcome {
        self.compact = true;
        self
    }
}

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Ctx::new(&cli);
    match cli.command {
        Command::Patches(cmd) => patches::run(cmd, &ctx),
        Command::Report(args) => report::run(args, &ctx),
        Command::Run(args) => run::run(args, &ctx),
        Command::Generate(cmd) => generate::run(cmd, &ctx),
        Command::Apply(args) => apply::run(args, &ctx),
        Command::Backport(args) => backport::run(args, &ctx),
        Command::Dep3(cmd) => dep3::run(cmd, &ctx),
        Command::Probe(cmd) => probe::run(cmd, &ctx),
        Command::Testbed(cmd) => testbed::run(cmd, &ctx),
        Command::Verify(args) => verify::run(args, &ctx),
        Command::Build(args) => build::run(args, &ctx),
        Command::Export(cmd) => export::run(cmd, &ctx),
        Command::Debci(cmd) => debci::run(cmd, &ctx),
        Command::Dispatch(args) => dispatch::run(args, &ctx),
    }
}
