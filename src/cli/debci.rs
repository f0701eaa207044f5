//! `srukit debci up --workers N --state DIR`: a debci engine on this machine, in the
//! foreground, until SIGTERM/SIGINT (dispatch::supervise).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::{Ctx, Outcome};
use crate::dispatch::supervise::{self, Engine, Event, UpOptions};
use crate::exit::Exit;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start RabbitMQ (loopback), debci's collector and N workers with the srukit backend;
    /// supervise them until SIGTERM/SIGINT, then stop them all.
    Up(UpArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// The engine's dir: broker state, debci config and data, repos, logs, state.json.
    #[arg(long, default_value = "/var/tmp/srukit-debci")]
    pub state: PathBuf,
    /// The testbed definition jobs run on (autopkgtest-virt-srukit DEF).
    #[arg(long, default_value = "testbeds/bookworm-lanes.toml")]
    pub testbed: PathBuf,
    /// SUITE=DEF: the testbed of jobs for one suite (a target's series).
    #[arg(long = "suite-testbed", value_name = "SUITE=DEF")]
    pub suite_testbeds: Vec<String>,
    /// Seconds to wait for the broker and every worker.
    #[arg(long, default_value_t = 120)]
    pub ready_timeout: u64,
}

fn absolute(p: &std::path::Path) -> anyhow::Result<PathBuf> {
    if !p.is_file() {
        return Err(crate::UsageError(format!("{}: no such testbed definition", p.display())).into());
    }
    Ok(crate::fsx::canonicalize(p)?)
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let Command::Up(args) = cmd;
    let state_dir = supervise::check_state_dir(&args.state)?;
    let mut suite_testbeds = Vec::new();
    for s in &args.suite_testbeds {
        let Some((suite, def)) = s.split_once('=') else {
            return Err(crate::UsageError(format!("--suite-testbed {s}: want SUITE=DEF")).into());
        };
        suite_testbeds.push((suite.to_string(), absolute(std::path::Path::new(def))?));
    }
    let opts = UpOptions {
        state_dir,
        workers: args.workers,
        testbed: absolute(&args.testbed)?,
        suite_testbeds,
        ready_timeout: Duration::from_secs(args.ready_timeout),
    };
    let json = ctx.json;
    let mut say = move |e: Event| {
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", serde_json::to_string(&e).unwrap_or_default());
        } else {
            let _ = writeln!(out, "{}: {}", e.event, e.detail);
        }
        let _ = out.flush();
    };
    let t0 = std::time::Instant::now();
    let mut engine = Engine::up(opts)?;
    let state = engine.state();
    say(Event {
        event: "ready",
        detail: serde_json::json!({
            "seconds": t0.elapsed().as_secs_f64(),
            "state": state.state_dir.join("state.json"),
            "amqp": state.amqp,
            "queue": state.queue,
            "workers": state.workers,
        }),
    });
    let sig = engine.supervise(&mut say);
    let final_state = engine.state();
    engine.stop();
    let sig = sig?;
    let summary = serde_json::json!({
        "event": "stopped",
        "signal": sig,
        "restarts": final_state.workers.iter().map(|w| w.restarts).sum::<u32>(),
    });
    Ok(Outcome::new(
        Exit::Success,
        &summary,
        format!("stopped (signal {sig}): workers, collector, broker, epmd"),
    )
    .compact())
}
