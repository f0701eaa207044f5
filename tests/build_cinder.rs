//! The flagship: the cinder-icehouse fixture builds (source and binary) before and after
//! `srukit apply` of the LP: #1336568 backport, and the after upload's .changes covers both
//! new entries when --since is the last published version.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn build(tree: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--tree", tree.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    srukit(&args)
}

#[test]
fn cinder_builds_before_and_after_apply() {
    let tmp = tempfile::tempdir().unwrap();
    // The fixture's orig, made by its own reproducible script, beside the tree.
    let tree = cinder_fixture_with_orig(tmp.path());
    let orig = tmp.path().join("cinder_2014.1.5.orig.tar.gz");
    let orig_sha = sha256sum(&orig);

    let before = tmp.path().join("before");
    let r = build(&tree, &before, &[]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let m = manifest(&before);
    assert_eq!(m["version"], "1:2014.1.5-0ubuntu1");
    assert_eq!(m["distribution"], "trusty");
    assert_eq!(m["architectures"], serde_json::json!(["source", "all"]));
    assert_eq!(m["orig"]["origin"]["found"].as_str().unwrap(), tmp.path().to_str().unwrap());
    assert_eq!(files_of(&m, "deb"), ["cinder-volume_2014.1.5-0ubuntu1_all.deb"]);
    assert_eq!(m["testbed"]["build_deps"], "image", "debhelper, dh-python, python3 are in the image");

    let r = srukit(&[
        "apply",
        repo().join("patches/lp1336568-iscsi-write-cache").to_str().unwrap(),
        "--tree",
        tree.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "apply: {}\n{}", text(&r.stdout), text(&r.stderr));

    let after = tmp.path().join("after");
    let r = build(&tree, &after, &["--since", "1:2014.1.4-0ubuntu2"]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let m = manifest(&after);
    assert_eq!(m["version"], "1:2014.1.5-0ubuntu2");
    assert_eq!(m["since"], "1:2014.1.4-0ubuntu2");
    assert_eq!(files_of(&m, "deb"), ["cinder-volume_2014.1.5-0ubuntu2_all.deb"]);
    // The same orig as before: an SRU never changes the upstream tarball.
    assert_eq!(sha256sum(&after.join("cinder_2014.1.5.orig.tar.gz")), orig_sha);
    let changes = std::fs::read_to_string(after.join("cinder_2014.1.5-0ubuntu2_source.changes")).unwrap();
    assert!(changes.contains("\nVersion: 1:2014.1.5-0ubuntu2\n"), "{changes}");
    assert!(changes.contains(" cinder (1:2014.1.5-0ubuntu2) trusty"), "{changes}");
    assert!(changes.contains(" cinder (1:2014.1.5-0ubuntu1) trusty"), "{changes}");
    assert!(!changes.contains(" cinder (1:2014.1.4-0ubuntu2)"), "{changes}");
    assert!(changes.contains("(LP: #1336568)"), "{changes}");
    // The patch is in the upload's debian tarball and in the built package's code.
    let t = std::process::Command::new("tar")
        .arg("tJf")
        .arg(after.join("cinder_2014.1.5-0ubuntu2.debian.tar.xz"))
        .output()
        .unwrap();
    assert!(
        text(&t.stdout).contains("debian/patches/tgtadmin-iscsi-write-cache-config.patch"),
        "{}",
        text(&t.stdout)
    );
    let x = tmp.path().join("x");
    let ok = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(after.join("cinder-volume_2014.1.5-0ubuntu2_all.deb"))
        .arg(&x)
        .status()
        .unwrap();
    assert!(ok.success());
    let hits =
        std::process::Command::new("grep").args(["-rl", "iscsi_write_cache"]).arg(&x).output().unwrap();
    assert!(!text(&hits.stdout).trim().is_empty(), "the built package carries the fix");
}
