//! Sample verification results for the report tests, one per verdict, with the values
//! measured for LP#1336568 (design.md sections 1-3): 204800 KiB dirty after 200 MiB written
//! with write-cache on, 4-16 KiB with it off; caching page byte 2 0x14 (WCE=1) or 0x10;
//! backing store fd flags 0100002 (0140002 would be O_DIRECT).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use srukit::verify::result::*;

pub const SERIES: &str = "trusty";
pub const OLD: &str = "1:2014.1.5-0ubuntu1";
pub const NEW: &str = "1:2014.1.5-0ubuntu2";
const IQN: &str = "iqn.2010-10.org.openstack:volume-5f0a0c2e-2f59-4a1e-9a43-1f3c3f8e0b11";
const WRITTEN: u64 = 200 * 1024 * 1024;

pub fn sha(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn package_set(version: &str, dir: &str) -> PackageSet {
    let upstream = version.split_once(':').map(|(_, v)| v).unwrap_or(version);
    let mut set = PackageSet::default();
    for name in ["cinder-volume", "python-cinder"] {
        let file = format!("{name}_{upstream}_all.deb");
        set.packages.push(PackageUnderTest::new(name, version, &file, sha(&file), format!("{dir}/{file}")));
        set.installed.push(InstalledPackage::new(name, version));
    }
    set
}

/// The target file check as the engine records it: the file's lines verbatim.
fn target_file(write_cache: Option<&str>, expected: &str, outcome: Outcome) -> CheckResult {
    let mut lines = vec![
        format!("<target {IQN}>"),
        "    backing-store /srv/srukit/luns/volume-5f0a0c2e.img".to_string(),
        "    driver iscsi".to_string(),
        "    incominguser Xq5xBzCZ7rPk 9mZ2sY4tQwL8vN3e".to_string(),
    ];
    if let Some(w) = write_cache {
        lines.push(format!("    {w}"));
    }
    lines.push("</target>".to_string());
    let observed = match write_cache {
        None => "no write-cache line".to_string(),
        Some(w) if w.starts_with("write-cache ") => w.to_string(),
        Some(w) => format!("misspelled keyword: `{w}`"),
    };
    CheckResult::new(
        "target-file",
        "tgt target file: write-cache line",
        expected,
        observed,
        outcome,
        json!({"file": "/var/lib/cinder/volumes/volume-5f0a0c2e-2f59-4a1e-9a43-1f3c3f8e0b11",
               "lines": lines, "write_cache": write_cache}),
        0.004,
    )
}

fn wce(byte2: u8, expected: &str, outcome: Outcome) -> CheckResult {
    let page = format!("08 12 {byte2:02x} 00 ff ff 00 00 ff ff ff ff 80 14 00 00 00 00 00 00");
    let w = (byte2 >> 2) & 1;
    CheckResult::new(
        "wce",
        "WCE in the caching mode page, over iSCSI",
        expected,
        format!("WCE={w} (byte 2 = 0x{byte2:02x})"),
        outcome,
        json!({"portal": "127.0.0.1:3260", "target": IQN, "auth": "CHAP-MD5",
               "mode_sense6_page_08_hex": page, "byte2": format!("0x{byte2:02x}"), "wce": w}),
        0.012,
    )
}

fn o_direct(outcome: Outcome) -> CheckResult {
    CheckResult::new(
        "o-direct",
        "O_DIRECT on tgtd's backing store",
        "no O_DIRECT",
        "no O_DIRECT (flags 0100002)",
        outcome,
        json!({"tgtd_pid": 12, "fd": 11, "path": "/srv/srukit/luns/volume-5f0a0c2e.img",
               "fdinfo_flags": "0100002", "o_direct": false}),
        0.001,
    )
}

fn data_at_risk(dirty_kib: u64, expected: &str, outcome: Outcome) -> CheckResult {
    let pct = dirty_kib as f64 * 1024.0 * 100.0 / WRITTEN as f64;
    let word = if pct >= 50.0 {
        "at risk"
    } else if pct <= 1.0 {
        "safe"
    } else {
        "between thresholds"
    };
    CheckResult::new(
        "data-at-risk",
        "Data at risk: tgtd's dirty page cache after 200 MiB written",
        expected,
        format!("{word}: {dirty_kib} KiB dirty of 204800 KiB written ({pct:.1} %)"),
        outcome,
        json!({"bytes_written": WRITTEN, "dirty_kib": dirty_kib, "writeback_kib": 0,
               "percent_of_written": (pct * 10.0).round() / 10.0,
               "memory_cgroup": "/sys/fs/cgroup/memory/srukit/tb-3f2a/tgtd",
               "write_seconds": 0.62, "read_back_sha256_matches": true, "dirty_kib_after_logout": 0}),
        1.9,
    )
}

struct Row {
    target: Option<&'static str>,
    target_outcome: Outcome,
    byte2: u8,
    wce_outcome: Outcome,
    dirty: u64,
    risk_outcome: Outcome,
}

/// The flagship's expectations, row by row: (side, phase) -> what must be seen.
fn expected(side: Side, phase: &str) -> (&'static str, &'static str, &'static str) {
    match (side, phase) {
        (Side::After, "off") => ("write-cache off", "WCE=0", "safe"),
        (Side::After, _) => ("write-cache on", "WCE=1", "at risk"),
        (Side::Before, _) => ("no write-cache line", "WCE=1", "at risk"),
    }
}

fn run(side: Side, phase: &str, row: Row) -> Run {
    let mut r = Run::new(side, phase, Testbed::new("bookworm-tgt", sha("bookworm-tgt.tar"), "unshare"));
    if phase == "off" {
        r.config_edits.push(ConfigEdit::new(
            "/etc/cinder/cinder.conf",
            "DEFAULT",
            "iscsi_write_cache",
            "off",
        ));
    }
    let (t, w, d) = expected(side, phase);
    r.checks.push(target_file(row.target, t, row.target_outcome));
    r.checks.push(wce(row.byte2, w, row.wce_outcome));
    r.checks.push(o_direct(Outcome::Pass));
    r.checks.push(data_at_risk(row.dirty, d, row.risk_outcome));
    r.seconds = 2.7;
    r
}

fn ok_row(side: Side, phase: &str) -> Row {
    let (target, byte2, dirty) = match (side, phase) {
        (Side::After, "off") => (Some("write-cache off"), 0x10, 8),
        (Side::After, _) => (Some("write-cache on"), 0x14, 204800),
        (Side::Before, _) => (None, 0x14, 204800),
    };
    Row {
        target,
        target_outcome: Outcome::Pass,
        byte2,
        wce_outcome: Outcome::Pass,
        dirty,
        risk_outcome: Outcome::Pass,
    }
}

fn base() -> VerifyResult {
    let mut plan = PlanInfo::new(
        "lp1336568-iscsi-write-cache",
        "patches/lp1336568-iscsi-write-cache/verify.toml",
        "cinder: tgtadm targets honour iscsi_write_cache",
    );
    plan.bugs.push(BugRef { tracker: Tracker::Launchpad, id: 1336568 });
    plan.series = Some(SERIES.to_string());
    plan.test_case = Some(
        "1. Create a volume with the default configuration and export it (tgtadm helper).\n\
         2. Set iscsi_write_cache = off in [DEFAULT] of /etc/cinder/cinder.conf, export a new volume."
            .to_string(),
    );
    let mut r = VerifyResult::new(plan, at("2026-11-25T10:00:00Z"));
    r.sides.before = Some(package_set(OLD, "/srv/srukit-out/lp1336568/build-before"));
    r.sides.after = Some(package_set(NEW, "/srv/srukit-out/lp1336568/build-after"));
    // The verification the SRU team counts: the after packages from the proposed pocket.
    r.sides.after.as_mut().unwrap().provenance = Some(Provenance::Proposed);
    r
}

/// The same result on a local build: a pre-upload check, which sets no tag.
pub fn local_build(mut r: VerifyResult) -> VerifyResult {
    for set in [&mut r.sides.before, &mut r.sides.after].into_iter().flatten() {
        set.provenance = Some(Provenance::LocalBuild);
    }
    r
}

fn with_runs(mut r: VerifyResult, mut row: impl FnMut(Side, &str) -> Row) -> VerifyResult {
    for side in [Side::Before, Side::After] {
        for phase in ["default", "off"] {
            r.runs.push(run(side, phase, row(side, phase)));
        }
    }
    r
}

pub fn done() -> VerifyResult {
    let mut r = with_runs(base(), ok_row);
    r.finish(
        Verdict::VerificationDone,
        "every expectation held: the bug reproduces before, and after the fix write-cache off gives WCE=0 and no data at risk",
        at("2026-11-25T10:00:11.400Z"),
    );
    r
}

/// The upstream slip: the template writes `write_cache off`, which tgt ignores.
pub fn failed() -> VerifyResult {
    let mut r = with_runs(base(), |side, phase| {
        if (side, phase) == (Side::After, "off") {
            Row {
                target: Some("write_cache off"),
                target_outcome: Outcome::Fail,
                byte2: 0x14,
                wce_outcome: Outcome::Fail,
                dirty: 204800,
                risk_outcome: Outcome::Fail,
            }
        } else {
            ok_row(side, phase)
        }
    });
    r.finish(
        Verdict::VerificationFailed,
        "after/off: the target file spells `write_cache off`, WCE stays 1 and 204800 KiB are at risk",
        at("2026-11-25T10:00:11.900Z"),
    );
    r
}

/// The dirty count fell between the thresholds: never a pass.
pub fn inconclusive() -> VerifyResult {
    let mut r = with_runs(base(), |side, phase| {
        let mut row = ok_row(side, phase);
        if (side, phase) == (Side::After, "off") {
            row.dirty = 40960;
            row.risk_outcome = Outcome::Inconclusive;
        }
        row
    });
    r.finish(
        Verdict::Inconclusive,
        "after/off: 40960 KiB dirty of 204800 KiB written is between the 1 % and 50 % thresholds",
        at("2026-11-25T10:00:12.000Z"),
    );
    r
}

/// tgtd never started in one testbed, and a login failed in another.
pub fn error() -> VerifyResult {
    let mut r = with_runs(base(), ok_row);
    let run = r.runs.iter_mut().find(|x| x.side == Side::After && x.phase == "off").unwrap();
    run.checks.clear();
    run.error = Some("tgtd exited with status 107 before listening on 127.0.0.1:3260".to_string());
    let run = r.runs.iter_mut().find(|x| x.side == Side::After && x.phase == "default").unwrap();
    let c = run.checks.iter_mut().find(|c| c.id == "wce").unwrap();
    c.outcome = Outcome::Error;
    c.observed = "login failed".to_string();
    c.evidence = json!({"portal": "127.0.0.1:3260", "target": IQN,
        "login_response": {"status_class": "0x02", "status_detail": "0x01"}});
    r.finish(
        Verdict::Error,
        "after/off: tgtd did not start; after/default: iSCSI login failed",
        at("2026-11-25T10:00:04Z"),
    );
    r
}

pub fn all() -> Vec<(&'static str, VerifyResult)> {
    vec![("done", done()), ("failed", failed()), ("inconclusive", inconclusive()), ("error", error())]
}

/// Writes `result` as `dir/result.json`, as `verify --out dir` does.
pub fn write_result(dir: &Path, result: &VerifyResult) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("result.json"), result.to_json_pretty()).unwrap();
    dir.to_path_buf()
}

pub fn srukit(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_srukit")).args(args).output().expect("srukit runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `srukit report DIR --format F [extra]`, asserting exit 0, returning stdout.
pub fn report(dir: &Path, format: &str, extra: &[&str]) -> String {
    let d = dir.to_str().unwrap();
    let mut args = vec!["report", d, "--format", format];
    args.extend_from_slice(extra);
    let o = srukit(&args);
    assert_eq!(o.status.code(), Some(0), "srukit {args:?}: {}", stderr(&o));
    stdout(&o)
}
