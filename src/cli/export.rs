//! `srukit export dep8 PLAN --into TREE`: the plan as DEP-8 tests in a source tree
//! (`debian/tests/srukit-<plan>-<phase>` and the plan's block of `debian/tests/control`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Subcommand;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::verify::export::{self, ExportOptions, ExportReport};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One POSIX sh test per phase in TREE/debian/tests, run by autopkgtest with no srukit in
    /// the testbed: SRUKIT_SIDE=after (default) asserts the fix, SRUKIT_SIDE=before the bug.
    Dep8(Dep8Args),
}

#[derive(Debug, clap::Args)]
pub struct Dep8Args {
    /// The verification plan (verify.toml).
    pub plan: PathBuf,
    /// The source tree of the fixed version (the directory that holds debian/).
    #[arg(long)]
    pub into: PathBuf,
    /// Another package every exported test depends on (repeatable).
    #[arg(long, value_name = "PACKAGE")]
    pub depends: Vec<String>,
}

pub fn run(cmd: Command, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Dep8(args) => {
            let opts = ExportOptions { depends: args.depends };
            let report = export::export(&args.plan, &args.into, &opts)?;
            let text = render(&report);
            Ok(Outcome::new(Exit::Success, &report, text))
        }
    }
}

pub fn render(r: &ExportReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "exported plan {} into {} ({} {}; before: {})",
        r.plan,
        r.tree.display(),
        r.versions.source,
        r.versions.after,
        r.versions.before.as_deref().unwrap_or("none in the changelog")
    );
    for t in &r.tests {
        let _ = writeln!(
            s,
            "  test {}  phase {}  restrictions: {}",
            t.name,
            t.phase,
            if t.restrictions.is_empty() { "none".to_string() } else { t.restrictions.join(", ") }
        );
    }
    let _ = writeln!(s, "  depends    {}", r.depends.join(", "));
    let _ = writeln!(s, "  control    {}", r.control.display());
    for p in &r.removed {
        let _ = writeln!(s, "  removed    {} (its phase is gone)", p.display());
    }
    s
}
