//! The two-release lane (issue 17): libgd2's CVE-2026-9672 (the GIF reader decodes codes
//! after the LZW end code), fixed in both Debian 12 and Debian 13 by security updates, verified
//! from the archive on both by one backport folder (patches/cve-2026-9672-libgd2, two
//! `[[target]]`s) and one plan: `srukit run --archive --jobs 2` ends `verification-done` on
//! bookworm and on trixie, with a tag and a Launchpad section per series, each naming the
//! exact archive versions it ran. The versions are pinned: when the archive moves on (a new
//! security update), the test fails saying so instead of testing something else. The hostile
//! case: the same plan with the sides swapped is not verification-done (refused as a
//! downgrade, exit 2, before any testbed starts). Root and the mirror
//! needed.

mod verify_common;

use std::path::{Path, PathBuf};

use verify_common::{assert_valid_result, json_of, root, run, srukit, text};

const BACKPORT: &str = "patches/cve-2026-9672-libgd2";
const PLAN: &str = "testbeds/plans/cve-2026-9672-libgd2.toml";

/// (series, the point release's version, the security update's version).
const PINNED: [(&str, &str, &str); 2] =
    [("bookworm", "2.3.3-9", "2.3.3-9+deb12u1"), ("trixie", "2.3.3-14~deb13u1", "2.3.3-14~deb13u3")];

fn work() -> &'static Path {
    verify_common::work("srukit-lane-two")
}

fn json_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn both_releases_verified_from_the_archive() {
    let out: PathBuf = work().join("run");
    let o = run(srukit()
        .current_dir(root())
        .arg("--json")
        .arg("run")
        .arg(BACKPORT)
        .args(["--archive", "--jobs", "2", "--out"])
        .arg(&out));
    let summary = json_of(&o);
    let doc = json_file(&out.join("result.json"));
    assert_eq!(doc["schema"], "srukit-run-result", "{doc:#}");
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{doc:#}");
    for ((series, before, after), t) in PINNED.iter().zip(targets) {
        assert_eq!(t["series"], *series, "{t:#}");
        // The archive moved on: a newer update in the pocket (or a new point release) is another
        // test; say so rather than verify it silently.
        assert_eq!(
            (t["version_before"].as_str(), t["version_after"].as_str()),
            (Some(*before), Some(*after)),
            "{series}: the archive no longer has the pinned pair {before} -> {after}; \
             re-measure the lane (testbeds/plans/transcripts/libgd2-cve-2026-9672.txt) and update it: {t:#}"
        );
        assert_eq!(t["verdict"], "verification-done", "{t:#}");
        assert_eq!(t["tag"], format!("verification-done-{series}"), "{t:#}");
        assert_eq!(t["provenance"], "security", "{t:#}");
        assert!(t["error"].is_null(), "{t:#}");
        // The target's own verification names what it installed, library included.
        let result = out.join(t["result"].as_str().unwrap());
        assert_valid_result(result.parent().unwrap());
        let r = std::fs::read_to_string(&result).unwrap();
        for v in [before, after] {
            assert!(r.contains(&format!("\"{v}\"")), "{series}: {v} not in {}", result.display());
        }
    }
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(summary["targets"].as_array().map(Vec::len), Some(2), "{summary:#}");

    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    for (series, before, after) in PINNED {
        assert!(lp.contains(&format!("=== debian {series} ===")), "{lp}");
        assert!(lp.contains(&format!("{series}: verification-done ({before} -> {after})")), "{lp}");
        assert!(lp.contains(&format!("libgd3 {before} -> {after}")), "{lp}");
    }
    assert!(lp.contains("Overall: verification-done"), "{lp}");
}

#[test]
fn swapped_sides_are_not_verification_done() {
    let (series, before, after) = PINNED[0];
    let out = work().join("swapped");
    let o = run(srukit()
        .current_dir(root())
        .arg("--json")
        .arg("verify")
        .arg(PLAN)
        .arg("--before")
        .arg(format!("apt:libgd-tools={after}@{series}-security"))
        .arg("--after")
        .arg(format!("apt:libgd-tools={before}@{series}"))
        .arg("--out")
        .arg(&out));
    // Refused before any testbed starts: a downgrade is bad input (exit 2), not a verdict.
    let doc = json_of(&o);
    assert_ne!(doc["verdict"], "verification-done", "{doc:#}");
    assert_eq!(o.status.code(), Some(2), "{doc:#}");
    assert_eq!(doc["exit"], "bad-input", "{doc:#}");
    assert!(doc["error"].as_str().unwrap().contains("not an update"), "{doc:#}");
    assert!(!out.join("result.json").exists(), "a refused run left a result");
}
