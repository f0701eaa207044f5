//! The login phase (RFC 7143 6.3 and 11.12-11.13): security stage with CHAP-MD5 or
//! AuthMethod=None, operational negotiation, then full feature phase; and discovery
//! (SessionType=Discovery, SendTargets=All, RFC 7143 appendix C).

use std::time::Duration;

use serde::Serialize;

use super::IscsiError;
use super::chap;
use super::net::{DEFAULT_TIMEOUT, Transport};
use super::pdu::{Pdu, op};
use super::session::Session;
use super::text::{self, Negotiated};

/// Who logs in to what.
#[derive(Debug, Clone)]
pub struct LoginParams {
    pub initiator_iqn: String,
    pub target_iqn: String,
    /// CHAP user and secret; `None` offers AuthMethod=None only.
    pub chap: Option<(String, String)>,
    /// Bound on every read and write of the session.
    pub timeout: Duration,
}

/// srukit's initiator name when the caller gives none.
pub const DEFAULT_INITIATOR_IQN: &str = "iqn.2024-11.org.srukit:initiator";

impl LoginParams {
    pub fn new(target_iqn: &str) -> LoginParams {
        LoginParams {
            initiator_iqn: DEFAULT_INITIATOR_IQN.to_string(),
            target_iqn: target_iqn.to_string(),
            chap: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_chap(mut self, user: &str, secret: &str) -> LoginParams {
        self.chap = Some((user.to_string(), secret.to_string()));
        self
    }
}

/// Login stages (RFC 7143 11.12.3, CSG/NSG).
const SECURITY: u8 = 0;
const OPERATIONAL: u8 = 1;
const FULL_FEATURE: u8 = 3;

/// A target the discovery session reported: its name and one portal (`host:port,tpgt`
/// as the target wrote it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovered {
    pub iqn: String,
    pub portal: String,
}

/// What a finished login hands the session.
pub(super) struct LoggedIn {
    pub isid: [u8; 6],
    pub tsih: u16,
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
    pub max_cmd_sn: u32,
    pub params: Negotiated,
}

/// The login conversation on a fresh connection. Every login PDU is immediate and carries
/// the same ITT and CmdSN (RFC 7143 11.12.5/11.12.6); StatSN starts where the target says.
struct Conversation<'a, S: Transport> {
    stream: &'a mut S,
    timeout: Duration,
    isid: [u8; 6],
    tsih: u16,
    cmd_sn: u32,
    exp_stat_sn: u32,
    chap_user: Option<String>,
}

impl<S: Transport> Conversation<'_, S> {
    /// Sends one login request and returns the target's keys and its final response,
    /// following continuation (C bit) in both directions.
    fn exchange(
        &mut self,
        csg: u8,
        nsg: u8,
        transit: bool,
        keys: &[(String, String)],
    ) -> Result<(Vec<(String, String)>, Pdu), IscsiError> {
        let mut req = Pdu::new(op::LOGIN_REQUEST, true);
        req.set_flags(if transit { 0x80 } else { 0 } | (csg << 2) | if transit { nsg } else { 0 });
        req.bhs[8..14].copy_from_slice(&self.isid);
        req.set_u16(14, self.tsih);
        req.set_itt(0);
        req.set_u16(20, 0); // CID
        req.set_u32(24, self.cmd_sn);
        req.set_u32(28, self.exp_stat_sn);
        req.data = text::encode(keys);
        req.write_to(self.stream).map_err(|e| e.waited(self.timeout))?;
        let mut got = Vec::new();
        loop {
            let resp = Pdu::read_from(self.stream).map_err(|e| e.waited(self.timeout))?;
            match resp.opcode() {
                op::LOGIN_RESPONSE => {}
                op::REJECT => return Err(super::session::rejected(&resp)),
                other => {
                    return Err(IscsiError::Protocol(format!(
                        "expected a Login Response, got {}",
                        op::name(other)
                    )));
                }
            }
            self.exp_stat_sn = resp.stat_sn().wrapping_add(1);
            self.check_status(&resp)?;
            got.extend(text::parse(&resp.data)?);
            // C bit: the target has more text for this step; ask for it with an empty request.
            if resp.flags() & 0x40 != 0 {
                let mut more = req.clone();
                more.set_flags((csg << 2) & 0x0c);
                more.set_u32(28, self.exp_stat_sn);
                more.data.clear();
                more.write_to(self.stream).map_err(|e| e.waited(self.timeout))?;
                continue;
            }
            return Ok((got, resp));
        }
    }

    fn check_status(&self, resp: &Pdu) -> Result<(), IscsiError> {
        let (class, detail) = (resp.u8_at(36), resp.u8_at(37));
        if class == 0 {
            return Ok(());
        }
        if let (2, 1, Some(user)) = (class, detail, &self.chap_user) {
            return Err(IscsiError::ChapFailed {
                user: user.clone(),
                reason: "the target refused the CHAP response (wrong user or secret)".into(),
            });
        }
        Err(IscsiError::LoginRejected { class, detail, meaning: login_status_meaning(class, detail).into() })
    }
}

/// Login status classes and details (RFC 7143 11.13.5).
pub fn login_status_meaning(class: u8, detail: u8) -> &'static str {
    match (class, detail) {
        (1, _) => "target moved: redirection is not supported by srukit",
        (2, 0) => "initiator error",
        (2, 1) => "authentication failure (the target requires CHAP, or refused the credentials)",
        (2, 2) => "authorization failure: this initiator may not access the target",
        (2, 3) => "target not found",
        (2, 4) => "target removed",
        (2, 5) => "unsupported version",
        (2, 6) => "too many connections",
        (2, 7) => "missing parameter",
        (2, 8) => "cannot include in session",
        (2, 9) => "session type not supported",
        (2, 10) => "session does not exist",
        (2, 11) => "invalid request during login",
        (3, 0) => "target error",
        (3, 1) => "service unavailable",
        (3, 2) => "out of resources",
        _ => "unknown status",
    }
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A session identifier unique enough for one host: ISID type "random" (RFC 7143 10.12.5,
/// T=10b) filled from the clock and pid, so two probes at once do not collide.
fn random_isid() -> [u8; 6] {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mix = nanos ^ std::process::id().rotate_left(16);
    let b = mix.to_be_bytes();
    [0x80, b[1], b[2], b[3], b[0], 0x01]
}

/// Runs the whole login on `stream`. `target`: `Some(iqn)` for a Normal session, `None`
/// for a Discovery session.
pub(super) fn login<S: Transport>(
    stream: &mut S,
    initiator: &str,
    target: Option<&str>,
    chap_creds: Option<&(String, String)>,
    timeout: Duration,
) -> Result<LoggedIn, IscsiError> {
    stream.set_timeout(timeout).map_err(|e| IscsiError::io("setting the socket timeout".into(), e))?;
    let mut c = Conversation {
        stream,
        timeout,
        isid: random_isid(),
        tsih: 0,
        cmd_sn: 1,
        exp_stat_sn: 0,
        chap_user: chap_creds.map(|(u, _)| u.clone()),
    };

    // Security stage. Offer CHAP only when we have a secret; the target picks.
    let mut keys = vec![kv("InitiatorName", initiator)];
    match target {
        Some(t) => {
            keys.push(kv("SessionType", "Normal"));
            keys.push(kv("TargetName", t));
        }
        None => keys.push(kv("SessionType", "Discovery")),
    }
    keys.push(kv("AuthMethod", if chap_creds.is_some() { "CHAP,None" } else { "None" }));
    let mut transit = chap_creds.is_none();
    let mut sent_chap_a = false;
    let mut resp;
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > 8 {
            return Err(IscsiError::Protocol("the security stage did not end after 8 exchanges".into()));
        }
        let (got, r) = c.exchange(SECURITY, OPERATIONAL, transit, &keys)?;
        resp = r;
        if resp.flags() & 0x80 != 0 {
            // The target moved on; where to is in the NSG bits.
            let nsg = resp.flags() & 0x03;
            if nsg != OPERATIONAL && nsg != FULL_FEATURE {
                return Err(IscsiError::Protocol(format!("target left the security stage for stage {nsg}")));
            }
            if text::get(&got, "AuthMethod") == Some("Reject") {
                return Err(auth_rejected(&c.chap_user));
            }
            break;
        }
        match (text::get(&got, "AuthMethod"), chap_creds) {
            (Some("Reject"), _) => return Err(auth_rejected(&c.chap_user)),
            (Some("CHAP"), None) => return Err(auth_rejected(&None)),
            (Some("CHAP"), Some(_)) if !sent_chap_a => {
                keys = vec![kv("CHAP_A", chap::ALGORITHM_MD5)];
                sent_chap_a = true;
                transit = false;
                continue;
            }
            (Some("None"), _) => {
                keys = Vec::new();
                transit = true;
                continue;
            }
            _ => {}
        }
        if let (Some(id), Some(challenge), Some((user, secret))) =
            (text::get(&got, "CHAP_I"), text::get(&got, "CHAP_C"), chap_creds)
        {
            if text::get(&got, "CHAP_A").is_some_and(|a| a != chap::ALGORITHM_MD5) {
                return Err(IscsiError::Protocol(format!(
                    "target chose CHAP_A={:?}, srukit offered MD5",
                    text::get(&got, "CHAP_A")
                )));
            }
            let id: u8 =
                id.parse().map_err(|_| IscsiError::Protocol(format!("CHAP_I={id:?} is not 0..255")))?;
            let challenge = chap::decode_binary(challenge)?;
            let r = chap::response(id, secret.as_bytes(), &challenge);
            keys = vec![kv("CHAP_N", user), kv("CHAP_R", &chap::encode_hex(&r))];
            transit = true;
            continue;
        }
        if transit {
            // We asked to move on and the target neither moved nor asked anything.
            return Err(IscsiError::Protocol(format!("target stayed in the security stage, keys {got:?}")));
        }
        keys = Vec::new();
        transit = true;
    }

    // Operational stage (skipped if the target already went to full feature phase).
    let ours = if target.is_some() { text::operational_offer() } else { text::discovery_offer() };
    let mut params = Negotiated::default();
    if resp.flags() & 0x03 != FULL_FEATURE {
        let mut keys = ours.clone();
        let mut rounds = 0;
        loop {
            rounds += 1;
            if rounds > 8 {
                return Err(IscsiError::Protocol(
                    "the operational stage did not end after 8 exchanges".into(),
                ));
            }
            let (got, r) = c.exchange(OPERATIONAL, FULL_FEATURE, true, &keys)?;
            resp = r;
            params.apply(&got, &ours)?;
            if resp.flags() & 0x80 != 0 && resp.flags() & 0x03 == FULL_FEATURE {
                break;
            }
            keys = got
                .iter()
                .filter_map(|(k, v)| text::answer_to_target_proposal(k, v, &ours).map(|a| (k.clone(), a)))
                .collect();
        }
    }
    Ok(LoggedIn {
        isid: c.isid,
        tsih: resp.u16_at(14),
        cmd_sn: resp.exp_cmd_sn(),
        exp_stat_sn: c.exp_stat_sn,
        max_cmd_sn: resp.max_cmd_sn(),
        params,
    })
}

fn auth_rejected(user: &Option<String>) -> IscsiError {
    match user {
        Some(u) => IscsiError::ChapFailed {
            user: u.clone(),
            reason: "the target rejected the authentication method".into(),
        },
        None => IscsiError::LoginRejected {
            class: 2,
            detail: 1,
            meaning: "the target requires CHAP authentication; give a user and secret".into(),
        },
    }
}

/// Asks a portal which targets it serves (SendTargets=All in a Discovery session), then
/// logs out. One entry per (target, portal) pair.
pub fn discover<S: Transport>(
    stream: S,
    initiator_iqn: &str,
    chap: Option<&(String, String)>,
    timeout: Duration,
) -> Result<Vec<Discovered>, IscsiError> {
    let mut s = Session::login_discovery(stream, initiator_iqn, chap, timeout)?;
    let pairs = s.send_targets()?;
    s.logout()?;
    parse_send_targets(&pairs)
}

/// SendTargets text: each `TargetName` followed by its `TargetAddress`es. A name with no
/// address is reachable through the portal that answered (RFC 7143 appendix C), shown as "".
pub fn parse_send_targets(pairs: &[(String, String)]) -> Result<Vec<Discovered>, IscsiError> {
    let mut out = Vec::new();
    let mut current: Option<(String, bool)> = None;
    for (k, v) in pairs {
        match k.as_str() {
            "TargetName" => {
                if let Some((t, false)) = current.take() {
                    out.push(Discovered { iqn: t, portal: String::new() });
                }
                current = Some((v.clone(), false));
            }
            "TargetAddress" => match &mut current {
                Some((t, seen)) => {
                    *seen = true;
                    out.push(Discovered { iqn: t.clone(), portal: v.clone() });
                }
                None => return Err(IscsiError::Protocol(format!("TargetAddress={v} before any TargetName"))),
            },
            _ => {}
        }
    }
    if let Some((t, false)) = current {
        out.push(Discovered { iqn: t, portal: String::new() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_targets_pairs_names_and_portals() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let got = parse_send_targets(&[
            p("TargetName", "iqn.a"),
            p("TargetAddress", "127.0.0.1:3260,1"),
            p("TargetAddress", "[::1]:3260,1"),
            p("TargetName", "iqn.b"),
        ])
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], Discovered { iqn: "iqn.a".into(), portal: "[::1]:3260,1".into() });
        assert_eq!(got[2], Discovered { iqn: "iqn.b".into(), portal: String::new() });
        assert!(parse_send_targets(&[p("TargetAddress", "x")]).is_err());
    }

    #[test]
    fn status_meanings() {
        assert!(login_status_meaning(2, 1).contains("authentication"));
        assert_eq!(login_status_meaning(2, 3), "target not found");
    }
}
