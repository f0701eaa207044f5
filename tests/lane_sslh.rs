//! The service lane (issue 15, section 3): CVE-2025-52936 in sslh.service, through the real
//! binary in booted testbeds (systemd as pid 1), sslh from the archive pinned to exact
//! versions: 1.20-1+b2 (bookworm) reproduces, 1.20-1+deb12u1 (bookworm-security) is fixed
//! (`verification-done`, every check on the outcome the plan expects, the four runs at once:
//! each testbed's own network, so the two sides' sslh do not share a port); the old package
//! alone on the after side is `verification-failed`, the fixed one alone on the before side
//! `inconclusive`; swapped or the same on both sides is refused by the update rule (exit 2).
//! Root, the mirror and slirp4netns needed.

mod verify_common;

use std::path::PathBuf;
use std::process::Output;

use verify_common::{json_of, root, run, srukit};

const PLAN: &str = "testbeds/plans/cve-2025-52936-sslh.toml";
const OLD: &str = "apt:sslh=1.20-1+b2@bookworm";
const NEW: &str = "apt:sslh=1.20-1+deb12u1@bookworm-security";

fn verify(name: &str, args: &[&str]) -> (Output, PathBuf) {
    let out = verify_common::work("srukit-lane-sslh").join(name);
    let o =
        run(srukit().arg("--json").arg("verify").arg(root().join(PLAN)).args(args).arg("--out").arg(&out));
    (o, out)
}

/// check id -> matched outcome, for one run of result.json.
fn matched(out: &std::path::Path, side: &str, phase: &str) -> Vec<(String, String)> {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let run = verify_common::run_of(&doc, side, phase).clone();
    let mut got: Vec<(String, String)> = run["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["matched_outcome"].as_str().unwrap().to_string()))
        .collect();
    got.sort();
    got
}

fn row(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut r: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    r.sort();
    r
}

#[test]
fn before_reproduces_after_is_fixed() {
    let (o, out) = verify("done", &["--before", OLD, "--after", NEW]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(json_of(&o)["verdict"], "verification-done");
    // The link is followed (sslh's pid in /etc/victim) before; refused after (the unit fails).
    assert_eq!(
        matched(&out, "before", "pidfile-symlink"),
        row(&[
            ("unit", "running"),
            ("victim", "clobbered"),
            ("journal", "silent"),
            ("pidfile", "other"),
            ("listening", "up"),
            ("package", "installed"),
        ])
    );
    assert_eq!(
        matched(&out, "after", "pidfile-symlink"),
        row(&[
            ("unit", "stopped"),
            ("victim", "intact"),
            ("journal", "refused"),
            ("pidfile", "other"),
            ("listening", "down"),
            ("package", "installed"),
        ])
    );
    let plain = row(&[
        ("unit", "running"),
        ("victim", "intact"),
        ("journal", "silent"),
        ("pidfile", "main-pid"),
        ("listening", "up"),
        ("package", "installed"),
    ]);
    assert_eq!(matched(&out, "before", "plain"), plain);
    assert_eq!(matched(&out, "after", "plain"), plain);
}

#[test]
fn the_wrong_package_on_one_side_is_never_done() {
    let (o, _) = verify("old-after", &["--after", OLD, "--only", "after"]);
    assert_eq!(json_of(&o)["verdict"], "verification-failed");
    assert_eq!(o.status.code(), Some(1));
    let (o, _) = verify("new-before", &["--before", NEW, "--only", "before"]);
    assert_eq!(json_of(&o)["verdict"], "inconclusive");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn swapped_or_same_sides_are_not_an_update() {
    for (name, before, after) in [("swapped", NEW, OLD), ("same", NEW, NEW)] {
        let (o, _) = verify(name, &["--before", before, "--after", after]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("not an update"), "{name}");
    }
}
