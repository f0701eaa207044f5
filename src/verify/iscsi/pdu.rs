//! iSCSI PDUs on the wire (RFC 7143 section 11): the 48-byte Basic Header Segment, the
//! Additional Header Segments and the data segment padded to four bytes. No digests: srukit
//! always negotiates HeaderDigest=None and DataDigest=None.

use std::io::{Read, Write};

use super::IscsiError;

/// Largest data segment srukit accepts from a target. A target must stay within our declared
/// MaxRecvDataSegmentLength (well below this); the cap stops a corrupt length from making us
/// allocate gigabytes.
pub const MAX_DATA_SEGMENT: usize = 16 << 20;

/// Initiator opcodes (RFC 7143 11.1.1).
pub mod op {
    pub const NOP_OUT: u8 = 0x00;
    pub const SCSI_COMMAND: u8 = 0x01;
    pub const LOGIN_REQUEST: u8 = 0x03;
    pub const TEXT_REQUEST: u8 = 0x04;
    pub const DATA_OUT: u8 = 0x05;
    pub const LOGOUT_REQUEST: u8 = 0x06;
    // Target opcodes.
    pub const NOP_IN: u8 = 0x20;
    pub const SCSI_RESPONSE: u8 = 0x21;
    pub const TASK_RESPONSE: u8 = 0x22;
    pub const LOGIN_RESPONSE: u8 = 0x23;
    pub const TEXT_RESPONSE: u8 = 0x24;
    pub const DATA_IN: u8 = 0x25;
    pub const LOGOUT_RESPONSE: u8 = 0x26;
    pub const R2T: u8 = 0x31;
    pub const ASYNC: u8 = 0x32;
    pub const REJECT: u8 = 0x3f;

    pub fn name(op: u8) -> &'static str {
        match op {
            NOP_OUT => "NOP-Out",
            SCSI_COMMAND => "SCSI Command",
            LOGIN_REQUEST => "Login Request",
            TEXT_REQUEST => "Text Request",
            DATA_OUT => "SCSI Data-Out",
            LOGOUT_REQUEST => "Logout Request",
            NOP_IN => "NOP-In",
            SCSI_RESPONSE => "SCSI Response",
            TASK_RESPONSE => "Task Management Response",
            LOGIN_RESPONSE => "Login Response",
            TEXT_RESPONSE => "Text Response",
            DATA_IN => "SCSI Data-In",
            LOGOUT_RESPONSE => "Logout Response",
            R2T => "R2T",
            ASYNC => "Asynchronous Message",
            REJECT => "Reject",
            _ => "unknown PDU",
        }
    }
}

/// The "reserved" tag value: no task / no transfer (RFC 7143 11.2.1.8).
pub const RESERVED_TAG: u32 = 0xffff_ffff;

/// One PDU: header, additional header segments (raw) and data segment (unpadded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub bhs: [u8; 48],
    pub ahs: Vec<u8>,
    pub data: Vec<u8>,
}

impl Pdu {
    /// A fresh header with the opcode and the immediate bit set as asked.
    pub fn new(opcode: u8, immediate: bool) -> Pdu {
        let mut bhs = [0u8; 48];
        bhs[0] = (opcode & 0x3f) | if immediate { 0x40 } else { 0 };
        Pdu { bhs, ahs: Vec::new(), data: Vec::new() }
    }

    pub fn opcode(&self) -> u8 {
        self.bhs[0] & 0x3f
    }

    pub fn immediate(&self) -> bool {
        self.bhs[0] & 0x40 != 0
    }

    pub fn flags(&self) -> u8 {
        self.bhs[1]
    }

    pub fn set_flags(&mut self, f: u8) {
        self.bhs[1] = f;
    }

    /// The Final bit of byte 1 (RFC 7143 11.2.1.2); Login and Text PDUs call it "Transit"
    /// or "Final" too: bit 0x80 either way.
    pub fn is_final(&self) -> bool {
        self.bhs[1] & 0x80 != 0
    }

    pub fn u8_at(&self, i: usize) -> u8 {
        self.bhs[i]
    }

    pub fn set_u8(&mut self, i: usize, v: u8) {
        self.bhs[i] = v;
    }

    pub fn u16_at(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.bhs[i], self.bhs[i + 1]])
    }

    pub fn set_u16(&mut self, i: usize, v: u16) {
        self.bhs[i..i + 2].copy_from_slice(&v.to_be_bytes());
    }

    pub fn u32_at(&self, i: usize) -> u32 {
        u32::from_be_bytes(self.bhs[i..i + 4].try_into().expect("4 bytes"))
    }

    pub fn set_u32(&mut self, i: usize, v: u32) {
        self.bhs[i..i + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn lun_field(&self) -> [u8; 8] {
        self.bhs[8..16].try_into().expect("8 bytes")
    }

    pub fn set_lun_field(&mut self, lun: [u8; 8]) {
        self.bhs[8..16].copy_from_slice(&lun);
    }

    /// Initiator Task Tag, bytes 16..20 of every PDU.
    pub fn itt(&self) -> u32 {
        self.u32_at(16)
    }

    pub fn set_itt(&mut self, itt: u32) {
        self.set_u32(16, itt);
    }

    /// StatSN, ExpCmdSN, MaxCmdSN sit at 24, 28 and 32 in every target PDU that has them.
    pub fn stat_sn(&self) -> u32 {
        self.u32_at(24)
    }

    pub fn exp_cmd_sn(&self) -> u32 {
        self.u32_at(28)
    }

    pub fn max_cmd_sn(&self) -> u32 {
        self.u32_at(32)
    }

    pub fn name(&self) -> &'static str {
        op::name(self.opcode())
    }

    /// The PDU as bytes: BHS with lengths filled in, AHS, data padded to four bytes.
    pub fn encode(&self) -> Result<Vec<u8>, IscsiError> {
        if !self.ahs.len().is_multiple_of(4) || self.ahs.len() / 4 > 255 {
            return Err(IscsiError::Protocol(format!("AHS of {} bytes cannot be encoded", self.ahs.len())));
        }
        if self.data.len() >= 1 << 24 {
            return Err(IscsiError::Protocol(format!(
                "data segment of {} bytes is too long",
                self.data.len()
            )));
        }
        let mut bhs = self.bhs;
        bhs[4] = (self.ahs.len() / 4) as u8;
        let len = self.data.len() as u32;
        bhs[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
        let mut out = Vec::with_capacity(48 + self.ahs.len() + padded(self.data.len()));
        out.extend_from_slice(&bhs);
        out.extend_from_slice(&self.ahs);
        out.extend_from_slice(&self.data);
        out.resize(out.len() + padded(self.data.len()) - self.data.len(), 0);
        Ok(out)
    }

    /// Decodes one PDU from the front of `buf`; returns it and how many bytes it used.
    pub fn decode(buf: &[u8]) -> Result<(Pdu, usize), IscsiError> {
        if buf.len() < 48 {
            return Err(IscsiError::Protocol(format!(
                "PDU of {} bytes is shorter than its header",
                buf.len()
            )));
        }
        let bhs: [u8; 48] = buf[..48].try_into().expect("48 bytes");
        let (ahs_len, data_len) = lengths(&bhs)?;
        let total = 48 + ahs_len + padded(data_len);
        if buf.len() < total {
            return Err(IscsiError::Protocol(format!("PDU needs {total} bytes, got {}", buf.len())));
        }
        let ahs = buf[48..48 + ahs_len].to_vec();
        let data = buf[48 + ahs_len..48 + ahs_len + data_len].to_vec();
        Ok((Pdu { bhs, ahs, data }, total))
    }

    pub fn write_to(&self, w: &mut impl Write) -> Result<(), IscsiError> {
        let bytes = self.encode()?;
        w.write_all(&bytes).map_err(|e| IscsiError::io(format!("sending {}", self.name()), e))?;
        w.flush().map_err(|e| IscsiError::io(format!("sending {}", self.name()), e))
    }

    /// Reads exactly one PDU. A read timeout set on the stream surfaces as `IscsiError::Timeout`.
    pub fn read_from(r: &mut impl Read) -> Result<Pdu, IscsiError> {
        let mut bhs = [0u8; 48];
        r.read_exact(&mut bhs).map_err(|e| IscsiError::io("reading a PDU header".to_string(), e))?;
        let (ahs_len, data_len) = lengths(&bhs)?;
        let mut rest = vec![0u8; ahs_len + padded(data_len)];
        r.read_exact(&mut rest)
            .map_err(|e| IscsiError::io(format!("reading the body of a {}", op::name(bhs[0] & 0x3f)), e))?;
        rest.truncate(ahs_len + data_len);
        let data = rest.split_off(ahs_len);
        Ok(Pdu { bhs, ahs: rest, data })
    }
}

pub(super) fn lengths(bhs: &[u8; 48]) -> Result<(usize, usize), IscsiError> {
    let ahs_len = bhs[4] as usize * 4;
    let data_len = u32::from_be_bytes([0, bhs[5], bhs[6], bhs[7]]) as usize;
    if data_len > MAX_DATA_SEGMENT {
        return Err(IscsiError::Protocol(format!(
            "{} announces a data segment of {data_len} bytes (limit {MAX_DATA_SEGMENT})",
            op::name(bhs[0] & 0x3f)
        )));
    }
    Ok((ahs_len, data_len))
}

/// Data segments are padded to a multiple of four bytes (RFC 7143 11.2.3).
pub fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

/// The 8-byte LUN field for a LUN number (SAM-5 4.7: peripheral addressing below 256,
/// flat space addressing up to 16383), as tgt and the Linux initiator encode it.
pub fn encode_lun(lun: u16) -> [u8; 8] {
    let mut f = [0u8; 8];
    if lun < 256 {
        f[1] = lun as u8;
    } else {
        f[0] = 0x40 | ((lun >> 8) as u8 & 0x3f);
        f[1] = lun as u8;
    }
    f
}

/// The LUN number of an 8-byte LUN field (the inverse of `encode_lun` for the first level).
pub fn decode_lun(f: &[u8]) -> u16 {
    match f[0] >> 6 {
        1 => (u16::from(f[0] & 0x3f) << 8) | u16::from(f[1]),
        _ => u16::from(f[1]),
    }
}

/// Serial number arithmetic for CmdSN windows (RFC 1982 with SERIAL_BITS = 32, as RFC 7143
/// 4.2.2.1 requires): is `a` before `b`?
pub fn sn_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_ahs_and_padding() {
        let mut p = Pdu::new(op::SCSI_COMMAND, false);
        p.set_flags(0xa1);
        p.set_itt(0x01020304);
        p.ahs = vec![0, 4, 1, 0, 1, 2, 3, 4];
        p.data = b"hello".to_vec();
        let bytes = p.encode().unwrap();
        assert_eq!(bytes.len(), 48 + 8 + 8);
        assert_eq!(bytes[4], 2, "AHS length in words");
        assert_eq!(&bytes[5..8], &[0, 0, 5], "data length excludes padding");
        assert_eq!(&bytes[61..64], &[0, 0, 0], "padding is zero");
        let (q, used) = Pdu::decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(q.ahs, p.ahs);
        assert_eq!(q.data, p.data);
        assert_eq!(q.itt(), 0x01020304);
        assert_eq!(q.opcode(), op::SCSI_COMMAND);
        assert!(q.is_final());
        let mut cursor = std::io::Cursor::new(bytes);
        assert_eq!(Pdu::read_from(&mut cursor).unwrap().data, b"hello");
    }

    #[test]
    fn immediate_bit_and_opcode_are_separate() {
        let p = Pdu::new(op::LOGIN_REQUEST, true);
        assert_eq!(p.bhs[0], 0x43);
        assert!(p.immediate());
        assert_eq!(p.opcode(), op::LOGIN_REQUEST);
    }

    #[test]
    fn truncated_and_oversized_pdus_are_protocol_errors() {
        assert!(matches!(Pdu::decode(&[0u8; 20]), Err(IscsiError::Protocol(_))));
        let mut bhs = [0u8; 48];
        bhs[5] = 0xff;
        assert!(matches!(Pdu::decode(&bhs), Err(IscsiError::Protocol(_))));
        let mut short = Pdu::new(op::NOP_IN, false);
        short.data = vec![1; 10];
        let bytes = short.encode().unwrap();
        assert!(matches!(Pdu::decode(&bytes[..50]), Err(IscsiError::Protocol(_))));
    }

    #[test]
    fn lun_encoding() {
        assert_eq!(encode_lun(1), [0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(encode_lun(300), [0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
        for lun in [0u16, 1, 255, 256, 16383] {
            assert_eq!(decode_lun(&encode_lun(lun)), lun);
        }
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(sn_lt(1, 2));
        assert!(!sn_lt(2, 1));
        assert!(!sn_lt(5, 5));
        assert!(sn_lt(0xffff_fff0, 3), "3 comes after a wrap");
    }
}
