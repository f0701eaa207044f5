//! `srukit dep3 check FILE...`: DEP-3 header problems of patch files, each as file:line.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::formats::dep3;
use crate::fsx;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the DEP-3 headers of patch files; exit 1 when any has a problem.
    Check {
        /// Patch files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Serialize)]
struct FileProblem {
    file: PathBuf,
    line: usize,
    message: String,
}

#[derive(Debug, Serialize)]
struct CheckOutput {
    files: usize,
    problems: Vec<FileProblem>,
}

pub fn run(cmd: Command, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    let Command::Check { files } = cmd;
    let mut problems = Vec::new();
    for file in &files {
        let bytes = fsx::read(file)?;
        problems.extend(dep3::check(&bytes).into_iter().map(|p| FileProblem {
            file: file.clone(),
            line: p.line,
            message: p.message,
        }));
    }
    let mut text = String::new();
    for p in &problems {
        let _ = writeln!(text, "{}:{}: {}", p.file.display(), p.line, p.message);
    }
    let exit = if problems.is_empty() {
        let _ = writeln!(text, "{} file(s): DEP-3 headers OK", files.len());
        Exit::Success
    } else {
        Exit::NotTrue
    };
    Ok(Outcome::new(exit, &CheckOutput { files: files.len(), problems }, text))
}
