//! The pipelined WRITE and READ of srukit's initiator against the real tgtd, under the
//! negotiation outcomes it relies on, each set on the target through tgt-admin (or tgtadm):
//! ImmediateData=No, InitialR2T=Yes and No with a FirstBurstLength, a small MaxBurstLength,
//! a small and a large MaxRecvDataSegmentLength, a CmdSN window of one command. Every case
//! checks what the target declared, the bytes read back over iSCSI and the bytes in the
//! backing file itself. And a WRITE the target fails is an error, never a silent success.

mod iscsi_support;

use std::time::Duration;

use iscsi_support::{Tgtd, params};
use srukit::process::Cmd;
use srukit::verify::checks::data_at_risk::fill_pattern;
use srukit::verify::iscsi::{IscsiError, Negotiated, Session};

const MIB: u64 = 1 << 20;

/// Several commands deep (more than the pipeline's depth), a short last command, from an
/// LBA that is not a command boundary.
const LEN: usize = 11 * MIB as usize + 5 * 512;
const LBA: u64 = 77;

/// Creates a target with `lines`, optionally narrows its CmdSN window (MaxQueueCmd, which
/// tgt-admin does not pass), writes LEN bytes through srukit and checks them both ways.
fn write_and_check(name: &str, lines: &[&str], max_queue_cmd: Option<u32>) -> Negotiated {
    let t = Tgtd::start(false);
    let iqn = format!("iqn.2024-11.org.srukit.test:{name}");
    let lun_file = t.target(&iqn, 16 * MIB, lines);
    if let Some(n) = max_queue_cmd {
        Cmd::new("tgtadm")
            .args(["-C", &t.port.to_string(), "--lld", "iscsi", "--mode", "target", "--op", "update"])
            .args(["--tid", "1", "--name", "MaxQueueCmd", "--value", &n.to_string()])
            .timeout(Duration::from_secs(30))
            .run()
            .expect("tgtadm sets MaxQueueCmd");
    }
    let mut s = Session::login(t.connect(), &params(&iqn)).unwrap();
    let negotiated = s.negotiated().clone();
    let mut data = vec![0u8; LEN];
    fill_pattern(&mut data, 0);
    s.write(1, LBA, &data).unwrap_or_else(|e| panic!("{name}: {e} ({negotiated:?})"));
    let back = s.read(1, LBA, (LEN / 512) as u64).unwrap();
    assert!(back == data, "{name}: read back what was written");
    assert!(s.read(1, 0, LBA).unwrap().iter().all(|b| *b == 0), "{name}: blocks before are untouched");
    let end = LBA as usize * 512 + LEN;
    let after = s.read(1, (end / 512) as u64, 16).unwrap();
    assert!(after.iter().all(|b| *b == 0), "{name}: blocks after are untouched");
    s.synchronize_cache(1).unwrap();
    s.logout().unwrap();
    let file = srukit::fsx::read(&lun_file).unwrap();
    assert!(file[LBA as usize * 512..end] == data[..], "{name}: the backing file holds the data");
    negotiated
}

#[test]
fn tgt_defaults_initial_r2t_yes_immediate_data_yes() {
    let n = write_and_check("defaults", &[], None);
    // tgt 1.0.85's defaults win where the result function says so (RFC 7143 13.10-13.14).
    assert!(n.initial_r2t, "InitialR2T is OR: tgt's Yes wins over our No");
    assert!(n.immediate_data);
    assert_eq!(n.target_max_recv_data_segment_length, 8192, "what tgt declares");
    assert_eq!(n.max_burst_length, 262_144);
    assert_eq!(n.first_burst_length, 65_536);
    assert_eq!(n.max_outstanding_r2t, 1);
}

#[test]
fn immediate_data_no() {
    let n = write_and_check("noimm", &["ImmediateData No"], None);
    assert!(!n.immediate_data, "ImmediateData is AND: the target's No wins");
}

#[test]
fn initial_r2t_no_sends_unsolicited_data_within_first_burst() {
    let n = write_and_check(
        "unsolicited",
        &["InitialR2T No", "FirstBurstLength 24576", "MaxRecvDataSegmentLength 4096"],
        None,
    );
    assert!(!n.initial_r2t);
    assert_eq!(n.first_burst_length, 24_576);
    assert_eq!(n.target_max_recv_data_segment_length, 4096);
}

#[test]
fn initial_r2t_no_without_immediate_data() {
    let n = write_and_check("unsol-noimm", &["InitialR2T No", "ImmediateData No"], None);
    assert!(!n.initial_r2t && !n.immediate_data);
}

#[test]
fn small_max_burst_length_many_r2ts_per_command() {
    let n = write_and_check("smallburst", &["MaxBurstLength 8192", "FirstBurstLength 4096"], None);
    assert_eq!(n.max_burst_length, 8192);
    assert_eq!(n.first_burst_length, 4096);
}

#[test]
fn small_and_large_segments() {
    let n = write_and_check("tiny", &["MaxRecvDataSegmentLength 512"], None);
    assert_eq!(n.target_max_recv_data_segment_length, 512, "the smallest a target may declare");
    let n = write_and_check(
        "large",
        &["MaxRecvDataSegmentLength 1048576", "MaxBurstLength 1048576", "FirstBurstLength 1048576"],
        None,
    );
    assert_eq!(n.target_max_recv_data_segment_length, 1_048_576);
    assert_eq!(n.max_burst_length, 1_048_576, "min of tgt's and our offer");
}

#[test]
fn a_cmdsn_window_of_one_command() {
    write_and_check("window", &[], Some(1));
}

/// A WRITE the target fails is an error naming the command and its sense; the commands
/// before it landed, and the session still works.
#[test]
fn a_write_the_target_fails_is_an_error() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:failwrite";
    let lun_file = t.target(iqn, 4 * MIB, &[]);
    let mut s = Session::login(t.connect(), &params(iqn)).unwrap();
    // 3 MiB from 2 MiB on a 4 MiB LUN: the second command's LBA range passes the end.
    let mut data = vec![0u8; 3 * MIB as usize];
    fill_pattern(&mut data, 0);
    let err = s.write(1, 2 * MIB / 512, &data).unwrap_err();
    match &err {
        IscsiError::CheckCondition { command: "WRITE(10)", lun: 1, sense } => {
            assert_eq!((sense.key, sense.asc), (0x05, 0x21), "{err}");
        }
        other => panic!("expected a CHECK CONDITION for the WRITE, got {other}"),
    }
    assert!(err.to_string().contains("logical block address out of range"), "{err}");
    s.test_unit_ready(1).unwrap();
    s.synchronize_cache(1).unwrap();
    s.logout().unwrap();
    let file = srukit::fsx::read(&lun_file).unwrap();
    assert!(file[2 * MIB as usize..] == data[..2 * MIB as usize], "the first command's bytes landed");

    // A read-only LUN refuses every WRITE (DATA PROTECT): the first failure is reported.
    let iqn = "iqn.2024-11.org.srukit.test:readonly";
    t.target(iqn, 4 * MIB, &["readonly 1"]);
    let mut s = Session::login(t.connect(), &params(iqn)).unwrap();
    let err = s.write(1, 0, &data[..2 * MIB as usize]).unwrap_err();
    assert!(
        matches!(&err, IscsiError::CheckCondition { command: "WRITE(10)", sense, .. } if sense.key == 0x07),
        "{err}"
    );
    s.logout().unwrap();
}
