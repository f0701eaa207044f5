//! CHAP with MD5 (RFC 1994 as used by RFC 7143 12.1.3): CHAP_R = MD5(CHAP_I || secret ||
//! CHAP_C), binary values written as `0x` hex (or `0b` base64, RFC 7143 6.1) in text keys.

use md5::{Digest, Md5};

use super::IscsiError;

/// CHAP_A=5 is MD5, the only algorithm RFC 7143 makes mandatory.
pub const ALGORITHM_MD5: &str = "5";

/// The response to a target's challenge.
pub fn response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Decodes a binary text value: `0x`/`0X` hex or `0b`/`0B` base64.
pub fn decode_binary(v: &str) -> Result<Vec<u8>, IscsiError> {
    let bad = || IscsiError::Protocol(format!("malformed binary value {v:?}"));
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        // An odd digit count is allowed: a leading zero is implied.
        let padded = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_string() };
        (0..padded.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(padded.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
            .collect()
    } else if let Some(b64) = v.strip_prefix("0b").or_else(|| v.strip_prefix("0B")) {
        base64_decode(b64).ok_or_else(bad)
    } else {
        Err(bad())
    }
}

pub fn encode_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for &c in s {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_is_md5_of_id_secret_challenge() {
        // md5(b"\x01" b"secret" b"\xaa\xbb") computed independently with Python's hashlib.
        let r = response(1, b"secret", &[0xaa, 0xbb]);
        assert_eq!(encode_hex(&r), "0x52b84dd1a7253536d2f969cd661a25de");
    }

    #[test]
    fn binary_values() {
        assert_eq!(decode_binary("0xA0ff").unwrap(), vec![0xa0, 0xff]);
        assert_eq!(decode_binary("0xfff").unwrap(), vec![0x0f, 0xff]);
        assert_eq!(decode_binary("0bAQID").unwrap(), vec![1, 2, 3]);
        assert!(decode_binary("12").is_err());
        assert!(decode_binary("0xzz").is_err());
    }
}
