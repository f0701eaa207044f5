//! RabbitMQ for debci, loopback only, with its own node name, Erlang cookie and mnesia dir
//! under the state dir, so it never touches a system broker's state. epmd runs in the
//! foreground as our child (not `-daemon`, which detaches and outlives everything).

use std::path::Path;
use std::time::{Duration, Instant};

use super::state::Paths;
use super::{DispatchError, Result};
use crate::fsx;
use crate::process::{Background, Cmd};

/// The node name: not `rabbit@...`, the system broker's.
pub const NODE: &str = "srukit@localhost";
pub const AMQP_PORT: u16 = 5672;
pub const DIST_PORT: u16 = 25672;
pub const EPMD_PORT: u16 = 4369;
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// The real rabbitmqctl: /usr/sbin/rabbitmqctl switches to the rabbitmq user and its cookie.
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";

pub fn url() -> String {
    format!("amqp://127.0.0.1:{AMQP_PORT}")
}

/// Refuses to start over another broker or epmd: they would answer in our place.
pub fn check_ports() -> Result<()> {
    for port in [AMQP_PORT, DIST_PORT, EPMD_PORT] {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            return Err(DispatchError::PortBusy { port });
        }
    }
    Ok(())
}

pub fn check_installed() -> Result<()> {
    for (tool, hint) in [
        (SERVER, "apt-get install rabbitmq-server (scripts/setup.sh)"),
        (CTL, "apt-get install rabbitmq-server (scripts/setup.sh)"),
        ("/usr/bin/epmd", "apt-get install erlang-base (rabbitmq-server depends on it)"),
    ] {
        if !Path::new(tool).exists() {
            return Err(DispatchError::Missing { tool: tool.into(), hint: hint.into() });
        }
    }
    Ok(())
}

fn env(c: Cmd, paths: &Paths) -> Cmd {
    let home = paths.rabbitmq();
    c.env("HOME", &home)
        .env("RABBITMQ_NODENAME", NODE)
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", AMQP_PORT.to_string())
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("ERL_EPMD_PORT", EPMD_PORT.to_string())
        .env("RABBITMQ_MNESIA_BASE", home.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", paths.logs())
        .env("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}")
}

/// epmd, in the foreground, loopback only.
pub fn start_epmd(paths: &Paths) -> Result<Background> {
    let c = Cmd::new("setsid")
        .args(["/usr/bin/epmd", "-address", "127.0.0.1", "-port"])
        .arg(EPMD_PORT.to_string())
        .output_to_file(paths.logs().join("epmd.log"));
    Ok(c.start()?)
}

/// The broker in its own session (a Ctrl-C on our terminal reaches us, not it: we stop it).
pub fn start(paths: &Paths) -> Result<Background> {
    fsx::create_dir_all(&paths.rabbitmq())?;
    let c = env(Cmd::new("setsid").arg(SERVER), paths)
        .cwd(paths.rabbitmq())
        .output_to_file(paths.logs().join("rabbitmq-server.log"));
    Ok(c.start()?)
}

pub fn ctl(paths: &Paths, args: &[&str]) -> Cmd {
    env(Cmd::new(CTL).args(["-q", "-n", NODE]).args(args), paths).timeout(Duration::from_secs(60))
}

/// Waits until the broker answers (`rabbitmqctl await_startup`), or the process dies.
pub fn await_startup(paths: &Paths, broker: &Background, limit: Duration) -> Result<()> {
    let t0 = Instant::now();
    let log = paths.logs().join("rabbitmq-server.log");
    loop {
        if broker.try_wait().is_some() {
            return Err(DispatchError::DiedAtStart { what: "rabbitmq-server".into(), log });
        }
        let out = ctl(paths, &["await_startup", "--timeout", "5"]).output_unchecked()?;
        if out.status.success() {
            return Ok(());
        }
        if t0.elapsed() > limit {
            return Err(DispatchError::BrokerTimeout { seconds: limit.as_secs(), log });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One queue as `rabbitmqctl list_queues` says it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Queue {
    pub name: String,
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u64,
}

pub fn list_queues(paths: &Paths) -> Result<Vec<Queue>> {
    let text = ctl(
        paths,
        &[
            "list_queues",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ],
    )
    .read()?;
    Ok(parse_queues(&text))
}

pub fn parse_queues(text: &str) -> Vec<Queue> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let [name, ready, unacked, consumers] = w.as_slice() else { return None };
            Some(Queue {
                name: name.to_string(),
                ready: ready.parse().ok()?,
                unacked: unacked.parse().ok()?,
                consumers: consumers.parse().ok()?,
            })
        })
        .collect()
}

/// Stops the broker cleanly (its messages stay in mnesia), then reaps it.
pub fn stop(paths: &Paths, broker: &Background) {
    let _ = ctl(paths, &["stop"]).output_unchecked();
    let t0 = Instant::now();
    while broker.try_wait().is_none() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    broker.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_read_from_list_queues() {
        let q = parse_queues("debci-tests-amd64-srukit\t3\t1\t2\ndebci_results\t0\t0\t1\ngarbage\n");
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0],
            Queue { name: "debci-tests-amd64-srukit".into(), ready: 3, unacked: 1, consumers: 2 }
        );
    }
}
