//! A testbed's own network namespace with a way out (`OpenOptions::uplink`): slirp4netns, the
//! user-mode network stack rootless podman uses, gives it a `tap0` with NAT to the host's
//! network and a DNS forwarder, and nothing else: no host interface, no host loopback. So
//! several testbeds can install from the archive at once and each still has its own
//! 127.0.0.1 and ports (with `host_network` they would share one, and two services on the same
//! port would collide). Reads `/proc/<pid>/net/route`; starts slirp4netns through `process`.

use std::time::{Duration, Instant};

use super::TestbedError;
use crate::process::{Background, Cmd};

/// slirp4netns's defaults (10.0.2.0/24): its DNS forwarder, which relays to the host's
/// resolvers, is what the testbed's /etc/resolv.conf names.
pub const RESOLV_CONF: &[u8] = b"nameserver 10.0.2.3\n";

/// The largest MTU slirp4netns allows: much faster bulk transfers (package downloads) than 1500.
const MTU: &str = "65520";

/// Starts slirp4netns on the network namespace of host pid `pid` and waits until its default
/// route is up.
pub fn start(pid: u32) -> Result<Background, TestbedError> {
    if crate::process::which("slirp4netns").is_none() {
        return Err(TestbedError::MissingTool {
            tool: "slirp4netns".into(),
            hint: "install it with `apt-get install slirp4netns` (scripts/setup.sh does)".into(),
        });
    }
    let bg = Cmd::new("slirp4netns")
        .args(["--configure", "--mtu", MTU, "--disable-host-loopback"])
        .arg(pid.to_string())
        .arg("tap0")
        .start()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let routes = std::fs::read_to_string(format!("/proc/{pid}/net/route")).unwrap_or_default();
        if has_default_route(&routes, "tap0") {
            return Ok(bg);
        }
        if let Some(status) = bg.try_wait() {
            return Err(TestbedError::StartOther(format!("slirp4netns exited at once ({status})")));
        }
        if Instant::now() > deadline {
            bg.kill();
            return Err(TestbedError::StartOther("slirp4netns did not bring up tap0 within 20s".into()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Does a /proc/net/route table hold a default route (destination 0) through `iface`?
fn has_default_route(table: &str, iface: &str) -> bool {
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        f.next() == Some(iface) && f.next() == Some("00000000")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_through_the_tap_only() {
        let head = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";
        let up = format!("{head}tap0\t00000000\t0202000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        assert!(has_default_route(&up, "tap0"));
        let only_subnet = format!("{head}tap0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
        assert!(!has_default_route(&only_subnet, "tap0"));
        let other = format!("{head}eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
        assert!(!has_default_route(&other, "tap0"));
        assert!(!has_default_route(head, "tap0"));
    }
}
