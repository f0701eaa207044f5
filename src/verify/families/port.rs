//! The port family: whether something listens on a TCP or UDP port in the testbed's network
//! namespace, read from the kernel's own tables (/proc/net/{tcp,udp}{,6}), so no tool in the
//! image is needed. A TCP socket listens in state LISTEN; a UDP one is bound (UNCONN).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::json;

use super::matchers::note;
use super::{Ctx, Family, Observation, exec, script, select};
use crate::verify::plan::{Check, Listen};

pub struct Port<'a> {
    pub check: &'a Check,
    pub listen: &'a Listen,
}

/// A socket row of /proc/net/*: local address, port, state.
#[derive(Debug, PartialEq)]
struct Socket {
    addr: IpAddr,
    port: u16,
    state: u8,
}

/// TCP_LISTEN and, for UDP, TCP_CLOSE (a bound, unconnected socket: `ss` shows UNCONN).
const TCP_LISTEN: u8 = 0x0A;
const UDP_UNCONN: u8 = 0x07;

fn parse_table(text: &str) -> Vec<Socket> {
    // Header lines (`sl local_address ...`) parse to nothing: their state is no hex.
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            if f.clone().next()? == "sl" {
                return None;
            }
            let local = f.nth(1)?;
            let state = u8::from_str_radix(f.nth(1)?, 16).ok()?;
            let (a, p) = local.split_once(':')?;
            Some(Socket { addr: parse_addr(a)?, port: u16::from_str_radix(p, 16).ok()?, state })
        })
        .collect()
}

/// The kernel prints addresses as host-order 32-bit words in hex (so little-endian bytes).
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok())
        .collect::<Option<_>>()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        16 => {
            let b: [u8; 16] = bytes.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// Whether `s` serves `want`: the port, and the address when one is asked (a socket bound to
/// the wildcard address serves every address of its family, and `::` IPv4 too).
fn serves(s: &Socket, want: &Listen, listening_state: u8) -> bool {
    if s.port != want.port || s.state != listening_state {
        return false;
    }
    match want.addr {
        None => true,
        Some(a) => s.addr == a || s.addr.is_unspecified(),
    }
}

impl Family for Port<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let l = self.listen;
        let files = [format!("/proc/net/{}", l.proto), format!("/proc/net/{}6", l.proto)];
        let out = exec(
            ctx.tb,
            &script(r#"for f in "$@"; do [ -r "$f" ] && cat "$f"; done; true"#, &[&files[0], &files[1]]),
        )?;
        if !out.success() {
            return Err(format!("reading {} failed: {}", files.join(", "), out.stderr_str().trim()));
        }
        let state = if l.proto == "tcp" { TCP_LISTEN } else { UDP_UNCONN };
        let sockets = parse_table(&out.stdout_str());
        let matching: Vec<String> = sockets
            .iter()
            .filter(|s| serves(s, l, state))
            .map(|s| match s.addr {
                IpAddr::V6(a) => format!("[{a}]:{}", s.port),
                a => format!("{a}:{}", s.port),
            })
            .collect();
        let listening = !matching.is_empty();
        let (outcome, why) = select(self.check, |m, why| match m.listening {
            Some(want) => {
                note(why, listening == want, if want { "listening".into() } else { "not listening".into() })
            }
            None => true,
        })?;
        let observed = if listening {
            format!("{l}: listening on {}", matching.join(", "))
        } else {
            format!("{l}: nothing listening")
        };
        let evidence = json!({
            "listen": l.to_string(),
            "sockets": matching,
            "tables": files,
            "object": { "listen": l.to_string() },
            "under_test": { "listen": l.to_string() },
        });
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0CBC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n   2: 0100007F:0CBC 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0 100 0 0 10 0\n";

    #[test]
    fn reads_the_kernels_tables() {
        let s = parse_table(TCP);
        assert_eq!(s[0], Socket { addr: "127.0.0.1".parse().unwrap(), port: 3260, state: TCP_LISTEN });
        assert_eq!(s[1].port, 8080);
        assert!(s[1].addr.is_unspecified());
        let s6 = parse_table(TCP6);
        assert_eq!(s6[0].addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(s6[0].port, 80);
    }

    #[test]
    fn serves_port_and_address() {
        let s = parse_table(TCP);
        let l = |t: &str| Listen::parse(t).unwrap();
        assert!(serves(&s[0], &l("tcp:3260"), TCP_LISTEN));
        assert!(serves(&s[0], &l("tcp:127.0.0.1:3260"), TCP_LISTEN));
        assert!(!serves(&s[0], &l("tcp:10.0.0.1:3260"), TCP_LISTEN));
        assert!(serves(&s[1], &l("tcp:10.0.0.1:8080"), TCP_LISTEN), "the wildcard address serves any");
        assert!(!serves(&s[2], &l("tcp:3260"), TCP_LISTEN), "an established connection is no listener");
    }
}
