//! The byte stream under a session: a `Transport` is any `Read + Write` that can bound how
//! long a read waits. `connect_in_netns` opens a TCP connection from inside another network
//! namespace (a testbed's), where tgtd listens on its own 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::IscsiError;

/// The default bound on every read and write: a target that says nothing for this long is
/// gone (tgtd answers a 1 MiB write in milliseconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A stream a session runs over.
pub trait Transport: Read + Write {
    /// Bounds every following read and write; `Err` if the stream cannot.
    fn set_timeout(&mut self, t: Duration) -> std::io::Result<()>;
}

impl Transport for TcpStream {
    fn set_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))?;
        // Small PDUs (login, MODE SENSE) must not wait for Nagle.
        self.set_nodelay(true)
    }
}

impl Transport for UnixStream {
    fn set_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(t))?;
        self.set_write_timeout(Some(t))
    }
}

/// `HOST:PORT`, or `HOST` with iSCSI's well-known port 3260 (RFC 7143 13.10 default).
pub fn portal_with_port(portal: &str) -> String {
    let has_port = match portal.rsplit_once(':') {
        Some((host, port)) => port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')),
        None => false,
    };
    if has_port { portal.to_string() } else { format!("{portal}:3260") }
}

/// Connects to a portal in the current network namespace.
pub fn connect(portal: &str, timeout: Duration) -> Result<TcpStream, IscsiError> {
    let portal = portal_with_port(portal);
    let err = |source| IscsiError::Connect { portal: portal.clone(), source };
    let addrs: Vec<_> = portal.to_socket_addrs().map_err(err)?.collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(err(last))
}

/// Connects to a portal from inside the network namespace `ns` (e.g. `/proc/PID/ns/net`).
/// A socket belongs to the namespace it was created in, so a helper thread enters the
/// namespace, connects and hands the socket back; the caller's threads stay where they are.
pub fn connect_in_netns(ns: &Path, portal: &str, timeout: Duration) -> Result<TcpStream, IscsiError> {
    let ns_err = |detail: String| IscsiError::Netns { path: ns.display().to_string(), detail };
    let file = crate::fsx::open(ns).map_err(|e| ns_err(e.to_string()))?;
    let portal = portal.to_string();
    let joined = std::thread::spawn(move || -> Result<TcpStream, Result<IscsiError, String>> {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| Err(format!("setns: {e}")))?;
        connect(&portal, timeout).map_err(Ok)
    })
    .join()
    .map_err(|_| ns_err("the helper thread panicked".into()))?;
    match joined {
        Ok(s) => Ok(s),
        Err(Ok(e)) => Err(e),
        Err(Err(detail)) => Err(ns_err(detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port() {
        assert_eq!(portal_with_port("127.0.0.1"), "127.0.0.1:3260");
        assert_eq!(portal_with_port("127.0.0.1:3261"), "127.0.0.1:3261");
        assert_eq!(portal_with_port("[::1]:3262"), "[::1]:3262");
        assert_eq!(portal_with_port("host.example"), "host.example:3260");
    }

    #[test]
    fn refused_connection_names_the_portal() {
        // Port 1 on loopback: nothing listens there on a test machine.
        let err = connect("127.0.0.1:1", Duration::from_secs(2)).unwrap_err();
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
        assert!(matches!(err, IscsiError::Connect { .. }));
    }

    #[test]
    fn missing_namespace_is_a_netns_error() {
        let err =
            connect_in_netns(Path::new("/proc/0/ns/net"), "127.0.0.1", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, IscsiError::Netns { .. }), "{err}");
    }
}
