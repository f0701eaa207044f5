//! The flagship end to end: `srukit apply patches/lp1336568-iscsi-write-cache` on a copy of
//! the cinder icehouse fixture gives 1:2014.1.5-0ubuntu2 for trusty with
//! Launchpad-Bugs-Fixed: 1336568, and a tree dpkg-source -b accepts.

use std::path::{Path, PathBuf};

use srukit::formats::changelog::dpkg_parse;
use srukit::formats::distro_info::Distro;
use srukit::process::Cmd;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_fixture(parent: &Path) -> PathBuf {
    let tree = parent.join("cinder");
    srukit::fsx::copy_tree(&repo().join("testbeds/fixtures/cinder-icehouse"), &tree).unwrap();
    tree
}

fn apply(tree: &Path, extra: &[&str]) -> std::process::Output {
    Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .arg("apply")
        .arg(repo().join("patches/lp1336568-iscsi-write-cache"))
        .arg("--tree")
        .arg(tree)
        .args(extra)
        // The manifest's maintainer is used when DEBFULLNAME/DEBEMAIL are unset.
        .env_remove("DEBFULLNAME")
        .env_remove("DEBEMAIL")
        .output_unchecked()
        .unwrap()
}

#[test]
fn flagship_apply_gives_the_trusty_sru_and_dpkg_source_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let tree = copy_fixture(dir.path());
    let out = apply(&tree, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let fields = dpkg_parse(&std::fs::read(tree.join("debian/changelog")).unwrap(), Distro::Ubuntu).unwrap();
    assert_eq!(fields["Source"], "cinder");
    assert_eq!(fields["Version"], "1:2014.1.5-0ubuntu2");
    assert_eq!(fields["Distribution"], "trusty");
    assert_eq!(fields["Launchpad-Bugs-Fixed"], "1336568");
    assert!(fields["Changes"].contains("Enable iscsi_write_cache option for tgtadm backends (LP: #1336568)"));
    let series = std::fs::read_to_string(tree.join("debian/patches/series")).unwrap();
    assert!(series.lines().any(|l| l == "tgtadmin-iscsi-write-cache-config.patch"), "{series}");

    Cmd::new("bash")
        .arg(repo().join("testbeds/fixtures/make-orig.sh"))
        .arg(&tree)
        .arg(dir.path())
        .run()
        .unwrap();
    Cmd::new("dpkg-source").args(["-b", "cinder"]).cwd(dir.path()).run().unwrap();
    assert!(dir.path().join("cinder_2014.1.5-0ubuntu2.dsc").exists());

    // Applying it again is a no-op that says so.
    let again = apply(&tree, &[]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already applied"));
}

#[test]
fn flagship_push_writes_the_write_cache_line() {
    let dir = tempfile::tempdir().unwrap();
    let tree = copy_fixture(dir.path());
    let out = apply(&tree, &["--push"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let iscsi = std::fs::read_to_string(tree.join("cinder/brick/iscsi/iscsi.py")).unwrap();
    assert!(iscsi.contains("write-cache"), "the patched tgtadm helper writes the write-cache line");
    let driver = std::fs::read_to_string(tree.join("cinder/volume/driver.py")).unwrap();
    assert!(driver.contains("iscsi_write_cache"), "the option is declared");
}

#[test]
fn flagship_patch_has_a_clean_dep3_header() {
    let patch = repo().join("patches/lp1336568-iscsi-write-cache/tgtadmin-iscsi-write-cache-config.patch");
    let out = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["dep3", "check"])
        .arg(&patch)
        .output_unchecked()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
