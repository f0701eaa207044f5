//! The allocation-free side of the wire for bulk transfers: PDU headers built on the stack,
//! many PDUs sent with one `writev`, and Data-In payloads read straight into the caller's
//! buffer. The general `Pdu` type (owned AHS and data) stays for everything else.

use std::io::{IoSlice, Write};

use super::IscsiError;
use super::pdu::{op, padded};

/// Zero bytes for padding a data segment to a multiple of four (RFC 7143 11.2.3).
static PAD: [u8; 3] = [0; 3];

/// How many PDUs one `writev` carries at most: two or three iovecs each stay far below
/// IOV_MAX (1024) and a 64-PDU batch is already several hundred KiB at the smallest
/// segment length tgt declares.
pub const PDUS_PER_WRITEV: usize = 64;

/// Sets the DataSegmentLength (bytes 5..8) and a zero TotalAHSLength of a header.
pub fn set_data_len(bhs: &mut [u8; 48], len: usize) {
    bhs[4] = 0;
    bhs[5..8].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// A Data-Out header (RFC 7143 11.7): F bit, LUN, ITT, TTT, ExpStatSN, DataSN, BufferOffset.
#[allow(clippy::too_many_arguments)]
pub fn data_out_header(
    last: bool,
    lun: [u8; 8],
    itt: u32,
    ttt: u32,
    exp_stat_sn: u32,
    data_sn: u32,
    offset: u32,
    len: usize,
) -> [u8; 48] {
    let mut h = [0u8; 48];
    h[0] = op::DATA_OUT;
    h[1] = if last { 0x80 } else { 0 };
    set_data_len(&mut h, len);
    h[8..16].copy_from_slice(&lun);
    h[16..20].copy_from_slice(&itt.to_be_bytes());
    h[20..24].copy_from_slice(&ttt.to_be_bytes());
    h[28..32].copy_from_slice(&exp_stat_sn.to_be_bytes());
    h[36..40].copy_from_slice(&data_sn.to_be_bytes());
    h[40..44].copy_from_slice(&offset.to_be_bytes());
    h
}

/// Writes every byte of `bufs`, as many `writev` calls as the socket needs.
pub fn write_all_vectored(w: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends bytes `from..to` of `data` (one command's whole buffer: offsets are relative to it) as
/// one sequence of Data-Out PDUs of at most `mrdsl` bytes each, DataSN from 0, F on the last
/// (RFC 7143 11.7.5/11.7.6), in batches of `PDUS_PER_WRITEV` per system call.
#[allow(clippy::too_many_arguments)]
pub fn send_data_out_sequence(
    w: &mut impl Write,
    lun: [u8; 8],
    itt: u32,
    ttt: u32,
    exp_stat_sn: u32,
    data: &[u8],
    from: usize,
    to: usize,
    mrdsl: usize,
) -> Result<(), IscsiError> {
    let mut headers = [[0u8; 48]; PDUS_PER_WRITEV];
    let mut off = from;
    let mut sn = 0u32;
    while off < to {
        // Headers first (they are borrowed by the iovecs below), then one writev.
        let mut n = 0;
        let mut ends = [0usize; PDUS_PER_WRITEV];
        let start = off;
        while off < to && n < PDUS_PER_WRITEV {
            let end = (off + mrdsl).min(to);
            headers[n] = data_out_header(end == to, lun, itt, ttt, exp_stat_sn, sn, off as u32, end - off);
            ends[n] = end;
            sn = sn.wrapping_add(1);
            off = end;
            n += 1;
        }
        let mut iov = [IoSlice::new(&[]); 3 * PDUS_PER_WRITEV];
        let mut k = 0;
        let mut at = start;
        for i in 0..n {
            iov[k] = IoSlice::new(&headers[i]);
            iov[k + 1] = IoSlice::new(&data[at..ends[i]]);
            k += 2;
            let pad = padded(ends[i] - at) - (ends[i] - at);
            if pad > 0 {
                iov[k] = IoSlice::new(&PAD[..pad]);
                k += 1;
            }
            at = ends[i];
        }
        write_all_vectored(w, &mut iov[..k])
            .map_err(|e| IscsiError::io("sending SCSI Data-Out".into(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::iscsi::pdu::Pdu;

    #[test]
    fn a_sequence_splits_at_the_segment_length_and_marks_the_last() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        let lun = crate::verify::iscsi::pdu::encode_lun(1);
        // 1000..9002 in segments of 3000: 3000, 3000, 2002 (the last padded to 2004).
        send_data_out_sequence(&mut out, lun, 7, 9, 5, &data, 1000, 9002, 3000).unwrap();
        let mut at = 0;
        let mut got = Vec::new();
        while at < out.len() {
            let (p, used) = Pdu::decode(&out[at..]).unwrap();
            got.push((p.flags(), p.u32_at(36), p.u32_at(40), p.data.len()));
            assert_eq!((p.opcode(), p.itt(), p.u32_at(20), p.u32_at(28)), (op::DATA_OUT, 7, 9, 5));
            let o = p.u32_at(40) as usize;
            assert_eq!(p.data, &data[o..o + p.data.len()], "payload at its buffer offset");
            at += used;
        }
        assert_eq!(got, [(0, 0, 1000, 3000), (0, 1, 4000, 3000), (0x80, 2, 7000, 2002)]);
    }

    #[test]
    fn more_pdus_than_one_writev_batch() {
        let data = vec![0xabu8; 512 * (PDUS_PER_WRITEV + 3)];
        let mut out = Vec::new();
        send_data_out_sequence(&mut out, [0; 8], 1, 2, 3, &data, 0, data.len(), 512).unwrap();
        assert_eq!(out.len(), (48 + 512) * (PDUS_PER_WRITEV + 3));
        let last = &out[out.len() - 560..];
        assert_eq!(last[1], 0x80, "F only on the last");
        assert_eq!(u32::from_be_bytes(last[36..40].try_into().unwrap()), PDUS_PER_WRITEV as u32 + 2);
    }
}
