//! srukit's own iSCSI initiator (RFC 7143, ErrorRecoveryLevel 0, one connection, no digests),
//! over any `Read + Write` stream the caller connected: login with CHAP-MD5 or without
//! authentication, discovery, SCSI commands with Data-In/Data-Out/R2T, logout. It reads
//! what no tgt tool shows: the caching mode page a target really serves.

use std::io;
use std::time::Duration;

use crate::exit::{Exit, ExitCodeOf};

pub mod chap;
pub mod login;
pub mod net;
pub mod pdu;
pub mod scsi;
pub mod session;
pub mod text;
pub mod wire;

pub use login::{Discovered, LoginParams, discover};
pub use net::{Transport, connect, connect_in_netns};
pub use scsi::{CachingPage, Capacity, Inquiry, Sense};
pub use session::Session;
pub use text::Negotiated;

/// Everything that can go wrong talking to a target. Every variant means "the check could
/// not run" (exit 3): a caching page that says WCE=1 is an answer, not an error.
#[derive(Debug, thiserror::Error)]
pub enum IscsiError {
    #[error("could not connect to iSCSI portal {portal}: {source}")]
    Connect {
        portal: String,
        #[source]
        source: io::Error,
    },
    #[error("could not enter network namespace {path}: {detail}")]
    Netns { path: String, detail: String },
    #[error("iSCSI connection failed while {during}: {source}")]
    Io {
        during: String,
        #[source]
        source: io::Error,
    },
    #[error("iSCSI target did not answer within {}s while {during}", after.as_secs_f64())]
    Timeout { during: String, after: Duration },
    #[error("iSCSI login rejected: status class {class:#04x} detail {detail:#04x} ({meaning})")]
    LoginRejected { class: u8, detail: u8, meaning: String },
    #[error("iSCSI CHAP authentication as user {user:?} failed: {reason}")]
    ChapFailed { user: String, reason: String },
    #[error("iSCSI protocol violation: {0}")]
    Protocol(String),
    #[error("iSCSI target rejected a {pdu} PDU: reason {reason:#04x} ({meaning})")]
    Rejected { pdu: &'static str, reason: u8, meaning: &'static str },
    #[error("SCSI {command} on LUN {lun}: CHECK CONDITION: {sense}")]
    CheckCondition { command: &'static str, lun: u16, sense: Sense },
    #[error("SCSI {command} on LUN {lun}: status {status:#04x} ({meaning})")]
    ScsiStatus { command: &'static str, lun: u16, status: u8, meaning: &'static str },
    #[error("SCSI {command} on LUN {lun}: iSCSI response {response:#04x} (target failure)")]
    TargetFailure { command: &'static str, lun: u16, response: u8 },
    #[error("iSCSI logout failed: response {response:#04x}")]
    Logout { response: u8 },
    #[error("LUN {lun} has {have} bytes; {need} needed")]
    LunTooSmall { lun: u16, have: u64, need: u64 },
    #[error("no disk LUN found on target {target} (LUNs: {luns:?})")]
    NoDiskLun { target: String, luns: Vec<u16> },
}

impl IscsiError {
    /// An I/O error while `during`; a read timeout becomes `Timeout`, so the message says
    /// the target was silent rather than "Resource temporarily unavailable".
    pub fn io(during: String, source: io::Error) -> IscsiError {
        match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                IscsiError::Timeout { during, after: Duration::ZERO }
            }
            _ => IscsiError::Io { during, source },
        }
    }
}

impl IscsiError {
    /// Fills in how long we waited, which only the session knows.
    pub fn waited(self, t: Duration) -> IscsiError {
        match self {
            IscsiError::Timeout { during, .. } => IscsiError::Timeout { during, after: t },
            other => other,
        }
    }
}

impl ExitCodeOf for IscsiError {
    fn exit(&self) -> Exit {
        Exit::CouldNotRun
    }
}
