//! bench/verify's initiator side: logs in to a tgt target from inside tgtd's network
//! namespace, writes N MiB with the data-at-risk check's pattern through srukit's initiator
//! (the same `Session::write_with` the check calls) and prints the write's seconds and
//! MiB/s as JSON. `serial` writes the same bytes one command at a time (each 1 MiB WRITE
//! waits for its status before the next goes: the initiator before pipelining), the
//! baseline of the bench's speed-up. `pattern FILE MIB` writes the bytes to FILE, for `dd`.
//!
//! Usage: iscsi_write write|serial NETNS IQN MIB | iscsi_write pattern FILE MIB

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use srukit::verify::checks::data_at_risk::fill_pattern;
use srukit::verify::iscsi::{self, LoginParams, Session};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["write", netns, iqn, mib] => write(Path::new(netns), iqn, mib.parse()?, false),
        ["serial", netns, iqn, mib] => write(Path::new(netns), iqn, mib.parse()?, true),
        ["pattern", file, mib] => pattern(Path::new(file), mib.parse()?),
        _ => Err("usage: iscsi_write write|serial NETNS IQN MIB | iscsi_write pattern FILE MIB".into()),
    }
}

fn write(netns: &Path, iqn: &str, mib: u64, serial: bool) -> Result<(), Box<dyn std::error::Error>> {
    let stream = iscsi::connect_in_netns(netns, "127.0.0.1:3260", Duration::from_secs(10))?;
    let mut s = Session::login(stream, &LoginParams::new(iqn))?;
    let lun = s.first_disk_lun()?;
    s.read_capacity(lun)?;
    let bytes = mib << 20;
    let started = Instant::now();
    if serial {
        let per = srukit::verify::iscsi::session::MAX_IO_BYTES as u64;
        let bs = u64::from(s.read_capacity(lun)?.block_size);
        let mut buf = vec![0u8; per as usize];
        for off in (0..bytes).step_by(per as usize) {
            let n = per.min(bytes - off) as usize;
            fill_pattern(&mut buf[..n], off);
            s.write(lun, off / bs, &buf[..n])?;
        }
    } else {
        s.write_with(lun, 0, bytes, |off, buf| fill_pattern(buf, off))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = s.negotiated().clone();
    s.logout()?;
    println!(
        "{}",
        serde_json::json!({
            "bytes": bytes,
            "write_seconds": secs,
            "write_mib_per_second": mib as f64 / secs,
            "negotiated": n,
        })
    );
    Ok(())
}

fn pattern(file: &Path, mib: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..mib {
        fill_pattern(&mut buf, i << 20);
        f.write_all(&buf)?;
    }
    f.flush()?;
    Ok(())
}
