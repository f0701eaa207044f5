//! The source upload's .changes follows the target distro's dpkg vendor rules, whatever the
//! host is: the flagship (an Ubuntu trusty upload, `LP: #1336568`) built on this Debian host
//! carries `Launchpad-Bugs-Fixed: 1336568`, which Launchpad and the SRU tools track bugs by
//! (Ubuntu's SRU docs list its absence, "this happens if you generate it on a pure Debian
//! system", as a common issue); the same tree targeted at a Debian series carries none.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The flagship's after tree (fixture + `srukit apply`), with its orig beside it.
fn flagship_after(tmp: &Path) -> PathBuf {
    let tree = cinder_fixture_with_orig(tmp);
    let r = srukit(&[
        "apply",
        repo().join("patches/lp1336568-iscsi-write-cache").to_str().unwrap(),
        "--tree",
        tree.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "apply: {}\n{}", text(&r.stdout), text(&r.stderr));
    tree
}

fn source_changes(tree: &Path, out: &Path) -> String {
    let r =
        srukit(&["build", "--source-only", "--tree", tree.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let m = manifest(out);
    let name = files_of(&m, "source-changes").pop().expect("a source .changes");
    std::fs::read_to_string(out.join(name)).unwrap()
}

fn field<'a>(changes: &'a str, name: &str) -> Option<&'a str> {
    changes.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
}

#[test]
fn ubuntu_upload_carries_launchpad_bugs_fixed_on_a_debian_host() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = flagship_after(tmp.path());
    let changes = source_changes(&tree, &tmp.path().join("ubuntu"));
    assert_eq!(field(&changes, "Distribution"), Some("trusty"), "{changes}");
    assert_eq!(field(&changes, "Launchpad-Bugs-Fixed"), Some("1336568"), "{changes}");
    assert!(changes.contains("(LP: #1336568)"), "{changes}");
    let log = std::fs::read_to_string(tmp.path().join("ubuntu/logs/source.log")).unwrap();
    assert!(log.contains("dpkg-genchanges under the Ubuntu vendor"), "{log}");

    // The same tree, its new entry targeted at Debian 12: Debian's rules, no such field
    // (the LP: reference stays text in the entry).
    let changelog = tree.join("debian/changelog");
    let text = std::fs::read_to_string(&changelog).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains(") trusty;"), "{first}");
    let retargeted = text.replacen(") trusty;", ") bookworm;", 1);
    std::fs::write(&changelog, retargeted).unwrap();
    let changes = source_changes(&tree, &tmp.path().join("debian"));
    assert_eq!(field(&changes, "Distribution"), Some("bookworm"), "{changes}");
    assert_eq!(field(&changes, "Launchpad-Bugs-Fixed"), None, "{changes}");
    assert!(changes.contains("(LP: #1336568)"), "{changes}");
}
