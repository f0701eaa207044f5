//! iSCSI text keys (RFC 7143 section 6 and 13): `key=value` pairs separated by NUL bytes in
//! Login and Text PDUs, and the operational parameters srukit offers and how each one's
//! result is computed from both sides' values.

use super::IscsiError;

/// Parses a text data segment into ordered key/value pairs. Empty strings (trailing NULs)
/// are skipped; a pair without `=` is a protocol violation (RFC 7143 6.1).
pub fn parse(data: &[u8]) -> Result<Vec<(String, String)>, IscsiError> {
    let mut out = Vec::new();
    for raw in data.split(|b| *b == 0) {
        if raw.is_empty() {
            continue;
        }
        let s = String::from_utf8_lossy(raw);
        let (k, v) =
            s.split_once('=').ok_or_else(|| IscsiError::Protocol(format!("text key without '=': {s:?}")))?;
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Encodes pairs as `key=value\0` each.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref().as_bytes());
        out.push(b'=');
        out.extend_from_slice(v.as_ref().as_bytes());
        out.push(0);
    }
    out
}

pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The operational parameters in force after login, with RFC 7143 defaults (13.x) until
/// the target says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Negotiated {
    /// The most data the target accepts in one PDU from us (its declaration, 13.12).
    pub target_max_recv_data_segment_length: u32,
    /// The most data we accept in one PDU (our declaration).
    pub initiator_max_recv_data_segment_length: u32,
    pub max_burst_length: u32,
    pub first_burst_length: u32,
    pub initial_r2t: bool,
    pub immediate_data: bool,
    pub max_outstanding_r2t: u32,
    pub max_connections: u32,
    pub error_recovery_level: u32,
    pub data_pdu_in_order: bool,
    pub data_sequence_in_order: bool,
    pub target_portal_group_tag: Option<u16>,
    pub target_alias: Option<String>,
}

/// What srukit offers. Large segments keep a 200 MiB write to a few hundred PDUs;
/// ImmediateData=Yes and InitialR2T=No let the target choose how much we may send unasked.
pub const OUR_MAX_RECV_DATA_SEGMENT_LENGTH: u32 = 262_144;
const OFFER_MAX_BURST: u32 = 1_048_576;
const OFFER_FIRST_BURST: u32 = 262_144;

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            target_max_recv_data_segment_length: 8192,
            initiator_max_recv_data_segment_length: OUR_MAX_RECV_DATA_SEGMENT_LENGTH,
            max_burst_length: 262_144,
            first_burst_length: 65_536,
            initial_r2t: true,
            immediate_data: true,
            max_outstanding_r2t: 1,
            max_connections: 1,
            error_recovery_level: 0,
            data_pdu_in_order: true,
            data_sequence_in_order: true,
            target_portal_group_tag: None,
            target_alias: None,
        }
    }
}

/// The keys srukit sends in the operational stage of a Normal session.
pub fn operational_offer() -> Vec<(String, String)> {
    [
        ("HeaderDigest", "None".to_string()),
        ("DataDigest", "None".to_string()),
        ("MaxConnections", "1".to_string()),
        ("InitialR2T", "No".to_string()),
        ("ImmediateData", "Yes".to_string()),
        ("MaxRecvDataSegmentLength", OUR_MAX_RECV_DATA_SEGMENT_LENGTH.to_string()),
        ("MaxBurstLength", OFFER_MAX_BURST.to_string()),
        ("FirstBurstLength", OFFER_FIRST_BURST.to_string()),
        ("DefaultTime2Wait", "0".to_string()),
        ("DefaultTime2Retain", "0".to_string()),
        ("MaxOutstandingR2T", "1".to_string()),
        ("DataPDUInOrder", "Yes".to_string()),
        ("DataSequenceInOrder", "Yes".to_string()),
        ("ErrorRecoveryLevel", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The keys srukit sends in the operational stage of a Discovery session.
pub fn discovery_offer() -> Vec<(String, String)> {
    [
        ("HeaderDigest", "None"),
        ("DataDigest", "None"),
        ("MaxRecvDataSegmentLength", "262144"),
        ("DefaultTime2Wait", "0"),
        ("DefaultTime2Retain", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// What we answer to a key the target proposed on its own (RFC 7143 6.2: every proposal
/// gets an answer). `None`: the key is declarative or a reply to our offer.
pub fn answer_to_target_proposal(key: &str, value: &str, offered: &[(String, String)]) -> Option<String> {
    if offered.iter().any(|(k, _)| k == key) {
        return None;
    }
    match key {
        // Declarations: no answer.
        "TargetAlias" | "TargetAddress" | "TargetPortalGroupTag" | "MaxRecvDataSegmentLength" => None,
        // Digests: we support only None.
        "HeaderDigest" | "DataDigest" => Some("None".into()),
        // Obsolete markers keys (RFC 3720 ones some targets still send): say No.
        "OFMarker" | "IFMarker" => Some("No".into()),
        "OFMarkInt" | "IFMarkInt" => Some("Irrelevant".into()),
        // Numeric or boolean keys we take as the target proposes (they are within what we support).
        "ErrorRecoveryLevel" => Some("0".into()),
        "MaxConnections" => Some("1".into()),
        "InitialR2T"
        | "ImmediateData"
        | "DataPDUInOrder"
        | "DataSequenceInOrder"
        | "MaxBurstLength"
        | "FirstBurstLength"
        | "DefaultTime2Wait"
        | "DefaultTime2Retain"
        | "MaxOutstandingR2T" => Some(value.to_string()),
        _ => Some("NotUnderstood".into()),
    }
}

fn num(key: &str, v: &str) -> Result<u32, IscsiError> {
    v.parse().map_err(|_| IscsiError::Protocol(format!("target answered {key}={v:?}, not a number")))
}

fn yes_no(key: &str, v: &str) -> Result<bool, IscsiError> {
    match v {
        "Yes" => Ok(true),
        "No" => Ok(false),
        _ => Err(IscsiError::Protocol(format!("target answered {key}={v:?}, not Yes or No"))),
    }
}

impl Negotiated {
    /// Applies the target's answers and declarations to the defaults, following each key's
    /// result function (RFC 7143 13.x: min for lengths, OR for InitialR2T, AND for
    /// ImmediateData). A value outside what we offered is a protocol violation.
    pub fn apply(&mut self, pairs: &[(String, String)], ours: &[(String, String)]) -> Result<(), IscsiError> {
        let offered = |k: &str| ours.iter().find(|(ok, _)| ok == k).map(|(_, v)| v.as_str());
        for (k, v) in pairs {
            if v == "Reject" || v == "Irrelevant" || v == "NotUnderstood" {
                continue;
            }
            match k.as_str() {
                "HeaderDigest" | "DataDigest" if v != "None" => {
                    return Err(IscsiError::Protocol(format!(
                        "target wants {k}={v}; srukit supports only None"
                    )));
                }
                // The target's declaration is the limit on every PDU we send: a value outside
                // 512..2^24-1 (13.12) cannot be honoured, so it is refused, never rounded up.
                "MaxRecvDataSegmentLength" => {
                    let n = num(k, v)?;
                    if !(512..=16_777_215).contains(&n) {
                        return Err(IscsiError::Protocol(format!(
                            "target declared MaxRecvDataSegmentLength={n}, outside 512..16777215"
                        )));
                    }
                    self.target_max_recv_data_segment_length = n;
                }
                "MaxBurstLength" => self.max_burst_length = min_with(offered(k), num(k, v)?),
                "FirstBurstLength" => self.first_burst_length = min_with(offered(k), num(k, v)?),
                "MaxOutstandingR2T" => self.max_outstanding_r2t = min_with(offered(k), num(k, v)?),
                "MaxConnections" => self.max_connections = min_with(offered(k), num(k, v)?),
                "ErrorRecoveryLevel" => {
                    let n = min_with(offered(k), num(k, v)?);
                    if n != 0 {
                        return Err(IscsiError::Protocol(format!(
                            "target negotiated ErrorRecoveryLevel={n}"
                        )));
                    }
                    self.error_recovery_level = n;
                }
                "InitialR2T" => self.initial_r2t = yes_no(k, v)? || offered(k) == Some("Yes"),
                "ImmediateData" => self.immediate_data = yes_no(k, v)? && offered(k) != Some("No"),
                "DataPDUInOrder" => self.data_pdu_in_order = yes_no(k, v)? || offered(k) == Some("Yes"),
                "DataSequenceInOrder" => {
                    self.data_sequence_in_order = yes_no(k, v)? || offered(k) == Some("Yes")
                }
                "TargetPortalGroupTag" => self.target_portal_group_tag = v.parse().ok(),
                "TargetAlias" => self.target_alias = Some(v.clone()),
                _ => {}
            }
        }
        if self.first_burst_length > self.max_burst_length {
            return Err(IscsiError::Protocol(format!(
                "FirstBurstLength {} exceeds MaxBurstLength {}",
                self.first_burst_length, self.max_burst_length
            )));
        }
        Ok(())
    }
}

/// A "min" key: the result is the smaller of both values (a target must not answer more
/// than we offered, but if it does we still use the smaller).
fn min_with(offered: Option<&str>, answered: u32) -> u32 {
    match offered.and_then(|o| o.parse::<u32>().ok()) {
        Some(o) => o.min(answered),
        None => answered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parse_and_encode_round_trip() {
        let p = pairs(&[("InitiatorName", "iqn.2024-01.x:y"), ("CHAP_C", "0xab=cd")]);
        let bytes = encode(&p);
        assert_eq!(bytes.iter().filter(|b| **b == 0).count(), 2);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0]);
        assert_eq!(parse(&padded).unwrap(), p, "value keeps its second '='; padding ignored");
        assert!(parse(b"novalue\0").is_err());
    }

    #[test]
    fn result_functions() {
        let ours = operational_offer();
        let mut n = Negotiated::default();
        let answer = pairs(&[
            ("HeaderDigest", "None"),
            ("MaxRecvDataSegmentLength", "8192"),
            ("MaxBurstLength", "4194304"),
            ("FirstBurstLength", "65536"),
            ("InitialR2T", "Yes"),
            ("ImmediateData", "Yes"),
            ("ErrorRecoveryLevel", "0"),
            ("TargetPortalGroupTag", "1"),
        ]);
        n.apply(&answer, &ours).unwrap();
        assert_eq!(n.target_max_recv_data_segment_length, 8192);
        assert_eq!(n.max_burst_length, 1_048_576, "min of offer and answer");
        assert_eq!(n.first_burst_length, 65536);
        assert!(n.initial_r2t, "OR: the target's Yes wins over our No");
        assert!(n.immediate_data);
        assert_eq!(n.target_portal_group_tag, Some(1));
    }

    #[test]
    fn digests_and_recovery_levels_we_cannot_do_are_refused() {
        let ours = operational_offer();
        assert!(Negotiated::default().apply(&pairs(&[("HeaderDigest", "CRC32C")]), &ours).is_err());
        let no_erl = pairs(&[("ErrorRecoveryLevel", "2")]);
        assert!(Negotiated::default().apply(&no_erl, &pairs(&[("ErrorRecoveryLevel", "2")])).is_err());
    }

    #[test]
    fn target_proposals_get_answers() {
        let ours = operational_offer();
        assert_eq!(answer_to_target_proposal("InitialR2T", "Yes", &ours), None, "reply to our offer");
        assert_eq!(answer_to_target_proposal("TargetAlias", "x", &ours), None);
        assert_eq!(answer_to_target_proposal("IFMarker", "Yes", &ours).as_deref(), Some("No"));
        assert_eq!(answer_to_target_proposal("X-vendor", "1", &ours).as_deref(), Some("NotUnderstood"));
    }
}
