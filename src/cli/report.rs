//! `srukit report RESULT_DIR --format launchpad|markdown|json|junit`: a verification result
//! (`RESULT_DIR/result.json`, written by `verify`) rendered for a bug, a merge request, a
//! pipeline or a CI test view.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::fsx;
use crate::report::{self, Format};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The `verify --out` directory (or its result.json).
    pub result_dir: PathBuf,
    /// What to render.
    #[arg(long, value_enum, default_value_t = Format::Launchpad)]
    pub format: Format,
    /// The release the verification tag names (default: the plan's series).
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Summary<'a> {
    format: Format,
    verdict: &'a str,
    tag: Option<String>,
    out: Option<&'a PathBuf>,
    /// The rendered report, when it was not written to a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a str>,
}

/// The exit code is 0 whenever the report was rendered, whatever the verdict: the verdict's
/// own exit code is `verify`'s, and a pipeline that renders a failed verification for the bug
/// has not itself failed.
pub fn run(args: ReportArgs, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    let result = report::load(&args.result_dir)?;
    let text = report::render(&result, args.format, args.series.as_deref())?;
    let tag = result.tag(args.series.as_deref());
    if let Some(out) = &args.out {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            fsx::create_dir_all(dir)?;
        }
        fsx::write_atomic(out, &text)
            .with_context(|| format!("writing the {} report", args.format.as_str()))?;
    }
    let summary = Summary {
        format: args.format,
        verdict: result.verdict.as_str(),
        tag: tag.clone(),
        out: args.out.as_ref(),
        report: if args.out.is_none() { Some(&text) } else { None },
    };
    let human = match &args.out {
        Some(out) => format!(
            "wrote the {} report to {} (verdict {}{})",
            args.format.as_str(),
            out.display(),
            result.verdict,
            tag.map(|t| format!(", tag {t}")).unwrap_or_default()
        ),
        None => text.clone(),
    };
    Ok(Outcome::new(Exit::Success, &summary, human))
}
