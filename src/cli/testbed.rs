//! `srukit testbed build|list|rm|gc|shell|exec|virt-server|enter`: images, throwaway
//! testbeds, and autopkgtest's virt server over them.

use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{Ctx, Outcome};
use crate::exit::Exit;
use crate::reporter::Reporter;
use crate::testbed::{self, Backend, ExecRequest, OpenOptions};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build (or find cached) the image of a definition: NAME (testbeds/NAME.toml) or FILE.
    Build { definition: String },
    /// Cached images: name, hash, size, age, in use.
    List,
    /// Remove cached images by name or hash.
    Rm { name_or_hash: String },
    /// Reap what killed srukit runs left (processes, mounts, cgroups, run dirs) and remove
    /// images no definition builds any more.
    Gc {
        /// Also tear down testbeds kept with `shell --keep`.
        #[arg(long)]
        kept: bool,
    },
    /// An interactive shell in a fresh testbed, thrown away on exit.
    Shell {
        definition: String,
        /// Keep the testbed running after the shell exits (reap it with `gc --kept`).
        #[arg(long)]
        keep: bool,
        #[command(flatten)]
        open: OpenArgs,
    },
    /// Run one command in a fresh testbed; exits 1 if it fails (`--json` has its status).
    Exec {
        definition: String,
        #[command(flatten)]
        open: OpenArgs,
        /// Kill the command after this many seconds.
        #[arg(long)]
        timeout: Option<f64>,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// autopkgtest's virtualisation server over fresh testbeds of DEFINITION, speaking the
    /// protocol on stdin/stdout (also run as `autopkgtest-virt-srukit`).
    VirtServer {
        definition: String,
        #[arg(long, value_enum, default_value_t = BackendArg::Unshare)]
        backend: BackendArg,
        /// With `--backend nspawn`: boot the image's systemd as pid 1 (advertises
        /// isolation-container).
        #[arg(long)]
        boot: bool,
        /// Share the host's network instead of the testbed's own with a user-mode uplink.
        #[arg(long)]
        host_network: bool,
    },
    /// The virt server's exec prefix: run ARGV in the running testbed whose pid 1 is PID.
    #[command(hide = true)]
    Enter {
        /// Host pid of the testbed's pid 1.
        #[arg(long)]
        pid: u32,
        /// Its start time (clock ticks, /proc/PID/stat field 22): a reused pid is refused.
        #[arg(long)]
        start: u64,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Unshare,
    Nspawn,
}

#[derive(Debug, Args)]
pub struct OpenArgs {
    #[arg(long, value_enum, default_value_t = BackendArg::Unshare)]
    pub backend: BackendArg,
    /// With `--backend nspawn`: boot the image's systemd as pid 1.
    #[arg(long)]
    pub boot: bool,
    /// Share the host's network (to reach the mirror).
    #[arg(long)]
    pub host_network: bool,
    /// The testbed's own network with a user-mode uplink (slirp4netns) to reach the mirror.
    #[arg(long, conflicts_with = "host_network")]
    pub uplink: bool,
}

impl OpenArgs {
    fn options(&self, keep: bool) -> anyhow::Result<OpenOptions> {
        let backend = match (self.backend, self.boot) {
            (BackendArg::Unshare, true) => {
                return Err(crate::UsageError("--boot needs --backend nspawn".into()).into());
            }
            (BackendArg::Unshare, false) => Backend::Unshare,
            (BackendArg::Nspawn, boot) => Backend::Nspawn { boot },
        };
        Ok(OpenOptions {
            backend,
            host_network: self.host_network,
            uplink: self.uplink,
            keep,
            upper_on_disk: false,
            ..Default::default()
        })
    }
}

#[derive(Serialize)]
struct ExecResult {
    testbed: String,
    status: i32,
    stdout: String,
    stderr: String,
    seconds: f64,
    /// How a booted testbed came up (`--boot` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<testbed::BootStatus>,
}

/// Opens a testbed; a booted one that came up degraded is worth a warning (which units
/// failed), not a refusal: a plan's checks decide whether those units matter.
fn open_testbed(
    image: &testbed::Image,
    opts: &OpenOptions,
    rep: &dyn crate::reporter::Reporter,
) -> anyhow::Result<Box<dyn testbed::Testbed>> {
    let tb = testbed::open(image, opts)?;
    if let Some(b) = tb.boot_status().filter(|b| b.state != "running") {
        rep.warn(&format!(
            "testbed {} booted {} in {:.2}s; failed units: {}",
            tb.id(),
            b.state,
            b.seconds,
            if b.failed_units.is_empty() { "none listed".to_string() } else { b.failed_units.join(", ") }
        ));
    }
    Ok(tb)
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<Outcome> {
    // Every testbed command first reaps what a killed srukit left (gc reports it itself).
    // The exec prefix is run for every command autopkgtest sends: it enters and relays, no more.
    if let Command::Enter { pid, start, ref argv } = cmd {
        enter(pid, start, argv);
    }
    if !matches!(cmd, Command::Gc { .. }) {
        testbed::reap_orphans();
    }
    let rep = ctx.reporter.as_ref();
    match cmd {
        Command::Build { definition } => {
            let image = testbed::ensure_image(&definition, rep)?;
            let text = match &image.virt {
                // Nothing to build: the server makes its testbed at open.
                Some(v) => format!("{}: virt server `{}`, no image to build\n", image.name, v.argv.join(" ")),
                None => format!("{} {} {}\n", image.name, image.hash, image.dir.display()),
            };
            Ok(Outcome::new(Exit::Success, &image, text))
        }
        Command::List => {
            let images = testbed::list_images()?;
            let mut text = format!("{:<20} {:<16} {:>9} {:>8}  IN USE\n", "NAME", "HASH", "SIZE", "AGE");
            for i in &images {
                text.push_str(&format!(
                    "{:<20} {:<16} {:>8}M {:>8}  {}\n",
                    i.name,
                    i.hash,
                    i.size_bytes / (1024 * 1024),
                    age(i.age_seconds),
                    if i.in_use_by.is_empty() { "-".to_string() } else { i.in_use_by.join(",") }
                ));
            }
            Ok(Outcome::new(Exit::Success, &images, text))
        }
        Command::Rm { name_or_hash } => {
            let removed = testbed::remove_image(&name_or_hash)?;
            let text: String = removed.iter().map(|i| format!("removed {} {}\n", i.name, i.hash)).collect();
            Ok(Outcome::new(Exit::Success, &removed, text))
        }
        Command::Gc { kept } => {
            let r = testbed::gc(kept)?;
            // The caches built on images: layers of images gone, .debs long unused.
            let images: Vec<String> = testbed::list_images()?.into_iter().map(|i| i.hash).collect();
            let layers = crate::build::layer::collect_garbage(&images)?;
            let debs = crate::debcache::collect_garbage()?;
            let text = format!(
                "reaped {} testbed(s), removed {} image(s), {} temp dir(s), {} build-deps layer(s) and {} cached .deb(s)\n",
                r.testbeds_reaped.len(),
                r.images_removed.len(),
                r.temp_dirs_removed.len(),
                layers.len(),
                debs.len()
            );
            let json = GcJson { testbed: &r, build_deps_layers_removed: &layers, debs_removed: &debs };
            Ok(Outcome::new(Exit::Success, &json, text))
        }
        Command::Shell { definition, keep, open } => {
            let image = testbed::ensure_image(&definition, rep)?;
            let tb = open_testbed(&image, &open.options(keep)?, rep)?;
            let id = tb.id().to_string();
            let boot = tb.boot_status().cloned();
            // The one interactive command: the terminal is handed to the shell. A virt
            // server's testbed is entered through its exec prefix instead.
            let enter: Vec<String> = match (tb.virt_info(), tb.init_pid()) {
                (Some(v), _) => v.exec_prefix,
                (None, Some(pid)) => ["nsenter", "-t", &pid.to_string(), "-m", "-u", "-i", "-n", "-p", "--"]
                    .map(String::from)
                    .to_vec(),
                (None, None) => anyhow::bail!("testbed {id} has neither a host pid 1 nor an exec prefix"),
            };
            let status = crate::process::Cmd::new(&enter[0])
                .args(&enter[1..])
                .args(["/usr/bin/env", "-i", "TERM=xterm", "HOME=/root"])
                .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
                .args(["/bin/bash", "-l"])
                .interactive()?;
            tb.close()?;
            let text = if keep {
                format!("kept testbed {id} (remove with `srukit testbed gc --kept`)\n")
            } else {
                String::new()
            };
            Ok(Outcome::new(
                if status == 0 { Exit::Success } else { Exit::NotTrue },
                &serde_json::json!({"testbed": id, "status": status, "boot": boot}),
                text,
            ))
        }
        Command::VirtServer { definition, backend, boot, host_network } => {
            if ctx.json {
                // stdout carries the protocol alone: a JSON document there would corrupt it.
                return Err(crate::UsageError(
                    "virt-server has no --json: its stdout is autopkgtest's protocol (diagnostics go to stderr)".into(),
                )
                .into());
            }
            let backend = match (backend, boot) {
                (BackendArg::Unshare, true) => {
                    return Err(crate::UsageError("--boot needs --backend nspawn".into()).into());
                }
                (BackendArg::Unshare, false) => Backend::Unshare,
                (BackendArg::Nspawn, boot) => Backend::Nspawn { boot },
            };
            virt_server(&definition, backend, host_network, rep)
        }
        Command::Enter { .. } => unreachable!("handled before the match"),
        Command::Exec { definition, open, timeout, command } => {
            let image = testbed::ensure_image(&definition, rep)?;
            let mut tb = open_testbed(&image, &open.options(false)?, rep)?;
            let mut req = ExecRequest::new(command);
            if let Some(t) = timeout {
                req = req.timeout(Duration::from_secs_f64(t));
            }
            let out = tb.exec(&req);
            let id = tb.id().to_string();
            let boot = tb.boot_status().cloned();
            let closed = tb.close();
            let out = out?;
            closed?;
            let res = ExecResult {
                testbed: id,
                status: out.status,
                stdout: out.stdout_str(),
                stderr: out.stderr_str(),
                seconds: out.duration.as_secs_f64(),
                boot,
            };
            if !ctx.json {
                eprint!("{}", res.stderr);
            }
            let exit = if out.status == 0 { Exit::Success } else { Exit::NotTrue };
            Ok(Outcome::new(exit, &res, res.stdout.clone()))
        }
    }
}

/// Exits with the command's relayed status, or 255 and a message for the prefix's own
/// failure: the prefix's status is the contract (see `virt_server::enter`), not srukit's
/// exit codes.
fn enter(pid: u32, start: u64, argv: &[String]) -> ! {
    use crate::testbed::virt_server::enter;
    match enter::run(pid, start, argv) {
        Ok(status) => std::process::exit(status),
        Err(e) => {
            eprintln!("srukit testbed enter: {e}");
            std::process::exit(enter::OWN_FAILURE)
        }
    }
}

/// The protocol session; a signal that ended it is re-raised once the testbed is closed.
fn virt_server(
    definition: &str,
    backend: Backend,
    host_network: bool,
    rep: &dyn Reporter,
) -> anyhow::Result<Outcome> {
    use crate::testbed::virt_server::{self, Ended, ServerOptions};
    let image = testbed::ensure_image(definition, rep)?;
    let open = OpenOptions { backend, host_network, uplink: !host_network, ..Default::default() };
    match virt_server::serve(image, ServerOptions { open })? {
        Ended::Quit => Ok(Outcome::new(Exit::Success, &serde_json::json!({"ended": "quit"}), "")),
        Ended::Signal(sig) => virt_server::reraise(sig),
    }
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// `testbed gc --json`: the testbed report's fields, then the caches'.
#[derive(serde::Serialize)]
struct GcJson<'a> {
    #[serde(flatten)]
    testbed: &'a testbed::GcReport,
    build_deps_layers_removed: &'a [std::path::PathBuf],
    debs_removed: &'a [std::path::PathBuf],
}
