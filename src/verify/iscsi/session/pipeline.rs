//! Pipelined bulk WRITE and READ on a logged-in session: up to `DEPTH` commands outstanding
//! at once (within the target's CmdSN window), each with its own buffer allocated once per
//! transfer. A WRITE carries immediate and unsolicited data as negotiated and answers every
//! R2T with one Data-Out sequence; a READ's Data-In lands straight in its buffer, and the
//! buffers reach the caller in LBA order. The target's R2Ts and responses wait in the
//! socket's receive buffer while we write, so one thread keeps the connection busy both
//! ways: what can queue there is bounded by `DEPTH` x (MaxOutstandingR2T + 1) small PDUs,
//! far below any socket buffer, so a blocking write never waits on a target that waits on us.

use super::{Session, residual_len, sense_of, unexpected};
use crate::verify::iscsi::IscsiError;
use crate::verify::iscsi::net::Transport;
use crate::verify::iscsi::pdu::{self, RESERVED_TAG, op, sn_lt};
use crate::verify::iscsi::scsi::{self, Cdb};
use crate::verify::iscsi::wire;

/// Commands in flight at once. tgt allows 128 (MaxQueueCmd) and runs 16 backing-store
/// threads; 8 x 1 MiB keeps both ends busy without asking tgtd for much memory.
pub const DEPTH: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Free,
    /// Holds a chunk (and, for a write, its data); not yet sent (or to be re-sent).
    Pending,
    Busy,
    /// A read whose data is complete, waiting for the chunks before it.
    Done,
}

struct Task {
    state: State,
    chunk: usize,
    itt: u32,
    len: usize,
    buf: Vec<u8>,
    attempts: usize,
    /// Reads: the next DataSN and buffer offset expected (DataPDUInOrder=Yes).
    data_sn: u32,
    got: usize,
    /// Writes: the next R2TSN expected.
    r2t_sn: u32,
}

/// What one bulk transfer is.
struct Plan {
    write: bool,
    lun: u16,
    lba: u64,
    block_size: usize,
    /// Bytes per command (a whole number of blocks) and the total.
    per: usize,
    total: usize,
}

impl Plan {
    fn chunks(&self) -> usize {
        self.total.div_ceil(self.per)
    }

    fn chunk_len(&self, i: usize) -> usize {
        self.per.min(self.total - i * self.per)
    }

    fn cdb(&self, i: usize, len: usize) -> Cdb {
        let bs = self.block_size;
        scsi::rw(self.write, self.lba + (i * self.per / bs) as u64, (len / bs) as u32)
    }
}

impl<S: Transport> Session<S> {
    /// Writes `total` bytes (whole blocks) from `lba`, `fill(offset, buf)` supplying the bytes
    /// at `offset` of the transfer as each command is prepared. Every command's status is
    /// checked: the first failure is returned once the commands already sent have ended.
    pub fn write_with(
        &mut self,
        lun: u16,
        lba: u64,
        total: u64,
        mut fill: impl FnMut(u64, &mut [u8]),
    ) -> Result<(), IscsiError> {
        let plan = self.plan(true, lun, lba, total)?;
        self.run(&plan, &mut fill, &mut |_| {})
    }

    /// Reads `total` bytes from `lba`, handing the data to `f` in order, a command's worth
    /// at a time.
    pub(in crate::verify::iscsi) fn read_with(
        &mut self,
        lun: u16,
        lba: u64,
        total: u64,
        f: &mut dyn FnMut(&[u8]),
    ) -> Result<(), IscsiError> {
        let plan = self.plan(false, lun, lba, total)?;
        self.run(&plan, &mut |_, _| {}, f)
    }

    fn plan(&mut self, write: bool, lun: u16, lba: u64, total: u64) -> Result<Plan, IscsiError> {
        let bs = self.block_size(lun)? as usize;
        if !total.is_multiple_of(bs as u64) {
            return Err(IscsiError::Protocol(format!(
                "transfer of {total} bytes is not a multiple of the {bs}-byte block"
            )));
        }
        let per = (super::MAX_IO_BYTES / bs).max(1) * bs;
        Ok(Plan { write, lun, lba, block_size: bs, per, total: total as usize })
    }

    fn run(
        &mut self,
        plan: &Plan,
        fill: &mut dyn FnMut(u64, &mut [u8]),
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Result<(), IscsiError> {
        let chunks = plan.chunks();
        let mut tasks: Vec<Task> = (0..DEPTH.min(chunks))
            .map(|_| Task {
                state: State::Free,
                chunk: 0,
                itt: 0,
                len: 0,
                buf: vec![0u8; plan.per],
                attempts: 0,
                data_sn: 0,
                got: 0,
                r2t_sn: 0,
            })
            .collect();
        let mut next_chunk = 0;
        let mut next_delivery = 0;
        let mut failed: Option<IscsiError> = None;
        loop {
            // Give free buffers the next chunks (a write fills them now).
            if failed.is_none() {
                for t in tasks.iter_mut().filter(|t| t.state == State::Free) {
                    if next_chunk == chunks {
                        break;
                    }
                    t.chunk = next_chunk;
                    t.len = plan.chunk_len(next_chunk);
                    t.attempts = 0;
                    if plan.write {
                        fill((next_chunk * plan.per) as u64, &mut t.buf[..t.len]);
                    }
                    t.state = State::Pending;
                    next_chunk += 1;
                }
            }
            // Send pending commands in chunk order while the CmdSN window is open (4.2.2.1).
            while failed.is_none() && !sn_lt(self.max_cmd_sn, self.cmd_sn) {
                let Some(t) = tasks.iter_mut().filter(|t| t.state == State::Pending).min_by_key(|t| t.chunk)
                else {
                    break;
                };
                self.issue(plan, t)?;
            }
            let busy = tasks.iter().filter(|t| t.state == State::Busy).count();
            if busy == 0 {
                if let Some(e) = failed {
                    return Err(e);
                }
                if tasks.iter().all(|t| t.state == State::Free) && next_chunk == chunks {
                    return Ok(());
                }
                if tasks.iter().any(|t| t.state == State::Pending) {
                    // Nothing in flight and the window is shut: only the target can open it.
                    self.wait_for_window()?;
                    continue;
                }
            } else if let Err(e) = self.receive(plan, &mut tasks) {
                match e {
                    // A command that ended badly: stop sending, let the others end.
                    Ended::Command(e) => {
                        failed.get_or_insert(e);
                    }
                    Ended::Session(e) => return Err(e),
                }
            }
            // Hand finished reads over in order.
            while let Some(t) = tasks.iter_mut().find(|t| t.state == State::Done && t.chunk == next_delivery)
            {
                deliver(&t.buf[..t.len]);
                t.state = State::Free;
                next_delivery += 1;
            }
        }
    }

    /// Sends one command: the SCSI Command PDU with its immediate data, then any
    /// unsolicited Data-Out (RFC 7143 13.13/13.14: both within FirstBurstLength, each PDU
    /// within the target's MaxRecvDataSegmentLength).
    fn issue(&mut self, plan: &Plan, t: &mut Task) -> Result<(), IscsiError> {
        let itt = self.take_itt();
        let mrdsl = self.params.target_max_recv_data_segment_length as usize;
        let first_burst = self.params.first_burst_length as usize;
        let (immediate, unsolicited_end) = if plan.write {
            let imm = if self.params.immediate_data { t.len.min(first_burst).min(mrdsl) } else { 0 };
            (imm, if self.params.initial_r2t { imm } else { t.len.min(first_burst) })
        } else {
            (0, 0)
        };
        let cdb = plan.cdb(t.chunk, t.len);
        let mut h = [0u8; 48];
        h[0] = op::SCSI_COMMAND;
        // SIMPLE task attribute; F when no unsolicited Data-Out follows; R or W.
        h[1] =
            0x01 | if unsolicited_end == immediate { 0x80 } else { 0 } | if plan.write { 0x20 } else { 0x40 };
        wire::set_data_len(&mut h, immediate);
        h[8..16].copy_from_slice(&pdu::encode_lun(plan.lun));
        h[16..20].copy_from_slice(&itt.to_be_bytes());
        h[20..24].copy_from_slice(&(t.len as u32).to_be_bytes());
        h[24..28].copy_from_slice(&self.cmd_sn.to_be_bytes());
        h[28..32].copy_from_slice(&self.exp_stat_sn.to_be_bytes());
        h[32..32 + cdb.bytes.len()].copy_from_slice(&cdb.bytes);
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        let pad = [0u8; 3];
        let pad_len = pdu::padded(immediate) - immediate;
        let mut iov = [
            std::io::IoSlice::new(&h),
            std::io::IoSlice::new(&t.buf[..immediate]),
            std::io::IoSlice::new(&pad[..pad_len]),
        ];
        wire::write_all_vectored(&mut self.stream, &mut iov)
            .map_err(|e| IscsiError::io(format!("sending {}", cdb.name), e).waited(self.timeout))?;
        if unsolicited_end > immediate {
            let lun = pdu::encode_lun(plan.lun);
            wire::send_data_out_sequence(
                &mut self.stream,
                lun,
                itt,
                RESERVED_TAG,
                self.exp_stat_sn,
                &t.buf[..t.len],
                immediate,
                unsolicited_end,
                mrdsl,
            )
            .map_err(|e| e.waited(self.timeout))?;
        }
        t.itt = itt;
        t.state = State::Busy;
        t.data_sn = 0;
        t.got = 0;
        t.r2t_sn = 0;
        Ok(())
    }

    /// Reads and handles one PDU for the transfer's commands.
    fn receive(&mut self, plan: &Plan, tasks: &mut [Task]) -> Result<(), Ended> {
        let during =
            if plan.write { "waiting for R2T or status of a WRITE" } else { "waiting for READ data" };
        let (mut p, ahs_len, data_len) = self.read_header(during)?;
        let find = |tasks: &mut [Task], itt: u32| -> Option<usize> {
            tasks.iter().position(|t| t.state == State::Busy && t.itt == itt)
        };
        if p.opcode() == op::DATA_IN && ahs_len == 0 {
            let Some(i) = find(tasks, p.itt()) else {
                return Err(Ended::Session(unexpected(&p, "Data-In for a READ in flight")));
            };
            let t = &mut tasks[i];
            let (sn, off) = (p.u32_at(36), p.u32_at(40) as usize);
            if plan.write || sn != t.data_sn || off != t.got || off + data_len > t.len {
                return Err(Ended::Session(IscsiError::Protocol(format!(
                    "Data-In DataSN {sn} for bytes {off}..{} of a {}-byte {}; expected DataSN {} at {}",
                    off + data_len,
                    t.len,
                    if plan.write { "WRITE" } else { "READ" },
                    t.data_sn,
                    t.got
                ))));
            }
            self.read_payload(&mut t.buf[off..off + data_len])?;
            t.data_sn = t.data_sn.wrapping_add(1);
            t.got += data_len;
            self.update_sns(&p);
            if p.flags() & 0x01 != 0 {
                // Status in the last Data-In (S bit): never CHECK CONDITION (11.7.4).
                let cdb = plan.cdb(t.chunk, t.len);
                let status = p.u8_at(3);
                if status != 0 {
                    t.state = State::Free;
                    return Err(Ended::Command(self.status_error(&cdb, plan.lun, status, None)));
                }
                return self.read_complete(plan, t, residual_len(&p, t.len));
            }
            return Ok(());
        }
        self.read_body(&mut p, ahs_len, data_len, during)?;
        let Some(p) = self.screen(p)? else { return Ok(()) };
        let Some(i) = find(tasks, p.itt()) else {
            return Err(Ended::Session(unexpected(&p, "a PDU for a command in flight")));
        };
        let t = &mut tasks[i];
        let cdb = plan.cdb(t.chunk, t.len);
        match p.opcode() {
            op::R2T if plan.write => {
                let (ttt, r2t_sn) = (p.u32_at(20), p.u32_at(36));
                let (off, len) = (p.u32_at(40) as usize, p.u32_at(44) as usize);
                if off + len > t.len
                    || len > self.params.max_burst_length as usize
                    || len == 0
                    || r2t_sn != t.r2t_sn
                {
                    return Err(Ended::Session(IscsiError::Protocol(format!(
                        "R2T {r2t_sn} (expected {}) for bytes {off}..{} of a {}-byte write (MaxBurstLength {})",
                        t.r2t_sn,
                        off + len,
                        t.len,
                        self.params.max_burst_length
                    ))));
                }
                t.r2t_sn = t.r2t_sn.wrapping_add(1);
                let mrdsl = self.params.target_max_recv_data_segment_length as usize;
                wire::send_data_out_sequence(
                    &mut self.stream,
                    pdu::encode_lun(plan.lun),
                    t.itt,
                    ttt,
                    self.exp_stat_sn,
                    &t.buf[..t.len],
                    off,
                    off + len,
                    mrdsl,
                )
                .map_err(|e| Ended::Session(e.waited(self.timeout)))
            }
            op::SCSI_RESPONSE => {
                let response = p.u8_at(2);
                if response != 0 {
                    t.state = State::Free;
                    return Err(Ended::Command(IscsiError::TargetFailure {
                        command: cdb.name,
                        lun: plan.lun,
                        response,
                    }));
                }
                let status = p.u8_at(3);
                if status != 0 {
                    let sense = sense_of(&p.data);
                    let unit_attention = sense.as_ref().is_some_and(|s| s.key == scsi::UNIT_ATTENTION);
                    if status == 0x02 && unit_attention && t.attempts < super::UNIT_ATTENTION_RETRIES {
                        // Not executed: send the same command again (its buffer still holds it).
                        t.attempts += 1;
                        t.state = State::Pending;
                        return Ok(());
                    }
                    t.state = State::Free;
                    return Err(Ended::Command(self.status_error(&cdb, plan.lun, status, sense)));
                }
                if plan.write {
                    // A residual on a WRITE means the target did not take every byte.
                    if p.flags() & 0x06 != 0 {
                        t.state = State::Free;
                        return Err(Ended::Command(IscsiError::Protocol(format!(
                            "{} of {} bytes ended with residual {} ({})",
                            cdb.name,
                            t.len,
                            p.u32_at(44),
                            if p.flags() & 0x02 != 0 { "underflow" } else { "overflow" }
                        ))));
                    }
                    t.state = State::Free;
                    return Ok(());
                }
                self.read_complete(plan, t, residual_len(&p, t.len))
            }
            _ => Err(Ended::Session(unexpected(&p, "R2T, Data-In or SCSI Response"))),
        }
    }

    /// A READ ended GOOD: it must have brought every byte it asked for.
    fn read_complete(&self, plan: &Plan, t: &mut Task, len: usize) -> Result<(), Ended> {
        if len != t.len || t.got != t.len {
            t.state = State::Free;
            return Err(Ended::Command(IscsiError::Protocol(format!(
                "{} returned {} bytes, {} asked",
                plan.cdb(t.chunk, t.len).name,
                t.got.min(len),
                t.len
            ))));
        }
        t.state = State::Done;
        Ok(())
    }
}

/// How a PDU ended a transfer: one command failed (the session goes on), or the session
/// itself is unusable.
enum Ended {
    Command(IscsiError),
    Session(IscsiError),
}

impl From<IscsiError> for Ended {
    fn from(e: IscsiError) -> Ended {
        Ended::Session(e)
    }
}
