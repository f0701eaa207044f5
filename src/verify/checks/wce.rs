//! Check 2, WCE over iSCSI: log in to the target and read the caching mode page (0x08) with
//! MODE SENSE(6); its byte 2 is the write-cache state tgt really serves (0x14 WCE=1, 0x10
//! WCE=0, design.md section 2). Writes nothing; returns the page bytes as evidence.

use std::time::Instant;

use serde::Serialize;

use crate::verify::iscsi::{IscsiError, LoginParams, Session, Transport};

/// What the check saw, verbatim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WceEvidence {
    pub target: String,
    pub portal: String,
    pub lun: u16,
    pub vendor: String,
    pub product: String,
    /// The caching mode page as served, space-separated hex from the page code byte.
    pub page_hex: String,
    /// Byte 2 of the page, `0x14` or `0x10` on tgt.
    pub byte2: String,
    /// Write Cache Enable (byte 2, bit 0x04): true means write-back.
    pub wce: bool,
    pub seconds: f64,
}

/// Reads the caching page of `lun` on an open session.
pub fn check<S: Transport>(
    session: &mut Session<S>,
    portal: &str,
    lun: u16,
) -> Result<WceEvidence, IscsiError> {
    let started = Instant::now();
    let inq = session.inquiry(lun)?;
    let page = session.mode_sense_caching(lun)?;
    Ok(WceEvidence {
        target: session.target().to_string(),
        portal: portal.to_string(),
        lun,
        vendor: inq.vendor,
        product: inq.product,
        page_hex: page.hex(),
        byte2: format!("{:#04x}", page.raw[2]),
        wce: page.wce,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The whole probe on a connected stream: login, pick the LUN (the first disk when `lun`
/// is `None`), read the page, log out.
pub fn probe<S: Transport>(
    stream: S,
    params: &LoginParams,
    portal: &str,
    lun: Option<u16>,
) -> Result<WceEvidence, IscsiError> {
    let started = Instant::now();
    let mut session = Session::login(stream, params)?;
    let lun = match lun {
        Some(l) => l,
        None => session.first_disk_lun()?,
    };
    let mut ev = check(&mut session, portal, lun)?;
    session.logout()?;
    ev.seconds = started.elapsed().as_secs_f64();
    Ok(ev)
}

impl WceEvidence {
    /// One line a release engineer reads.
    pub fn summary(&self) -> String {
        format!(
            "WCE={} ({}) on {} LUN {} via {}: caching page byte 2 = {}",
            u8::from(self.wce),
            if self.wce {
                "write-back: the target host's page cache holds written data"
            } else {
                "write-through"
            },
            self.target,
            self.lun,
            self.portal,
            self.byte2
        )
    }
}
