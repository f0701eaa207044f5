//! `srukit verify PLAN --before PKGS --after PKGS --out DIR`: run an SRU verification plan.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::testbed::BackendArg;
use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::testbed::Backend;
use crate::verify::engine::{self, Options};
use crate::verify::packages::PackageSource;
use crate::verify::plan::Plan;
use crate::verify::result::{Side, Verdict, VerifyResult};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The verification plan (TOML), e.g. patches/<name>/verify.toml.
    pub plan: PathBuf,
    /// The old packages: a `srukit build` output dir, a dir of .debs, apt:NAME[=VERSION] (as
    /// the testbed image carries it) or apt:NAME[=VERSION]@SUITE (from the archive's suite,
    /// e.g. bookworm, bookworm-security, bookworm-proposed-updates).
    #[arg(long, value_name = "PKGS")]
    pub before: Option<String>,
    /// The new packages (as --before).
    #[arg(long, value_name = "PKGS")]
    pub after: Option<String>,
    /// Run one side only.
    #[arg(long, value_enum)]
    pub only: Option<SideArg>,
    /// Where result.json and the run logs go.
    #[arg(long, default_value = "srukit-out/verify")]
    pub out: PathBuf,
    /// How many testbeds run at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// The testbed backend; default: the one the plan's `needs` call for (`init`: nspawn
    /// booting systemd; else unshare). One that cannot give what the plan needs is refused.
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    Before,
    After,
}

impl From<SideArg> for Side {
    fn from(s: SideArg) -> Side {
        match s {
            SideArg::Before => Side::Before,
            SideArg::After => Side::After,
        }
    }
}

pub fn backend_of(arg: BackendArg) -> Backend {
    match arg {
        BackendArg::Unshare => Backend::Unshare,
        BackendArg::Nspawn => Backend::Nspawn { boot: false },
    }
}

pub fn run(args: VerifyArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let plan = Plan::load(&args.plan)?;
    let opts = Options {
        before: args.before.as_deref().map(PackageSource::parse).transpose()?,
        after: args.after.as_deref().map(PackageSource::parse).transpose()?,
        only: args.only.map(Side::from),
        out: args.out.clone(),
        jobs: args.jobs,
        backend: args.backend.map(backend_of),
        info: None,
    };
    let result = engine::verify(&plan, &opts, ctx.reporter.as_ref())?;
    let text = summary(&result, &args.out.join("result.json"));
    Ok(Outcome::new(exit_of(result.verdict), &result, text))
}

/// The documented exit codes of a verdict: done 0, failed or inconclusive 1, error 3.
pub fn exit_of(v: Verdict) -> Exit {
    match v {
        Verdict::VerificationDone => Exit::Success,
        Verdict::VerificationFailed | Verdict::Inconclusive => Exit::NotTrue,
        Verdict::Error => Exit::CouldNotRun,
    }
}

/// The versions under test, one line per check grouped by run, then the verdict.
pub fn summary(r: &VerifyResult, path: &std::path::Path) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", crate::report::versions_line(r));
    for run in &r.runs {
        let _ = writeln!(s, "{}/{} ({:.1}s)", run.side, run.phase, run.seconds);
        if let Some(e) = &run.error {
            let _ = writeln!(s, "  error: {e}");
        }
        for c in &run.checks {
            let _ = match c.kind {
                Some(_) => writeln!(
                    s,
                    "  {:<13} {:<12} expected {:<20} observed {}",
                    c.id, c.outcome, c.expected, c.observed
                ),
                None => writeln!(
                    s,
                    "  {:<13} {:<12} expected {:<20} matched {:<12} {}",
                    c.id,
                    c.outcome,
                    if c.expected_outcome.is_empty() { "-" } else { c.expected_outcome.as_str() },
                    c.matched_outcome,
                    c.observed
                ),
            };
        }
    }
    let _ = writeln!(s, "{}: {} ({:.1}s)", r.verdict.as_str(), r.reason, r.seconds);
    let _ = writeln!(s, "result: {}", path.display());
    s
}
