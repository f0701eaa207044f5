//! `srukit generate man DIR` and `srukit generate completions DIR` (hidden): the man pages and
//! shell completions, generated from the clap definitions so they never drift from the
//! binary. debian/rules calls these at package build time.

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;
use serde::Serialize;

use super::{Cli, Ctx, Outcome};
use crate::exit::Exit;
use crate::fsx;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Man pages: srukit.1 and one srukit-<command>.1 per command.
    Man {
        /// Where to write the pages.
        dir: PathBuf,
    },
    /// Completions for bash (srukit.bash), zsh (_srukit) and fish (srukit.fish).
    Completions {
        /// Where to write the scripts.
        dir: PathBuf,
    },
}

#[derive(Serialize)]
struct Written {
    files: Vec<PathBuf>,
}

pub fn run(cmd: Command, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    let files = match cmd {
        Command::Man { dir } => man(&dir)?,
        Command::Completions { dir } => completions(&dir)?,
    };
    let text = files.iter().map(|f| format!("wrote {}\n", f.display())).collect::<String>();
    Ok(Outcome::new(Exit::Success, &Written { files }, text))
}

fn man(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fsx::create_dir_all(dir)?;
    let root = Cli::command();
    let mut files = vec![write_page(dir, "srukit", root.clone())?];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        // Each command's page carries its full name, as git's and cargo's pages do.
        let name = format!("srukit-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("srukit {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        files.push(write_page(dir, &name, page)?);
    }
    Ok(files)
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> anyhow::Result<PathBuf> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    fsx::write_atomic(&path, buf)?;
    Ok(path)
}

fn completions(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    fsx::create_dir_all(dir)?;
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "srukit", &mut buf);
        let name = match shell {
            Shell::Bash => "srukit.bash",
            Shell::Zsh => "_srukit",
            _ => "srukit.fish",
        };
        let path = dir.join(name);
        fsx::write_atomic(&path, buf)?;
        files.push(path);
    }
    Ok(files)
}
