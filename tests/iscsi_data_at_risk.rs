//! Check 4 against the real tgtd, alone in a cgroup v1 memory controller: 200 MiB written
//! through srukit's initiator sit in tgtd's page cache with `write-cache on` (tgt's
//! default), not with `write-cache off` nor with `bsoflags direct` (design.md section 3).
//! Every test also reads the data back (sha256) and sees the pages drain after logout.

mod iscsi_support;

use iscsi_support::{Tgtd, params};
use srukit::verify::checks::data_at_risk::{self, DataAtRiskEvidence, Params, Verdict};
use srukit::verify::iscsi::Session;

const MIB: u64 = 1 << 20;
/// What the LP#1336568 reporter wrote.
const WRITE_MIB: u64 = 200;

fn measure(lines: &[&str], name: &str) -> DataAtRiskEvidence {
    let t = Tgtd::start(true);
    let iqn = format!("iqn.2024-11.org.srukit.test:{name}");
    t.target(&iqn, (WRITE_MIB + 8) * MIB, lines);
    let session = Session::login(t.connect(), &params(&iqn)).unwrap();
    let mut p = Params::new(1);
    p.mib = WRITE_MIB;
    let ev = data_at_risk::measure(session, &p, data_at_risk::cgroup_v1_sampler(&t.memcg_dir())).unwrap();
    eprintln!("{name}: {}", serde_json::to_string(&ev).unwrap());
    assert!(ev.read_back_matches, "{name}: read-back sha256 differs: {ev:?}");
    assert_eq!(ev.sha256_written, ev.sha256_read);
    assert_eq!(ev.bytes_written, WRITE_MIB * MIB);
    assert!(ev.drained, "{name}: pages did not drain after SYNCHRONIZE CACHE + logout: {ev:?}");
    ev
}

#[test]
fn write_cache_on_puts_the_data_at_risk() {
    let ev = measure(&["write-cache on"], "cache-on");
    assert_eq!(ev.verdict, Verdict::AtRisk, "{ev:?}");
    assert!(ev.at_risk_kib >= WRITE_MIB * 1024 / 2, "{ev:?}");
}

#[test]
fn write_cache_off_is_safe() {
    let ev = measure(&["write-cache off"], "cache-off");
    assert_eq!(ev.verdict, Verdict::Safe, "{ev:?}");
    assert!(ev.at_risk_kib <= WRITE_MIB * 1024 / 100, "{ev:?}");
}

#[test]
fn bsoflags_direct_is_safe() {
    let ev = measure(&["bsoflags direct"], "direct");
    assert_eq!(ev.verdict, Verdict::Safe, "{ev:?}");
    assert!(ev.at_risk_kib <= WRITE_MIB * 1024 / 100, "{ev:?}");
}
