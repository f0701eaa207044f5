//! `srukit patches list|check|push|pop`: the quilt series of a tree, strictly (fuzz 0).
//! Reads and writes the tree through `srukit::patch::Quilt`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::patch::{PatchStatus, Quilt, Target};
use crate::reporter::{Quiet, Reporter, Step};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Applied and unapplied patches, in series order.
    List(TreeArg),
    /// Would every unapplied patch apply, in order, from the tree as it is? Changes nothing;
    /// exits 1 when one does not.
    Check(TreeArg),
    /// Apply the next patch, all of them (--all), or up to and including NAME.
    Push(MoveArgs),
    /// Remove the top patch, all of them (--all), or those above NAME.
    Pop(MoveArgs),
}

#[derive(Debug, Args)]
pub struct TreeArg {
    /// The source tree (the directory that holds debian/).
    #[arg(long, default_value = ".")]
    pub tree: PathBuf,
}

#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    pub tree: TreeArg,
    /// Every patch.
    #[arg(short, long, conflicts_with = "name")]
    pub all: bool,
    /// A patch of the series.
    pub name: Option<String>,
}

impl MoveArgs {
    fn target(&self) -> Target {
        match (&self.name, self.all) {
            (Some(n), _) => Target::To(n.clone()),
            (None, true) => Target::All,
            (None, false) => Target::Next,
        }
    }
}

#[derive(Serialize)]
struct ListEntry<'a> {
    name: &'a str,
    applied: bool,
    strip: u32,
}

/// With `--json`, stdout carries one document: progress stays silent and warnings (such as
/// a rollback of an interrupted push) go to stderr.
struct JsonQuiet;

impl Reporter for JsonQuiet {
    fn step(&self, name: &str) -> Step {
        Quiet.step(name)
    }
    fn note(&self, _msg: &str) {}
    fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }
}

/// Opens the tree after checking it is one: a directory without debian/ is bad input
/// (exit 2), not an empty series.
fn open(tree: &std::path::Path, rep: &dyn Reporter) -> anyhow::Result<Quilt> {
    crate::patch::tree::require_source_tree(tree)?;
    Ok(Quilt::open_with(tree, rep)?)
}

/// What to say when nothing moved: a tree without a series has no patches at all.
fn nothing(q: &Quilt, otherwise: &str) -> String {
    let series = q.series_path();
    if !series.exists() {
        format!("no patches: {} does not exist\n", series.display())
    } else if q.series().is_empty() {
        format!("no patches: the series {} is empty\n", series.display())
    } else {
        format!("{otherwise}\n")
    }
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let rep: &dyn Reporter = if ctx.json { &JsonQuiet } else { ctx.reporter.as_ref() };
    match cmd {
        Command::List(t) => {
            let q = open(&t.tree, rep)?;
            let n = q.applied().len();
            let list: Vec<ListEntry> = q
                .series()
                .iter()
                .enumerate()
                .map(|(i, e)| ListEntry { name: &e.name, applied: i < n, strip: e.strip })
                .collect();
            let mut text = String::new();
            for e in &list {
                let _ = writeln!(text, "{} {}", if e.applied { "applied  " } else { "unapplied" }, e.name);
            }
            if list.is_empty() {
                text.push_str(&nothing(&q, "no patches in the series"));
            }
            Ok(Outcome::new(Exit::Success, &serde_json::json!({ "patches": list }), text))
        }
        Command::Check(t) => {
            let q = open(&t.tree, rep)?;
            let report = q.check()?;
            let mut text = String::new();
            for p in &report.patches {
                match &p.status {
                    PatchStatus::Ok => {
                        let _ = writeln!(text, "ok       {}", p.name);
                    }
                    PatchStatus::Offsets { hunks } => {
                        let _ = writeln!(text, "offsets  {}", p.name);
                        for h in hunks {
                            let _ = writeln!(
                                text,
                                "           {} hunk #{}: offset {:+} lines",
                                h.file, h.hunk, h.offset
                            );
                        }
                    }
                    PatchStatus::Fails { file, hunk, patch_line, reason, nearest } => {
                        let _ = writeln!(text, "FAILS    {}", p.name);
                        let what = if *hunk > 0 { format!("hunk #{hunk}") } else { "file".to_string() };
                        let _ =
                            writeln!(text, "           {file} {what} (patch line {patch_line}): {reason}");
                        if let Some(n) = nearest {
                            let _ = writeln!(
                                text,
                                "           nearest match: line {} with fuzz {}",
                                n.line, n.fuzz
                            );
                        }
                    }
                }
            }
            if report.patches.is_empty() {
                text.push_str(&nothing(&q, "nothing to check: every patch is applied"));
            }
            let exit = if report.all_apply() { Exit::Success } else { Exit::NotTrue };
            Ok(Outcome::new(exit, &report, text))
        }
        Command::Push(m) => {
            let mut q = open(&m.tree.tree, rep)?;
            let report = q.push(m.target(), rep)?;
            let mut text = String::new();
            for p in &report.applied {
                let _ = writeln!(text, "applied {}", p.name);
                for h in &p.offsets {
                    let _ = writeln!(text, "  {} hunk #{} at offset {:+} lines", h.file, h.hunk, h.offset);
                }
            }
            if report.applied.is_empty() {
                text.push_str(&nothing(&q, "nothing to push: the series is fully applied"));
            }
            Ok(Outcome::new(Exit::Success, &report, text))
        }
        Command::Pop(m) => {
            let mut q = open(&m.tree.tree, rep)?;
            let report = q.pop(m.target(), rep)?;
            let mut text = String::new();
            for p in &report.removed {
                let _ = writeln!(text, "removed {p}");
            }
            if report.removed.is_empty() {
                text.push_str(&nothing(&q, "nothing to pop"));
            }
            Ok(Outcome::new(Exit::Success, &report, text))
        }
    }
}
