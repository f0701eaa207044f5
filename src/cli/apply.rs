//! `srukit apply BACKPORT_DIR --tree DIR`: a backport folder onto a distro source tree, all
//! or nothing.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{Ctx, Outcome};
use crate::backport::apply::{ApplyOptions, ApplyReport, apply};
use crate::backport::manifest::Backport;
use crate::exit::Exit;
use crate::formats::version::Version;
use crate::patch::PatchStatus;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The backport folder (holds backport.toml and the patches).
    pub backport: PathBuf,
    /// The source tree (the directory that holds debian/).
    #[arg(long)]
    pub tree: PathBuf,
    /// Show what would change; the tree is not touched.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave the series applied for inspection (default: unpatched, as dpkg-source wants).
    #[arg(long)]
    pub push: bool,
    /// The next series' version: the new version must sort below it (overrides target.below).
    #[arg(long, value_name = "VERSION")]
    pub below: Option<String>,
    /// The `[[target]]` to apply for (its series), when the manifest has several.
    #[arg(long, value_name = "SERIES")]
    pub target: Option<String>,
    /// Then export this verification plan into the tree as DEP-8 tests (`srukit export dep8`).
    #[arg(long, value_name = "PLAN", conflicts_with = "dry_run")]
    pub with_dep8: Option<PathBuf>,
}

pub fn run(args: ApplyArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let below = args.below.as_deref().map(str::parse::<Version>).transpose().context("--below")?;
    let bp = Backport::load(&args.backport)?;
    let bp = match &args.target {
        Some(series) if bp.is_multi() => bp.for_target(series)?,
        Some(series) => {
            // The single form has one series: naming it is fine, naming another is a mistake.
            if series != &bp.manifest.target.series {
                anyhow::bail!(crate::backport::manifest::ManifestError::NoSuchTarget {
                    path: bp.manifest_path.clone(),
                    series: series.clone(),
                    known: bp.manifest.target.series.clone(),
                });
            }
            bp
        }
        None => bp,
    };
    let opts = ApplyOptions { dry_run: args.dry_run, push: args.push, below };
    if let Some(plan) = &args.with_dep8 {
        // A plan that cannot be exported stops here, before the tree changes.
        crate::verify::export::check(plan, &args.tree, &Default::default())?;
    }
    let report = apply(&bp, &args.tree, &opts, ctx.reporter.as_ref())?;
    let mut text = render(&report);
    let Some(plan) = &args.with_dep8 else {
        return Ok(Outcome::new(Exit::Success, &report, text));
    };
    // After the changelog bump: the exported tests expect the new version on the after side
    // and the entry below it on the before side.
    let dep8 = crate::verify::export::export(plan, &args.tree, &Default::default())?;
    text.push_str(&super::export::render(&dep8));
    let both = WithDep8 { apply: &report, dep8: &dep8 };
    Ok(Outcome::new(Exit::Success, &both, text))
}

#[derive(serde::Serialize)]
struct WithDep8<'a> {
    #[serde(flatten)]
    apply: &'a ApplyReport,
    dep8: &'a crate::verify::export::ExportReport,
}

fn render(r: &ApplyReport) -> String {
    let mut s = String::new();
    if r.already_applied {
        let _ = writeln!(
            s,
            "already applied: {} is in {} ({} {}); nothing to do",
            r.backport,
            r.tree.display(),
            r.package,
            r.new_version
        );
        return s;
    }
    let verb = if r.dry_run { "would apply" } else { "applied" };
    let _ = writeln!(s, "{verb} {} to {} ({})", r.backport, r.tree.display(), r.package);
    let _ = writeln!(s, "  version    {} -> {} ({})", r.old_version, r.new_version, r.distribution);
    for p in &r.patches {
        let at = p.after.as_deref().map_or("at the top".to_string(), |a| format!("after {a}"));
        let _ = writeln!(s, "  patch      + debian/patches/{} ({at})", p.name);
    }
    if let Some(check) = &r.check {
        let offsets: Vec<String> = check
            .patches
            .iter()
            .filter_map(|p| match &p.status {
                PatchStatus::Offsets { hunks } => Some(format!(
                    "{}: {}",
                    p.name,
                    hunks
                        .iter()
                        .map(|h| format!("{} hunk #{} {:+}", h.file, h.hunk, h.offset))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => None,
            })
            .collect();
        let n = check.patches.len();
        let _ = writeln!(
            s,
            "  series     {n} patch{} appl{} strictly (fuzz 0){}",
            if n == 1 { "" } else { "es" },
            if n == 1 { "ies" } else { "y" },
            if offsets.is_empty() { String::new() } else { format!("; offsets: {}", offsets.join("; ")) }
        );
    }
    if !r.launchpad_bugs_fixed.is_empty() {
        let _ = writeln!(s, "  LP bugs    {}", r.launchpad_bugs_fixed.join(" "));
    }
    if !r.closes.is_empty() {
        let _ = writeln!(s, "  closes     {}", r.closes.join(" "));
    }
    let _ = writeln!(s, "  changelog  new entry:");
    for l in r.changelog_entry.trim_end().lines() {
        let _ = writeln!(s, "{}", format!("    | {l}").trim_end());
    }
    if r.pushed {
        let _ = writeln!(s, "the series is pushed (.pc/); `srukit patches pop` before dpkg-source -b");
    } else if !r.dry_run {
        let _ = writeln!(s, "the tree is left unpatched, ready for dpkg-source -b");
    } else {
        let _ = writeln!(s, "dry run: the tree was not touched");
    }
    s
}
