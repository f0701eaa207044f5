//! A logged-in session in full feature phase: SCSI commands with CmdSN/ExpStatSN
//! bookkeeping (RFC 7143 4.2.2), Data-In, NOP-In answers, Text (SendTargets), Logout. Bulk
//! READ and WRITE (immediate, unsolicited and R2T-solicited data) run pipelined: `pipeline`.

mod pipeline;

use std::collections::HashMap;
use std::time::Duration;

use super::IscsiError;
use super::login::{self, LoggedIn, LoginParams};
use super::net::Transport;
use super::pdu::{self, Pdu, RESERVED_TAG, op, sn_lt};
use super::scsi::{self, CachingPage, Capacity, Cdb, Inquiry, Sense};
use super::text::{self, Negotiated};

/// Largest transfer one READ or WRITE command carries; longer ones are split, so a 200 MiB
/// write never asks tgtd for a 200 MiB buffer (tgt holds each command's data in memory).
pub const MAX_IO_BYTES: usize = 1 << 20;

pub use pipeline::DEPTH as PIPELINE_DEPTH;

/// How many times a command is re-sent after UNIT ATTENTION (a target reports power-on
/// or parameter changes once per I_T nexus; the command itself was not executed).
const UNIT_ATTENTION_RETRIES: usize = 3;

pub struct Session<S: Transport> {
    stream: S,
    timeout: Duration,
    target: String,
    tsih: u16,
    isid: [u8; 6],
    cmd_sn: u32,
    exp_stat_sn: u32,
    exp_cmd_sn: u32,
    max_cmd_sn: u32,
    next_itt: u32,
    params: Negotiated,
    block_sizes: HashMap<u16, u32>,
}

/// The data phase of one command (bulk writes go through `pipeline`).
#[derive(Clone, Copy)]
enum Transfer {
    None,
    In(usize),
}

impl<S: Transport> Session<S> {
    /// Logs in to a Normal session on a connected stream.
    pub fn login(mut stream: S, p: &LoginParams) -> Result<Session<S>, IscsiError> {
        let l = login::login(&mut stream, &p.initiator_iqn, Some(&p.target_iqn), p.chap.as_ref(), p.timeout)?;
        Ok(Session::from_login(stream, l, p.target_iqn.clone(), p.timeout))
    }

    pub(super) fn login_discovery(
        mut stream: S,
        initiator: &str,
        chap: Option<&(String, String)>,
        timeout: Duration,
    ) -> Result<Session<S>, IscsiError> {
        let l = login::login(&mut stream, initiator, None, chap, timeout)?;
        Ok(Session::from_login(stream, l, String::new(), timeout))
    }

    fn from_login(stream: S, l: LoggedIn, target: String, timeout: Duration) -> Session<S> {
        Session {
            stream,
            timeout,
            target,
            tsih: l.tsih,
            isid: l.isid,
            cmd_sn: l.cmd_sn,
            exp_stat_sn: l.exp_stat_sn,
            exp_cmd_sn: l.cmd_sn,
            max_cmd_sn: l.max_cmd_sn,
            next_itt: 1,
            params: l.params,
            block_sizes: HashMap::new(),
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// The session handle the target assigned (non-zero once logged in).
    pub fn tsih(&self) -> u16 {
        self.tsih
    }

    pub fn isid(&self) -> [u8; 6] {
        self.isid
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.params
    }

    // ---- SCSI commands -------------------------------------------------------------

    pub fn inquiry(&mut self, lun: u16) -> Result<Inquiry, IscsiError> {
        let d = self.command(lun, &scsi::inquiry(96), Transfer::In(96))?;
        Inquiry::parse(&d)
    }

    pub fn test_unit_ready(&mut self, lun: u16) -> Result<(), IscsiError> {
        self.command(lun, &scsi::test_unit_ready(), Transfer::None).map(|_| ())
    }

    /// The LUNs the target exposes (sent to LUN 0, as SPC-4 6.33 requires of every target).
    pub fn report_luns(&mut self) -> Result<Vec<u16>, IscsiError> {
        let d = self.command(0, &scsi::report_luns(4096), Transfer::In(4096))?;
        scsi::parse_report_luns(&d)
    }

    /// The first LUN that is a disk (tgt's LUN 0 is its controller).
    pub fn first_disk_lun(&mut self) -> Result<u16, IscsiError> {
        let luns = self.report_luns()?;
        for &lun in &luns {
            if self.inquiry(lun)?.is_disk() {
                return Ok(lun);
            }
        }
        Err(IscsiError::NoDiskLun { target: self.target.clone(), luns })
    }

    /// READ CAPACITY(10), and (16) when the disk is too large for (10) (SBC-3 5.15).
    pub fn read_capacity(&mut self, lun: u16) -> Result<Capacity, IscsiError> {
        let d = self.command(lun, &scsi::read_capacity10(), Transfer::In(8))?;
        let mut cap = Capacity::parse10(&d)?;
        if cap.blocks > u64::from(u32::MAX) {
            cap = self.read_capacity16(lun)?;
        }
        self.block_sizes.insert(lun, cap.block_size);
        Ok(cap)
    }

    pub fn read_capacity16(&mut self, lun: u16) -> Result<Capacity, IscsiError> {
        let d = self.command(lun, &scsi::read_capacity16(32), Transfer::In(32))?;
        let cap = Capacity::parse16(&d)?;
        self.block_sizes.insert(lun, cap.block_size);
        Ok(cap)
    }

    /// MODE SENSE(6) of the caching mode page (0x08), current values.
    pub fn mode_sense_caching(&mut self, lun: u16) -> Result<CachingPage, IscsiError> {
        let d = self.command(lun, &scsi::mode_sense6(0x08, 0xff), Transfer::In(0xff))?;
        CachingPage::parse_mode_sense6(&d)
    }

    fn block_size(&mut self, lun: u16) -> Result<u32, IscsiError> {
        match self.block_sizes.get(&lun) {
            Some(b) => Ok(*b),
            None => Ok(self.read_capacity(lun)?.block_size),
        }
    }

    /// Reads `blocks` logical blocks from `lba`.
    pub fn read(&mut self, lun: u16, lba: u64, blocks: u64) -> Result<Vec<u8>, IscsiError> {
        let bs = self.block_size(lun)? as usize;
        let mut out = Vec::with_capacity(blocks as usize * bs);
        self.read_each(lun, lba, blocks, |chunk| out.extend_from_slice(chunk))?;
        Ok(out)
    }

    /// Reads `blocks` from `lba`, several commands of at most `MAX_IO_BYTES` in flight,
    /// handing each command's data to `f` in order (a 200 MiB read-back need not sit in
    /// memory at once).
    pub fn read_each(
        &mut self,
        lun: u16,
        lba: u64,
        blocks: u64,
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), IscsiError> {
        let bs = u64::from(self.block_size(lun)?);
        self.read_with(lun, lba, blocks * bs, &mut f)
    }

    /// Writes `data` (a whole number of blocks) from `lba`, without FUA, pipelined.
    pub fn write(&mut self, lun: u16, lba: u64, data: &[u8]) -> Result<(), IscsiError> {
        self.write_with(lun, lba, data.len() as u64, |off, buf| {
            let off = off as usize;
            buf.copy_from_slice(&data[off..off + buf.len()]);
        })
    }

    pub fn synchronize_cache(&mut self, lun: u16) -> Result<(), IscsiError> {
        self.command(lun, &scsi::synchronize_cache10(), Transfer::None).map(|_| ())
    }

    /// Logs out (reason 0: close the session) and waits for the target's answer.
    pub fn logout(mut self) -> Result<(), IscsiError> {
        self.wait_for_window()?;
        let itt = self.take_itt();
        let mut req = Pdu::new(op::LOGOUT_REQUEST, false);
        req.set_flags(0x80);
        req.set_itt(itt);
        req.set_u16(20, 0); // CID
        req.set_u32(24, self.cmd_sn);
        req.set_u32(28, self.exp_stat_sn);
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        self.send(&req, &[])?;
        let resp = self.recv("waiting for the Logout Response")?;
        if resp.opcode() != op::LOGOUT_RESPONSE || resp.itt() != itt {
            return Err(unexpected(&resp, "a Logout Response"));
        }
        match resp.u8_at(2) {
            0 => Ok(()),
            r => Err(IscsiError::Logout { response: r }),
        }
    }

    /// SendTargets=All in a discovery session; follows continued answers (C bit).
    pub(super) fn send_targets(&mut self) -> Result<Vec<(String, String)>, IscsiError> {
        let mut data = text::encode(&[("SendTargets", "All")]);
        let mut ttt = RESERVED_TAG;
        let mut collected = Vec::new();
        loop {
            self.wait_for_window()?;
            let itt = self.take_itt();
            let mut req = Pdu::new(op::TEXT_REQUEST, false);
            req.set_flags(0x80);
            req.set_itt(itt);
            req.set_u32(20, ttt);
            req.set_u32(24, self.cmd_sn);
            req.set_u32(28, self.exp_stat_sn);
            self.cmd_sn = self.cmd_sn.wrapping_add(1);
            self.send(&req, &data)?;
            let resp = self.recv("waiting for the SendTargets answer")?;
            if resp.opcode() != op::TEXT_RESPONSE || resp.itt() != itt {
                return Err(unexpected(&resp, "a Text Response"));
            }
            collected.extend_from_slice(&resp.data);
            if resp.flags() & 0x40 == 0 {
                return text::parse(&collected);
            }
            ttt = resp.u32_at(20);
            data.clear();
        }
    }

    // ---- the command engine -------------------------------------------------------

    /// Runs one command, re-sending it after UNIT ATTENTION.
    fn command(&mut self, lun: u16, cdb: &Cdb, t: Transfer) -> Result<Vec<u8>, IscsiError> {
        let mut attempt = 0;
        loop {
            match self.command_once(lun, cdb, t) {
                Err(IscsiError::CheckCondition { sense, .. })
                    if sense.key == scsi::UNIT_ATTENTION && attempt < UNIT_ATTENTION_RETRIES =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn command_once(&mut self, lun: u16, cdb: &Cdb, t: Transfer) -> Result<Vec<u8>, IscsiError> {
        self.wait_for_window()?;
        let itt = self.take_itt();
        let expected = match t {
            Transfer::None => 0,
            Transfer::In(n) => n,
        };
        let mut cmd = Pdu::new(op::SCSI_COMMAND, false);
        // Task attribute SIMPLE, F (no Data-Out follows), R when data comes back.
        cmd.set_flags(0x81 | if matches!(t, Transfer::In(_)) { 0x40 } else { 0 });
        cmd.set_lun_field(pdu::encode_lun(lun));
        cmd.set_itt(itt);
        cmd.set_u32(20, expected as u32);
        cmd.set_u32(24, self.cmd_sn);
        cmd.set_u32(28, self.exp_stat_sn);
        if cdb.bytes.len() > 16 {
            return Err(IscsiError::Protocol(format!(
                "{} CDB of {} bytes needs an AHS",
                cdb.name,
                cdb.bytes.len()
            )));
        }
        cmd.bhs[32..32 + cdb.bytes.len()].copy_from_slice(&cdb.bytes);
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        self.send(&cmd, &[])?;

        let mut buf = vec![0u8; expected];
        let mut data_sn = 0u32;
        let during = format!("waiting for the answer to {} on LUN {lun}", cdb.name);
        loop {
            let p = self.recv(&during)?;
            if p.itt() != itt {
                return Err(unexpected(&p, &format!("a PDU for task {itt:#x}")));
            }
            match p.opcode() {
                op::DATA_IN => {
                    let sn = p.u32_at(36);
                    if sn != data_sn {
                        return Err(IscsiError::Protocol(format!("Data-In DataSN {sn}, expected {data_sn}")));
                    }
                    data_sn = data_sn.wrapping_add(1);
                    let off = p.u32_at(40) as usize;
                    let end = off + p.data.len();
                    if end > buf.len() {
                        return Err(IscsiError::Protocol(format!(
                            "Data-In for bytes {off}..{end} of a {}-byte transfer",
                            buf.len()
                        )));
                    }
                    buf[off..end].copy_from_slice(&p.data);
                    if p.flags() & 0x01 != 0 {
                        // Status rides in the last Data-In (S bit); it is never CHECK
                        // CONDITION, which needs a SCSI Response to carry sense (11.7.4).
                        let status = p.u8_at(3);
                        if status != 0 {
                            return Err(self.status_error(cdb, lun, status, None));
                        }
                        buf.truncate(residual_len(&p, expected).min(buf.len()));
                        return Ok(buf);
                    }
                }
                op::SCSI_RESPONSE => {
                    let response = p.u8_at(2);
                    if response != 0 {
                        return Err(IscsiError::TargetFailure { command: cdb.name, lun, response });
                    }
                    let status = p.u8_at(3);
                    if status != 0 {
                        let sense = sense_of(&p.data);
                        return Err(self.status_error(cdb, lun, status, sense));
                    }
                    buf.truncate(residual_len(&p, expected).min(buf.len()));
                    return Ok(buf);
                }
                _ => return Err(unexpected(&p, "Data-In or SCSI Response")),
            }
        }
    }

    fn status_error(&self, cdb: &Cdb, lun: u16, status: u8, sense: Option<Sense>) -> IscsiError {
        match (status, sense) {
            (0x02, Some(sense)) => IscsiError::CheckCondition { command: cdb.name, lun, sense },
            (s, _) => {
                IscsiError::ScsiStatus { command: cdb.name, lun, status: s, meaning: scsi::status_name(s) }
            }
        }
    }

    // ---- sequence numbers and the wire ---------------------------------------------

    fn take_itt(&mut self) -> u32 {
        let itt = self.next_itt;
        self.next_itt = self.next_itt.wrapping_add(1);
        if self.next_itt == RESERVED_TAG {
            self.next_itt = 1;
        }
        itt
    }

    /// A non-immediate command may go only while CmdSN <= MaxCmdSN (RFC 7143 4.2.2.1);
    /// when the window is shut, wait for a PDU that opens it (NOP-In usually).
    fn wait_for_window(&mut self) -> Result<(), IscsiError> {
        while sn_lt(self.max_cmd_sn, self.cmd_sn) {
            let p = self.recv("waiting for the target to open its command window")?;
            if p.opcode() != op::NOP_IN {
                return Err(unexpected(&p, "a PDU opening the command window"));
            }
        }
        Ok(())
    }

    fn send(&mut self, header: &Pdu, data: &[u8]) -> Result<(), IscsiError> {
        let mut p = header.clone();
        p.data = data.to_vec();
        p.write_to(&mut self.stream).map_err(|e| e.waited(self.timeout))
    }

    /// Reads the next PDU the caller cares about: applies its StatSN/ExpCmdSN/MaxCmdSN,
    /// answers NOP-In pings and skips them, turns Reject and fatal async events into errors.
    fn recv(&mut self, during: &str) -> Result<Pdu, IscsiError> {
        loop {
            let (mut p, ahs_len, data_len) = self.read_header(during)?;
            self.read_body(&mut p, ahs_len, data_len, during)?;
            if let Some(p) = self.screen(p)? {
                return Ok(p);
            }
        }
    }

    /// Reads one Basic Header Segment; the body (`ahs_len` + `data_len` bytes and padding)
    /// is still on the wire for `read_body` or `read_payload`.
    fn read_header(&mut self, during: &str) -> Result<(Pdu, usize, usize), IscsiError> {
        let mut bhs = [0u8; 48];
        self.stream.read_exact(&mut bhs).map_err(|e| self.read_error(during, e))?;
        let (ahs_len, data_len) = pdu::lengths(&bhs)?;
        Ok((Pdu { bhs, ahs: Vec::new(), data: Vec::new() }, ahs_len, data_len))
    }

    fn read_body(
        &mut self,
        p: &mut Pdu,
        ahs_len: usize,
        data_len: usize,
        during: &str,
    ) -> Result<(), IscsiError> {
        if ahs_len + data_len == 0 {
            return Ok(());
        }
        let mut rest = vec![0u8; ahs_len + pdu::padded(data_len)];
        self.stream.read_exact(&mut rest).map_err(|e| self.read_error(during, e))?;
        rest.truncate(ahs_len + data_len);
        p.data = rest.split_off(ahs_len);
        p.ahs = rest;
        Ok(())
    }

    /// Reads a data segment of `buf.len()` bytes into `buf`, then its padding.
    fn read_payload(&mut self, buf: &mut [u8]) -> Result<(), IscsiError> {
        let during = "reading SCSI Data-In";
        self.stream.read_exact(buf).map_err(|e| self.read_error(during, e))?;
        let mut pad = [0u8; 3];
        let n = pdu::padded(buf.len()) - buf.len();
        self.stream.read_exact(&mut pad[..n]).map_err(|e| self.read_error(during, e))
    }

    fn read_error(&self, during: &str, e: std::io::Error) -> IscsiError {
        match IscsiError::io(during.to_string(), e) {
            IscsiError::Timeout { during, .. } => IscsiError::Timeout { during, after: self.timeout },
            other => other,
        }
    }

    /// Applies a PDU's sequence numbers; `None` for what the session handled itself.
    fn screen(&mut self, p: Pdu) -> Result<Option<Pdu>, IscsiError> {
        self.update_sns(&p);
        match p.opcode() {
            op::NOP_IN => {
                if p.u32_at(20) != RESERVED_TAG {
                    self.answer_nop_in(&p)?;
                }
                if p.itt() == RESERVED_TAG {
                    return Ok(None);
                }
                Ok(Some(p))
            }
            op::ASYNC => match p.u8_at(36) {
                // 0: a SCSI asynchronous event; 1: the target asks for a logout, which
                // the caller's own logout will satisfy soon.
                0 | 1 => Ok(None),
                e => Err(IscsiError::Protocol(format!(
                    "target sent asynchronous event {e} (connection or session dropped)"
                ))),
            },
            op::REJECT => Err(rejected(&p)),
            _ => Ok(Some(p)),
        }
    }

    fn update_sns(&mut self, p: &Pdu) {
        let carries_stat_sn = match p.opcode() {
            op::SCSI_RESPONSE
            | op::LOGOUT_RESPONSE
            | op::TEXT_RESPONSE
            | op::ASYNC
            | op::REJECT
            | op::TASK_RESPONSE => true,
            op::DATA_IN => p.flags() & 0x01 != 0,
            // An unsolicited NOP-In does not advance StatSN (RFC 7143 11.19.2).
            op::NOP_IN => p.itt() != RESERVED_TAG,
            _ => false,
        };
        if carries_stat_sn {
            self.exp_stat_sn = p.stat_sn().wrapping_add(1);
        }
        if matches!(
            p.opcode(),
            op::SCSI_RESPONSE
                | op::DATA_IN
                | op::R2T
                | op::NOP_IN
                | op::ASYNC
                | op::REJECT
                | op::TEXT_RESPONSE
                | op::LOGOUT_RESPONSE
                | op::TASK_RESPONSE
        ) {
            let (exp, max) = (p.exp_cmd_sn(), p.max_cmd_sn());
            // A window with MaxCmdSN < ExpCmdSN - 1 is invalid and ignored (4.2.2.1).
            if !sn_lt(max, exp.wrapping_sub(1)) {
                if sn_lt(self.exp_cmd_sn, exp) {
                    self.exp_cmd_sn = exp;
                }
                if sn_lt(self.max_cmd_sn, max) {
                    self.max_cmd_sn = max;
                }
            }
        }
    }

    /// A NOP-In with a target transfer tag wants a NOP-Out echo (immediate, ITT reserved,
    /// the same TTT, LUN and ping data; RFC 7143 11.18).
    fn answer_nop_in(&mut self, ping: &Pdu) -> Result<(), IscsiError> {
        let mut r = Pdu::new(op::NOP_OUT, true);
        r.set_flags(0x80);
        r.set_lun_field(ping.lun_field());
        r.set_itt(RESERVED_TAG);
        r.set_u32(20, ping.u32_at(20));
        r.set_u32(24, self.cmd_sn);
        r.set_u32(28, self.exp_stat_sn);
        let data = ping.data.clone();
        self.send(&r, &data)
    }
}

/// The transfer length after the residual: underflow (U) shortens it, overflow (O) means
/// the target had more than we asked for (we keep what we asked).
fn residual_len(p: &Pdu, expected: usize) -> usize {
    let residual = p.u32_at(44) as usize;
    if p.flags() & 0x02 != 0 { expected.saturating_sub(residual) } else { expected }
}

/// The sense data in a SCSI Response data segment: SenseLength (2 bytes) then sense.
fn sense_of(data: &[u8]) -> Option<Sense> {
    if data.len() < 2 {
        return None;
    }
    let len = u16::from_be_bytes([data[0], data[1]]) as usize;
    Sense::parse(&data[2..(2 + len).min(data.len())])
}

fn unexpected(p: &Pdu, wanted: &str) -> IscsiError {
    IscsiError::Protocol(format!("expected {wanted}, got {} (ITT {:#x})", p.name(), p.itt()))
}

/// Reject reasons (RFC 7143 11.17.1).
pub(super) fn rejected(p: &Pdu) -> IscsiError {
    let reason = p.u8_at(2);
    let meaning = match reason {
        0x02 => "data (payload) digest error",
        0x03 => "SNACK reject",
        0x04 => "protocol error",
        0x05 => "command not supported",
        0x06 => "immediate command reject",
        0x07 => "task in progress",
        0x08 => "invalid data ack",
        0x09 => "invalid PDU field",
        0x0a => "long operation reject: out of resources",
        0x0c => "waiting for logout",
        _ => "reserved reason",
    };
    let pdu = if p.data.is_empty() { "(unknown)" } else { op::name(p.data[0] & 0x3f) };
    IscsiError::Rejected { pdu, reason, meaning }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sense_from_response_segment() {
        let mut d = vec![0, 18, 0x70, 0, 0x06];
        d.resize(2 + 18, 0);
        d[2 + 12] = 0x29;
        let s = sense_of(&d).unwrap();
        assert_eq!((s.key, s.asc), (scsi::UNIT_ATTENTION, 0x29));
        assert!(sense_of(&[0]).is_none());
    }

    #[test]
    fn residual_underflow_shortens() {
        let mut p = Pdu::new(op::SCSI_RESPONSE, false);
        p.set_flags(0x82);
        p.set_u32(44, 60);
        assert_eq!(residual_len(&p, 96), 36);
        p.set_flags(0x84);
        assert_eq!(residual_len(&p, 96), 96);
    }
}
