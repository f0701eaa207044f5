//! `srukit patches list|check|push|pop`: the quilt series of a tree.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Ctx, Outcome};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Applied and unapplied patches, in series order.
    List(TreeArg),
}

#[derive(Debug, Args)]
pub struct TreeArg {
    /// The source tree (the directory that holds debian/).
    #[arg(long, default_value = ".")]
    pub tree: PathBuf,
}

pub fn run(cmd: Command, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::List(_t) => Err(crate::UsageError("the patch engine is being built".into()).into()),
    }
}
