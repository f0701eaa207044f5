//! SCSI commands srukit sends (SPC-4/SBC-3 CDBs) and the answers it reads: INQUIRY, REPORT
//! LUNS, READ CAPACITY(10/16), MODE SENSE(6) caching page, READ/WRITE(10/16), SYNCHRONIZE
//! CACHE(10); status codes and sense data as a reader-friendly error.

use serde::Serialize;

use super::IscsiError;

/// A CDB and what it is called, for error messages.
#[derive(Debug, Clone)]
pub struct Cdb {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

pub fn inquiry(alloc: u16) -> Cdb {
    let a = alloc.to_be_bytes();
    Cdb { name: "INQUIRY", bytes: vec![0x12, 0, 0, a[0], a[1], 0] }
}

pub fn test_unit_ready() -> Cdb {
    Cdb { name: "TEST UNIT READY", bytes: vec![0; 6] }
}

pub fn report_luns(alloc: u32) -> Cdb {
    let mut b = vec![0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b[6..10].copy_from_slice(&alloc.to_be_bytes());
    Cdb { name: "REPORT LUNS", bytes: b }
}

pub fn read_capacity10() -> Cdb {
    Cdb { name: "READ CAPACITY(10)", bytes: vec![0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0] }
}

pub fn read_capacity16(alloc: u32) -> Cdb {
    // SERVICE ACTION IN(16), service action 0x10 (SBC-3 5.16).
    let mut b = vec![0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b[10..14].copy_from_slice(&alloc.to_be_bytes());
    Cdb { name: "READ CAPACITY(16)", bytes: b }
}

/// MODE SENSE(6) of one page, current values (PC=0), block descriptors disabled (DBD).
pub fn mode_sense6(page: u8, alloc: u8) -> Cdb {
    Cdb { name: "MODE SENSE(6)", bytes: vec![0x1a, 0x08, page & 0x3f, 0, alloc, 0] }
}

/// READ or WRITE, (10) when the LBA and length fit, (16) otherwise. Never FUA: the point
/// of the data-at-risk check is to see where a plain write lands.
pub fn rw(write: bool, lba: u64, blocks: u32) -> Cdb {
    if lba <= u64::from(u32::MAX) && blocks <= u32::from(u16::MAX) {
        let mut b = vec![if write { 0x2a } else { 0x28 }, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        b[2..6].copy_from_slice(&(lba as u32).to_be_bytes());
        b[7..9].copy_from_slice(&(blocks as u16).to_be_bytes());
        Cdb { name: if write { "WRITE(10)" } else { "READ(10)" }, bytes: b }
    } else {
        let mut b = vec![if write { 0x8a } else { 0x88 }, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        b[2..10].copy_from_slice(&lba.to_be_bytes());
        b[10..14].copy_from_slice(&blocks.to_be_bytes());
        Cdb { name: if write { "WRITE(16)" } else { "READ(16)" }, bytes: b }
    }
}

/// SYNCHRONIZE CACHE(10) of the whole medium (LBA 0, 0 blocks = to the end, SBC-3 5.22).
pub fn synchronize_cache10() -> Cdb {
    Cdb { name: "SYNCHRONIZE CACHE(10)", bytes: vec![0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0] }
}

/// Standard INQUIRY data (SPC-4 6.4.2), the fields a report shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inquiry {
    pub peripheral_type: u8,
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

impl Inquiry {
    pub fn parse(d: &[u8]) -> Result<Inquiry, IscsiError> {
        if d.len() < 36 {
            return Err(IscsiError::Protocol(format!("INQUIRY data of {} bytes, 36 needed", d.len())));
        }
        let text = |r: std::ops::Range<usize>| String::from_utf8_lossy(&d[r]).trim_end().to_string();
        Ok(Inquiry {
            peripheral_type: d[0] & 0x1f,
            vendor: text(8..16),
            product: text(16..32),
            revision: text(32..36),
        })
    }

    /// Peripheral device type 0: direct-access block device (a disk).
    pub fn is_disk(&self) -> bool {
        self.peripheral_type == 0
    }
}

/// REPORT LUNS parameter data (SPC-4 6.33): list length, then 8-byte LUNs.
pub fn parse_report_luns(d: &[u8]) -> Result<Vec<u16>, IscsiError> {
    if d.len() < 8 {
        return Err(IscsiError::Protocol(format!("REPORT LUNS data of {} bytes", d.len())));
    }
    let len = u32::from_be_bytes(d[0..4].try_into().expect("4 bytes")) as usize;
    let avail = (d.len() - 8).min(len);
    Ok(d[8..8 + avail].chunks_exact(8).map(super::pdu::decode_lun).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// Number of logical blocks (last LBA + 1).
    pub blocks: u64,
    pub block_size: u32,
}

impl Capacity {
    pub fn bytes(&self) -> u64 {
        self.blocks * u64::from(self.block_size)
    }

    pub fn parse10(d: &[u8]) -> Result<Capacity, IscsiError> {
        if d.len() < 8 {
            return Err(IscsiError::Protocol(format!("READ CAPACITY(10) data of {} bytes", d.len())));
        }
        let last = u32::from_be_bytes(d[0..4].try_into().expect("4 bytes"));
        let bs = u32::from_be_bytes(d[4..8].try_into().expect("4 bytes"));
        Ok(Capacity { blocks: u64::from(last) + 1, block_size: bs })
    }

    pub fn parse16(d: &[u8]) -> Result<Capacity, IscsiError> {
        if d.len() < 12 {
            return Err(IscsiError::Protocol(format!("READ CAPACITY(16) data of {} bytes", d.len())));
        }
        let last = u64::from_be_bytes(d[0..8].try_into().expect("8 bytes"));
        let bs = u32::from_be_bytes(d[8..12].try_into().expect("4 bytes"));
        Ok(Capacity { blocks: last + 1, block_size: bs })
    }
}

/// The caching mode page (SBC-3 6.5.5, page code 0x08) as the target served it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachingPage {
    /// The page bytes, from the page code byte on (2 + page length bytes).
    pub raw: Vec<u8>,
    /// Write Cache Enable: byte 2, bit 0x04. tgt answers 0x14 (WCE=1) or 0x10 (WCE=0).
    pub wce: bool,
    /// Read Cache Disable: byte 2, bit 0x01.
    pub rcd: bool,
}

impl CachingPage {
    /// Parses MODE SENSE(6) data: a 4-byte header, block descriptors (skipped even when the
    /// target ignores DBD), then pages; picks page 0x08.
    pub fn parse_mode_sense6(d: &[u8]) -> Result<CachingPage, IscsiError> {
        if d.len() < 4 {
            return Err(IscsiError::Protocol(format!("MODE SENSE(6) data of {} bytes", d.len())));
        }
        let end = (d[0] as usize + 1).min(d.len());
        let mut at = 4 + d[3] as usize;
        while at + 2 <= end {
            let code = d[at] & 0x3f;
            let spf = d[at] & 0x40 != 0;
            let (hdr, len) = if spf && at + 4 <= end {
                (4, u16::from_be_bytes([d[at + 2], d[at + 3]]) as usize)
            } else {
                (2, d[at + 1] as usize)
            };
            let page_end = (at + hdr + len).min(end);
            if code == 0x08 && !spf {
                let raw = d[at..page_end].to_vec();
                if raw.len() < 3 {
                    return Err(IscsiError::Protocol(format!("caching mode page of {} bytes", raw.len())));
                }
                return Ok(CachingPage { wce: raw[2] & 0x04 != 0, rcd: raw[2] & 0x01 != 0, raw });
            }
            at = page_end;
        }
        Err(IscsiError::Protocol(format!("MODE SENSE(6) answer has no caching page: {}", hex(d))))
    }

    pub fn hex(&self) -> String {
        hex(&self.raw)
    }
}

/// Bytes as space-separated lowercase hex pairs (`08 12 14 00`), the form evidence records.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// SCSI status byte names (SAM-5 5.3).
pub fn status_name(s: u8) -> &'static str {
    match s {
        0x00 => "GOOD",
        0x02 => "CHECK CONDITION",
        0x04 => "CONDITION MET",
        0x08 => "BUSY",
        0x18 => "RESERVATION CONFLICT",
        0x28 => "TASK SET FULL",
        0x30 => "ACA ACTIVE",
        0x40 => "TASK ABORTED",
        _ => "unknown status",
    }
}

/// Decoded sense data: key, additional sense code and qualifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
    pub raw: Vec<u8>,
}

pub const UNIT_ATTENTION: u8 = 0x6;

impl Sense {
    /// Fixed (0x70/0x71) or descriptor (0x72/0x73) format sense data (SPC-4 4.5).
    pub fn parse(d: &[u8]) -> Option<Sense> {
        let code = d.first()? & 0x7f;
        let raw = d.to_vec();
        match code {
            0x70 | 0x71 => Some(Sense {
                key: d.get(2)? & 0x0f,
                asc: d.get(12).copied().unwrap_or(0),
                ascq: d.get(13).copied().unwrap_or(0),
                raw,
            }),
            0x72 | 0x73 => Some(Sense { key: d.get(1)? & 0x0f, asc: *d.get(2)?, ascq: *d.get(3)?, raw }),
            _ => None,
        }
    }

    pub fn key_name(&self) -> &'static str {
        const KEYS: [&str; 16] = [
            "NO SENSE",
            "RECOVERED ERROR",
            "NOT READY",
            "MEDIUM ERROR",
            "HARDWARE ERROR",
            "ILLEGAL REQUEST",
            "UNIT ATTENTION",
            "DATA PROTECT",
            "BLANK CHECK",
            "VENDOR SPECIFIC",
            "COPY ABORTED",
            "ABORTED COMMAND",
            "RESERVED",
            "VOLUME OVERFLOW",
            "MISCOMPARE",
            "COMPLETED",
        ];
        KEYS[(self.key & 0x0f) as usize]
    }

    /// The meaning of the commonest ASC/ASCQ pairs (SPC-4 Annex D); others print as numbers.
    pub fn asc_meaning(&self) -> Option<&'static str> {
        Some(match (self.asc, self.ascq) {
            (0x04, _) => "logical unit not ready",
            (0x20, 0x00) => "invalid command operation code",
            (0x21, 0x00) => "logical block address out of range",
            (0x24, 0x00) => "invalid field in CDB",
            (0x25, 0x00) => "logical unit not supported",
            (0x26, 0x00) => "invalid field in parameter list",
            (0x27, _) => "write protected",
            (0x29, _) => "power on, reset, or bus device reset occurred",
            (0x2a, 0x01) => "mode parameters changed",
            (0x3a, _) => "medium not present",
            (0x3f, 0x0e) => "reported LUNs data has changed",
            _ => return None,
        })
    }
}

impl std::fmt::Display for Sense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sense key {} ({:#x}), ASC/ASCQ {:#04x}/{:#04x}",
            self.key_name(),
            self.key,
            self.asc,
            self.ascq
        )?;
        if let Some(m) = self.asc_meaning() {
            write!(f, " ({m})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_pick_10_or_16() {
        let c = rw(true, 8, 2048);
        assert_eq!(c.name, "WRITE(10)");
        assert_eq!(c.bytes, vec![0x2a, 0, 0, 0, 0, 8, 0, 0x08, 0, 0], "no FUA bit");
        let c = rw(false, 1 << 33, 1);
        assert_eq!(c.name, "READ(16)");
        assert_eq!(&c.bytes[2..10], &(1u64 << 33).to_be_bytes());
        assert_eq!(rw(true, 0, 70_000).name, "WRITE(16)", "more blocks than (10) can say");
    }

    #[test]
    fn caching_page_from_tgt_answers() {
        // tgt 1.0.85 MODE SENSE(6) DBD answers, as captured on the wire, WCE=1 and WCE=0.
        let on = [
            0x17, 0, 0, 0, 0x08, 0x12, 0x14, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x80, 0x14, 0, 0,
            0, 0, 0, 0,
        ];
        let p = CachingPage::parse_mode_sense6(&on).unwrap();
        assert!(p.wce);
        assert_eq!(p.raw.len(), 20);
        assert_eq!(p.hex().split(' ').take(3).collect::<Vec<_>>(), ["08", "12", "14"]);
        let mut off = on;
        off[6] = 0x10;
        assert!(!CachingPage::parse_mode_sense6(&off).unwrap().wce);
    }

    #[test]
    fn caching_page_after_block_descriptor_and_other_pages() {
        let mut d = vec![0, 0, 0, 8];
        d.extend_from_slice(&[0; 8]); // a block descriptor the target sent despite DBD
        d.extend_from_slice(&[0x0a, 0x02, 0, 0]); // control page first
        d.extend_from_slice(&[0x88, 0x03, 0x15, 0, 0]); // caching page, PS bit set
        d[0] = (d.len() - 1) as u8;
        let p = CachingPage::parse_mode_sense6(&d).unwrap();
        assert!(p.wce && p.rcd);
        assert_eq!(p.raw, vec![0x88, 0x03, 0x15, 0, 0]);
        assert!(CachingPage::parse_mode_sense6(&[3, 0, 0, 0]).is_err());
    }

    #[test]
    fn sense_formats() {
        let mut fixed = vec![0u8; 18];
        fixed[0] = 0x70;
        fixed[2] = 0x05;
        fixed[12] = 0x24;
        let s = Sense::parse(&fixed).unwrap();
        assert_eq!(
            s.to_string(),
            "sense key ILLEGAL REQUEST (0x5), ASC/ASCQ 0x24/0x00 (invalid field in CDB)"
        );
        let desc = Sense::parse(&[0x72, 0x06, 0x29, 0x01]).unwrap();
        assert_eq!((desc.key, desc.asc, desc.ascq), (UNIT_ATTENTION, 0x29, 0x01));
        assert!(Sense::parse(&[0x00]).is_none());
    }

    #[test]
    fn inquiry_report_luns_capacity() {
        let mut inq = vec![0u8; 36];
        inq[8..16].copy_from_slice(b"IET     ");
        inq[16..32].copy_from_slice(b"VIRTUAL-DISK    ");
        let i = Inquiry::parse(&inq).unwrap();
        assert_eq!((i.vendor.as_str(), i.product.as_str(), i.is_disk()), ("IET", "VIRTUAL-DISK", true));
        let luns = [0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(parse_report_luns(&luns).unwrap(), vec![0, 1]);
        let c = Capacity::parse10(&[0, 1, 0xff, 0xff, 0, 0, 2, 0]).unwrap();
        assert_eq!((c.blocks, c.block_size, c.bytes()), (131072, 512, 64 << 20));
    }
}
