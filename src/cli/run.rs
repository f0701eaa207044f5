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
    /// With [[target]]s: how many targets run at once (default: the number of targets, at
    /// most 2). With one [target]: how many verification testbeds run at once (default 4).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// With [[target]]s: how many verification testbeds each target runs at once.
    #[arg(long, default_value_t = 4)]
    pub verify_jobs: usize,
    /// Run only this [[target]] (its series); repeat for several (default: every target).
    #[arg(long = "target", value_name = "SERIES")]
    pub targets: Vec<String>,
    /// No build: verify the series' release package against the target's pocket (the
    /// plan's first `install` package, from the archive).
    #[arg(long, conflicts_with_all = ["tree", "source"])]
    pub archive: bool,
}

pub fn run(args: RunArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    // CI reads newline-delimited events on stdout: one per stage start and end, then the
    // final document on one line.
    let events = JsonEvents;
    let rep: &dyn Reporter = if ctx.json { &events } else { ctx.reporter.as_ref() };
    let multi = crate::backport::manifest::Backport::load(&args.backport)?.is_multi();
    let opts = Options {
        backport: args.backport,
        tree: args.tree,
        source: args.source,
        out: args.out,
        from: args.from,
        jobs: if multi { args.verify_jobs } else { args.jobs.unwrap_or(args.verify_jobs) },
        target_jobs: if multi { args.jobs } else { None },
        targets: args.targets,
        archive: args.archive,
    };
    if multi {
        return run_targets(&opts, rep, ctx);
    }
    let report = pipeline::run(&opts, rep)?;
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

/// Every `[[target]]`: a line per series, the combined reports, the worst target's exit code.
fn run_targets(opts: &Options, rep: &dyn Reporter, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    let report = pipeline::targets::run_all(opts, rep)?;
    let mut text = String::new();
    for t in &report.targets {
        match (&t.report, &t.error) {
            (Some(r), _) => {
                let tag = match (&r.tag, &r.would_tag) {
                    (Some(tag), _) => format!("tag: {tag}"),
                    (None, Some(would)) => format!("pre-upload check; would tag {would}"),
                    (None, None) => "no tag".into(),
                };
                let _ = writeln!(
                    text,
                    "{:<12} {} -> {}: {} ({tag})",
                    t.series,
                    r.before_version,
                    r.after_version,
                    r.verdict.as_str()
                );
            }
            (None, e) => {
                let _ = writeln!(text, "{:<12} error: {}", t.series, e.as_deref().unwrap_or_default());
            }
        }
    }
    let _ = writeln!(text, "overall: {}", report.verdict.as_str());
    for (format, path) in &report.reports {
        let _ = writeln!(text, "{format:<10} {}", path.display());
    }
    let _ = writeln!(text, "total {:.1}s", report.seconds);
    Ok(Outcome::new(report.exit, &report, text).compact())
}
