//! `srukit dispatch RUN_OUT...`: each run's targets tested by the debci engine `srukit debci
//! up` runs (dispatch::jobs), results folded into RUN_OUT/dispatch/ (dispatch::fold).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Ctx, Outcome};
use crate::dispatch::state::{Paths, State};
use crate::dispatch::{fold, jobs, layout};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct DispatchArgs {
    /// `srukit run` out dirs (single- or multi-target layout).
    #[arg(required = true, num_args = 1..)]
    pub run_out: Vec<PathBuf>,
    /// The state dir of a running `srukit debci up`.
    #[arg(long, default_value = "/var/tmp/srukit-debci")]
    pub state: PathBuf,
    /// Wait for the results and fold them (else: enqueue and print the job ids).
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait for every job.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// Enqueue nothing: wait for and fold the jobs of the last dispatch of each RUN_OUT
    /// (RUN_OUT/dispatch/jobs.json), e.g. after the engine was restarted.
    #[arg(long, requires = "wait")]
    pub resume: bool,
}

#[derive(Serialize)]
struct Summary {
    verdict: Option<String>,
    jobs: Vec<jobs::Job>,
    results: Vec<fold::DispatchResult>,
}

pub fn run(args: DispatchArgs, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    // Every run out dir is read before the engine is asked anything.
    let mut runs = Vec::new();
    if !args.resume {
        for out in &args.run_out {
            let abs = crate::fsx::canonicalize(out)?;
            let targets = layout::targets(&abs)?;
            runs.push((abs, targets));
        }
    }
    let state = State::load(&args.state)?;
    let paths = Paths::new(&state.state_dir);
    let mut outs = Vec::new();
    let mut all = Vec::new();
    if args.resume {
        for out in &args.run_out {
            let abs = crate::fsx::canonicalize(out)?;
            all.extend(jobs::load(&abs)?);
            outs.push(abs);
        }
    } else {
        let mut planned = Vec::new();
        for (out, targets) in &runs {
            for t in targets {
                planned.extend(jobs::plan_target(&paths, &state, out, t)?);
            }
        }
        all = jobs::enqueue(&paths, planned)?;
        for (out, _) in &runs {
            let mine: Vec<jobs::Job> = all.iter().filter(|j| &j.run_out == out).cloned().collect();
            jobs::save(out, &mine)?;
            outs.push(out.clone());
        }
    }
    if !args.wait {
        let mut text = String::new();
        for j in &all {
            let _ = writeln!(text, "enqueued job {} ({} {} {})", j.id, j.package, j.series, j.side);
        }
        let s = Summary { verdict: None, jobs: all, results: Vec::new() };
        return Ok(Outcome::new(Exit::Success, &s, text));
    }
    jobs::wait(&paths, &mut all, Duration::from_secs(args.timeout))?;
    let mut results = Vec::new();
    let mut text = String::new();
    for out in &outs {
        let mine: Vec<jobs::Job> = all.iter().filter(|j| &j.run_out == out).cloned().collect();
        let r = fold::fold(out, &mine)?;
        let _ = writeln!(text, "{}:", out.display());
        text.push_str(&fold::render(&r));
        results.push(r);
    }
    let worst = results
        .iter()
        .map(|r| r.verdict.clone())
        .max_by_key(|v| match v.as_str() {
            "error" => 3,
            "verification-failed" => 2,
            "inconclusive" => 1,
            _ => 0,
        })
        .unwrap_or_else(|| "error".into());
    let exit = match worst.as_str() {
        "verification-done" => Exit::Success,
        "error" => Exit::CouldNotRun,
        _ => Exit::NotTrue,
    };
    let s = Summary { verdict: Some(worst), jobs: all, results };
    Ok(Outcome::new(exit, &s, text))
}
