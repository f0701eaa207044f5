//! `srukit backport`: an upstream commit as a DEP-3 patch for an older release, or the
//! conflicts to resolve and `--continue WORKDIR` to export the resolution.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{Ctx, Outcome};
use crate::backport::command::{Conflicted, Exported};
use crate::backport::export::FileChange;
use crate::backport::{self, Report, Request};
use crate::exit::Exit;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["upstream", "continue_"])))]
pub struct BackportArgs {
    /// The upstream git repository: a local path, or a URL (cloned into
    /// ${XDG_CACHE_HOME:-~/.cache}/srukit/upstream/).
    #[arg(long, value_name = "REPO", requires_all = ["commit", "into"])]
    pub upstream: Option<String>,
    /// The upstream commit to pick (SHA or any git revision).
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// The upstream ref the target package is built from [default: the tag of --tree's
    /// upstream version: X, vX, upstream/X or release-X].
    #[arg(long, value_name = "REF")]
    pub onto: Option<String>,
    /// The target source tree (holds debian/changelog).
    #[arg(long, value_name = "DIR")]
    pub tree: Option<PathBuf>,
    /// The backport folder, patches/<name>: the patch and backport.toml go here.
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Drop paths matching GLOB from the pick (repeatable); the patch header lists them.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Where a conflicted pick is written [default: ${XDG_CACHE_HOME}/srukit/backport-work/<id>].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Export the resolved files of a conflicted pick's work dir.
    #[arg(long = "continue", value_name = "WORKDIR", conflicts_with_all = ["upstream", "commit", "onto", "tree", "into", "exclude"])]
    pub continue_: Option<PathBuf>,
}

/// Paths in the state file must survive a `--continue` from another directory.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn run(args: BackportArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    if let Some(workdir) = &args.continue_ {
        let exported = backport::continue_backport(workdir)?;
        let text = exported_text(&exported);
        return Ok(Outcome::new(Exit::Success, &Report::Exported(exported), text));
    }
    let (Some(upstream), Some(commit), Some(into)) = (args.upstream, args.commit, args.into) else {
        return Err(crate::UsageError("--upstream, --commit and --into go together".into()).into());
    };
    // A local repository path is made absolute too; a URL stays as written.
    let upstream = if backport::upstream::is_url(&upstream) {
        upstream
    } else {
        absolute(Path::new(&upstream)).display().to_string()
    };
    let req = Request {
        upstream,
        commit,
        onto: args.onto,
        tree: args.tree.as_deref().map(absolute),
        into: absolute(&into),
        excludes: args.exclude,
        workdir: args.workdir.as_deref().map(absolute),
    };
    // `--json` promises one document on stdout: no progress events in between.
    let quiet = crate::reporter::Quiet;
    let reporter: &dyn crate::reporter::Reporter = if ctx.json { &quiet } else { ctx.reporter.as_ref() };
    let report = backport::backport(&req, reporter)?;
    let (exit, text) = match &report {
        Report::Exported(e) => (Exit::Success, exported_text(e)),
        Report::Conflicts(c) => (Exit::NotTrue, conflicts_text(c)),
    };
    Ok(Outcome::new(exit, &report, text))
}

fn exported_text(e: &Exported) -> String {
    let mut t = String::new();
    let _ = write!(t, "picked {} onto {} ({})", &e.commit[..10], e.onto, &e.onto_commit[..10]);
    if let Some(from) = &e.onto_from {
        let _ = write!(t, ", {from}");
    }
    t.push('\n');
    let verb = match e.patch_change {
        FileChange::Created => "wrote",
        FileChange::Replaced => "replaced",
        FileChange::Unchanged => "unchanged:",
    };
    let _ = writeln!(t, "{verb} {} (Origin: {})", e.patch.display(), e.origin.as_str());
    if !e.dropped.is_empty() {
        let _ = writeln!(t, "dropped: {}", e.dropped.join(", "));
    }
    let change = match e.manifest_change {
        backport::manifest_edit::ManifestChange::Created => "created",
        backport::manifest_edit::ManifestChange::PatchAdded => "patch added",
        backport::manifest_edit::ManifestChange::AlreadyListed => "patch already listed",
    };
    let _ = writeln!(t, "{}: {change}", e.manifest.display());
    t
}

/// How many lines of each side of a conflicting hunk the listing shows; the file in the
/// work dir has them all.
const EXCERPT_LINES: usize = 8;

fn excerpt(t: &mut String, side: &str) {
    let n = side.lines().count();
    for l in side.lines().take(EXCERPT_LINES) {
        let _ = writeln!(t, "      | {l}");
    }
    if n > EXCERPT_LINES {
        let _ = writeln!(t, "      | ... {} more lines", n - EXCERPT_LINES);
    }
    if n == 0 {
        let _ = writeln!(t, "      (nothing)");
    }
}

fn conflicts_text(c: &Conflicted) -> String {
    let mut t = String::new();
    let _ = write!(t, "conflicts picking {} onto {}", &c.commit[..10], c.onto);
    if let Some(from) = &c.onto_from {
        let _ = write!(t, ", {from}");
    }
    let _ = writeln!(t, ": {} file(s)", c.conflicts.len());
    for f in &c.conflicts {
        let _ = writeln!(t, "  {} ({}): {} conflicting hunk(s)", f.path, f.kind, f.hunks.len());
        for h in &f.hunks {
            let _ = writeln!(t, "    at line {}, {} has:", h.line, c.onto);
            excerpt(&mut t, &h.ours);
            let _ = writeln!(t, "    the upstream commit wants:");
            excerpt(&mut t, &h.theirs);
        }
    }
    if !c.dropped.is_empty() {
        let _ = writeln!(t, "dropped: {}", c.dropped.join(", "));
    }
    let _ = writeln!(
        t,
        "resolve the files in {}/files (delete a file to leave it out), then run:",
        c.workdir.display()
    );
    let _ = writeln!(t, "  srukit backport --continue {}", c.workdir.display());
    t
}
