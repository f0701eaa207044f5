//! `srukit probe wce`: ask a live iSCSI target, over the wire, whether its write cache is on.
//! Reads nothing from disk; connects (optionally from inside a network namespace), logs in,
//! reads the caching mode page and logs out.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::verify::checks::wce;
use crate::verify::iscsi::{self, LoginParams};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the caching mode page (MODE SENSE(6) page 0x08) and report WCE: 1 means the
    /// target acknowledges writes from its page cache (write-back), 0 write-through.
    Wce(WceArgs),
}

#[derive(Debug, Args)]
pub struct WceArgs {
    /// The target portal, HOST:PORT (port 3260 when omitted).
    #[arg(long)]
    pub portal: String,
    /// The target's IQN.
    #[arg(long)]
    pub target: String,
    /// CHAP credentials, USER:SECRET (the secret may contain ':').
    #[arg(long, value_name = "USER:SECRET")]
    pub chap: Option<String>,
    /// The LUN to probe; default: the first disk LUN REPORT LUNS lists.
    #[arg(long)]
    pub lun: Option<u16>,
    /// The initiator name to log in as.
    #[arg(long, default_value = iscsi::login::DEFAULT_INITIATOR_IQN)]
    pub initiator: String,
    /// Connect from inside this network namespace (e.g. /proc/PID/ns/net of a testbed).
    #[arg(long, value_name = "PATH")]
    pub netns: Option<PathBuf>,
    /// Seconds to wait for any answer from the target.
    #[arg(long, default_value_t = 20)]
    pub timeout: u64,
}

pub fn run(cmd: Command, _ctx: &Ctx) -> anyhow::Result<Outcome> {
    match cmd {
        Command::Wce(a) => wce_probe(a),
    }
}

fn wce_probe(a: WceArgs) -> anyhow::Result<Outcome> {
    let mut params = LoginParams::new(&a.target);
    params.initiator_iqn = a.initiator.clone();
    params.timeout = Duration::from_secs(a.timeout.max(1));
    if let Some(c) = &a.chap {
        let (user, secret) = c
            .split_once(':')
            .filter(|(u, s)| !u.is_empty() && !s.is_empty())
            .ok_or_else(|| crate::UsageError(format!("--chap wants USER:SECRET, got {c:?}")))?;
        params = params.with_chap(user, secret);
    }
    let portal = iscsi::net::portal_with_port(&a.portal);
    let stream = match &a.netns {
        Some(ns) => iscsi::connect_in_netns(ns, &portal, params.timeout)?,
        None => iscsi::connect(&portal, params.timeout)?,
    };
    let ev = wce::probe(stream, &params, &portal, a.lun)
        .with_context(|| format!("probing the write cache of {} at {portal}", a.target))?;
    let text = format!("{}\ncaching mode page: {}", ev.summary(), ev.page_hex);
    Ok(Outcome::new(Exit::Success, &ev, text))
}
