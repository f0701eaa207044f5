//! `srukit run BACKPORT_DIR`: the whole pipeline, from a backport folder to the reports.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::{Ctx, Outcome};
use crate::pipeline::{self, Options, stage::Stage};
use crate::reporter::{JsonEvents, Reporter};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The backport folder (patches/<name>/ with backport.toml).
    pub backport: PathBuf,
    /// The target source tree (default: the fixture the manifest names).
    #[arg(long, conflicts_with = "source")]
    pub tree: Option<PathBuf>,
    /// A Debian source package from the mirror as the target tree: PKG=VERSION.
    #[arg(long, value_name = "PKG=VERSION")]
    pub source: Option<String>,
    /// Where each stage writes its dir (default: ./srukit-out/<backport>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rerun from this stage, reusing the earlier stages' outputs.
    #[arg(long, value_enum)]
    pub from: Option<Stage>,
    /// How many verification testbeds run at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
}

pub fn run(args: RunArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    // CI reads newline-delimited events on stdout: one per stage start and end, then the
    // final document on one line.
    let events = JsonEvents;
    let rep: &dyn Reporter = if ctx.json { &events } else { ctx.reporter.as_ref() };
    let report = pipeline::run(
        &Options {
            backport: args.backport,
            tree: args.tree,
            source: args.source,
            out: args.out,
            from: args.from,
            jobs: args.jobs,
        },
        rep,
    )?;
    let mut text = String::new();
    let _ =
        writeln!(text, "{} -> {}: {}", report.before_version, report.after_version, report.verdict.as_str());
    let _ = writeln!(text, "{}", report.reason);
    if let Some(tag) = &report.tag {
        let _ = writeln!(text, "tag: {tag}");
    } else if let Some(would) = &report.would_tag {
        let _ = writeln!(
            text,
            "pre-upload check ({}): no tag; on the proposed pocket's packages: {would}",
            report.provenance.as_str()
        );
    }
    for (format, path) in &report.reports {
        let _ = writeln!(text, "{format:<10} {}", path.display());
    }
    let _ = writeln!(text, "total {:.1}s", report.seconds);
    let exit = super::verify::exit_of(report.verdict);
    Ok(Outcome::new(exit, &report, text).compact())
}
