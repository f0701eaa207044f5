//! srukit's own iSCSI initiator against the real tgtd (package tgt), each test with its own
//! tgtd in its own network namespace: login with and without CHAP, SCSI commands, the
//! caching mode page, data written and read back, discovery, `srukit probe wce`, and one
//! cross-check against an independent initiator (libiscsi-bin).

mod iscsi_support;

use std::time::Duration;

use iscsi_support::{Tgtd, params};
use srukit::process::Cmd;
use srukit::verify::checks::wce;
use srukit::verify::iscsi::{self, IscsiError, Session};

const MIB: u64 = 1 << 20;

#[test]
fn login_without_chap_inquiry_capacity_luns_and_default_wce() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:plain";
    t.target(iqn, 64 * MIB, &[]);
    let mut s = Session::login(t.connect(), &params(iqn)).unwrap();
    assert_ne!(s.tsih(), 0, "the target assigned a session handle");
    assert!(s.negotiated().target_max_recv_data_segment_length >= 512);
    assert_eq!(s.report_luns().unwrap(), vec![0, 1], "tgt: controller LUN 0, disk LUN 1");
    assert_eq!(s.first_disk_lun().unwrap(), 1);
    let inq = s.inquiry(1).unwrap();
    assert_eq!((inq.vendor.as_str(), inq.product.as_str()), ("IET", "VIRTUAL-DISK"));
    s.test_unit_ready(1).unwrap();
    let cap = s.read_capacity(1).unwrap();
    assert_eq!((cap.bytes(), cap.block_size), (64 * MIB, 512), "capacity is the LUN file's size");
    assert_eq!(s.read_capacity16(1).unwrap(), cap);
    let page = s.mode_sense_caching(1).unwrap();
    assert!(page.wce, "tgt's default is write-back: {}", page.hex());
    assert_eq!(&page.raw[..3], &[0x08, 0x12, 0x14]);
    s.logout().unwrap();
}

#[test]
fn chap_login_and_wrong_secret_or_missing_chap_rejected() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:chap";
    t.target(iqn, 8 * MIB, &["incominguser alice s3cret-passw0rd"]);
    let mut s = Session::login(t.connect(), &params(iqn).with_chap("alice", "s3cret-passw0rd")).unwrap();
    assert_eq!(s.inquiry(1).unwrap().vendor, "IET", "a CHAP session runs commands");
    s.logout().unwrap();

    let wrong =
        Session::login(t.connect(), &params(iqn).with_chap("alice", "wrong-password1")).err().unwrap();
    assert!(matches!(&wrong, IscsiError::ChapFailed { user, .. } if user == "alice"), "{wrong}");
    let none = Session::login(t.connect(), &params(iqn)).err().unwrap();
    assert!(matches!(none, IscsiError::LoginRejected { class: 2, detail: 1, .. }), "{none}");
    assert!(none.to_string().contains("authentication"), "{none}");
}

#[test]
fn unknown_target_is_rejected_with_its_status() {
    let t = Tgtd::start(false);
    t.target("iqn.2024-11.org.srukit.test:present", 8 * MIB, &[]);
    let err = Session::login(t.connect(), &params("iqn.2024-11.org.srukit.test:absent")).err().unwrap();
    assert!(matches!(err, IscsiError::LoginRejected { class: 2, detail: 3, .. }), "{err}");
    assert!(err.to_string().contains("target not found"), "{err}");
}

#[test]
fn write_then_read_back_matches_and_lands_in_the_backing_file() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:rw";
    let lun_file = t.target(iqn, 16 * MIB, &[]);
    let mut s = Session::login(t.connect(), &params(iqn)).unwrap();
    // 3 MiB + 3 blocks from LBA 100: several commands, immediate data, R2T sequences and
    // a short last command.
    let len = 3 * MIB as usize + 3 * 512;
    let mut data = vec![0u8; len];
    srukit::verify::checks::data_at_risk::fill_pattern(&mut data, 0);
    s.write(1, 100, &data).unwrap();
    let back = s.read(1, 100, (len / 512) as u64).unwrap();
    assert!(back == data, "read back what was written");
    assert!(s.read(1, 0, 100).unwrap().iter().all(|b| *b == 0), "blocks before the write are untouched");
    s.synchronize_cache(1).unwrap();
    // The independent oracle: the bytes on the backing file itself.
    let file = srukit::fsx::read(&lun_file).unwrap();
    assert!(file[100 * 512..100 * 512 + len] == data[..], "the backing file holds the data");

    // A read past the end: CHECK CONDITION with readable sense, and the session survives.
    let err = s.read(1, 16 * MIB / 512, 1).unwrap_err();
    match &err {
        IscsiError::CheckCondition { command: "READ(10)", lun: 1, sense } => {
            assert_eq!((sense.key, sense.asc), (0x05, 0x21), "{err}");
        }
        other => panic!("expected a CHECK CONDITION, got {other}"),
    }
    assert!(err.to_string().contains("ILLEGAL REQUEST"), "{err}");
    assert!(err.to_string().contains("logical block address out of range"), "{err}");
    s.test_unit_ready(1).unwrap();
    s.logout().unwrap();
}

#[test]
fn write_cache_off_clears_wce_and_probe_reports_it() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:wce";
    t.target(iqn, 8 * MIB, &[]);
    let on = wce::probe(t.connect(), &params(iqn), "127.0.0.1:3260", None).unwrap();
    assert!(on.wce);
    assert_eq!(on.byte2, "0x14");
    assert_eq!(on.lun, 1);

    t.target(iqn, 8 * MIB, &["write-cache off"]);
    let netns = t.netns();
    let out = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["--json", "probe", "wce", "--portal", "127.0.0.1", "--target", iqn, "--netns"])
        .arg(&netns)
        .timeout(Duration::from_secs(30))
        .run()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["wce"], false, "{v}");
    assert_eq!(v["byte2"], "0x10", "{v}");
    assert_eq!(v["portal"], "127.0.0.1:3260");
    assert!(v["page_hex"].as_str().unwrap().starts_with("08 12 10 00"), "{v}");

    let text = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["probe", "wce", "--portal", "127.0.0.1:3260", "--target", iqn, "--lun", "1", "--netns"])
        .arg(&netns)
        .read()
        .unwrap();
    assert!(text.starts_with("WCE=0 (write-through)"), "{text}");
}

#[test]
fn probe_exit_codes() {
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:codes";
    t.target(iqn, 8 * MIB, &["incominguser bob another-secret1"]);
    let netns = t.netns();
    let run = |chap: &str| {
        Cmd::new(env!("CARGO_BIN_EXE_srukit"))
            .args(["probe", "wce", "--portal", "127.0.0.1", "--target", iqn, "--chap", chap, "--netns"])
            .arg(&netns)
            .timeout(Duration::from_secs(30))
            .output_unchecked()
            .unwrap()
    };
    let ok = run("bob:another-secret1");
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("WCE=1"));
    let bad = run("bob:not-the-secret");
    assert_eq!(bad.status.code(), Some(3), "a failed login could not run the check");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CHAP authentication as user \"bob\" failed"));
    assert_eq!(run("no-colon").status.code(), Some(2), "malformed --chap is bad input");
}

#[test]
fn discovery_lists_every_target() {
    let t = Tgtd::start(false);
    t.target("iqn.2024-11.org.srukit.test:one", 8 * MIB, &[]);
    t.target("iqn.2024-11.org.srukit.test:two", 8 * MIB, &[]);
    let mut found =
        iscsi::discover(t.connect(), "iqn.2024-11.org.srukit:test", None, Duration::from_secs(10)).unwrap();
    found.sort_by(|a, b| a.iqn.cmp(&b.iqn));
    let names: Vec<_> = found.iter().map(|d| d.iqn.as_str()).collect();
    assert_eq!(names, ["iqn.2024-11.org.srukit.test:one", "iqn.2024-11.org.srukit.test:two"]);
    assert!(found.iter().all(|d| d.portal.starts_with("127.0.0.1:3260,")), "{found:?}");
}

/// The independent oracle: libiscsi's iscsi-inq and iscsi-readcapacity16 on the same LUN
/// must agree with what srukit's initiator reads.
#[test]
fn agrees_with_libiscsi() {
    if srukit::process::which("iscsi-inq").is_none() {
        panic!("libiscsi-bin is missing: run scripts/setup.sh");
    }
    let t = Tgtd::start(false);
    let iqn = "iqn.2024-11.org.srukit.test:oracle";
    t.target(iqn, 40 * MIB, &[]);
    let mut s = Session::login(t.connect(), &params(iqn)).unwrap();
    let inq = s.inquiry(1).unwrap();
    let cap = s.read_capacity(1).unwrap();
    s.logout().unwrap();

    let url = format!("iscsi://127.0.0.1/{iqn}/1");
    let ns = format!("--net={}", t.netns().display());
    let oracle = |tool: &str| {
        Cmd::new("nsenter")
            .args([ns.as_str(), tool, "-i", "iqn.2024-11.org.srukit:oracle", &url])
            .timeout(Duration::from_secs(30))
            .read()
            .unwrap()
    };
    let their_inq = oracle("iscsi-inq");
    assert!(their_inq.contains(&format!("Vendor:{}", inq.vendor)), "{their_inq}");
    assert!(their_inq.contains(&format!("Product:{}", inq.product)), "{their_inq}");
    let their_cap = oracle("iscsi-readcapacity16");
    assert!(their_cap.contains(&format!("Total size:{}", cap.bytes())), "{their_cap}");
    assert!(their_cap.contains(&format!("LOGICAL BLOCK LENGTH IN BYTES:{}", cap.block_size)), "{their_cap}");
}
