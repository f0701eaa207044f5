//! bench/verify's anchor for the initiator's speed-up: the same 200 MiB of the check's
//! pattern written by the initiator as it was before pipelining (srukit at the commit
//! bench/verify names, BEFORE_REV), one 1 MiB command at a time through the old
//! `Session::write`. bench/verify copies this file into that commit's tree as
//! `examples/iscsi_write_before.rs` and builds it there, so both initiators run in the same
//! run against the same tgtd. Uses only the API that commit had.
//!
//! Usage: iscsi_write_before NETNS IQN MIB

use std::path::Path;
use std::time::{Duration, Instant};

use srukit::verify::checks::data_at_risk::fill_pattern;
use srukit::verify::iscsi::{self, LoginParams, Session};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [netns, iqn, mib] = args.as_slice() else {
        return Err("usage: iscsi_write_before NETNS IQN MIB".into());
    };
    let mib: u64 = mib.parse()?;
    let stream = iscsi::connect_in_netns(Path::new(netns), "127.0.0.1:3260", Duration::from_secs(10))?;
    let mut s = Session::login(stream, &LoginParams::new(iqn))?;
    let lun = s.first_disk_lun()?;
    let bs = u64::from(s.read_capacity(lun)?.block_size);
    let per = srukit::verify::iscsi::session::MAX_IO_BYTES as u64;
    let bytes = mib << 20;
    let mut buf = vec![0u8; per as usize];
    let started = Instant::now();
    for off in (0..bytes).step_by(per as usize) {
        let n = per.min(bytes - off) as usize;
        fill_pattern(&mut buf[..n], off);
        s.write(lun, off / bs, &buf[..n])?;
    }
    let secs = started.elapsed().as_secs_f64();
    s.logout()?;
    println!("{{\"bytes\": {bytes}, \"write_seconds\": {secs}}}");
    Ok(())
}
