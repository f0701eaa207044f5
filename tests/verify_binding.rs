//! Issue 13, end to end: adversarial packages and plans that a careless verifier would call
//! verification-done. Class 1 (checks bound to the object under test): a decoy LUN
//! configured as expected, a duplicate target block, a decoy fd with O_DIRECT. Class 2
//! (evidence agrees with itself): a backing store on tmpfs, a sync loop behind tgtd's back.
//! Class 5 (every path that writes a target): fixes that cover cinder's export path only, or
//! its restart path (ensure_export) only. Section 4: a target tgtd never got. Every one must
//! end verification-failed, inconclusive or error, never verification-done. Real tgtd, real
//! builds of the cinder-icehouse fixture; root and the mirror needed.

mod verify_common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use verify_common::{build_binary, checks, fixture_tree, flagship_plan, root, run, srukit, verify_output};

fn work() -> &'static Path {
    verify_common::work("srukit-verify-binding")
}

/// `srukit --json verify PLAN`, the after side only when `before` is `None`.
fn verify(plan: &Path, before: Option<&Path>, after: &str, name: &str) -> (Output, serde_json::Value) {
    let o = verify_output(work(), plan, before, after, name);
    let doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{name}: no JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)));
    (o, doc)
}

/// Never verification-done, and the exit code says so (1: failed or inconclusive, 3: error).
/// The volume's own LUN kept the write cache: the target file and WCE say on, and its data
/// is at risk, or between thresholds when the busy host wrote some back: never "safe".
fn assert_volume_still_write_back(got: &[String]) {
    for want in ["target-file=fail:on", "wce=fail:on"] {
        assert!(got.contains(&want.to_string()), "{got:?}");
    }
    assert!(got[3].starts_with("data-at-risk=fail:"), "{got:?}");
}

fn assert_not_done(o: &Output, doc: &serde_json::Value, name: &str) {
    let verdict = doc["verdict"].as_str().unwrap_or_default();
    assert!(
        ["verification-failed", "inconclusive", "error"].contains(&verdict),
        "{name}: {verdict}: {doc:#}"
    );
    let code = o.status.code();
    assert!(matches!(code, Some(1) | Some(2) | Some(3)), "{name}: exit {code:?}");
}

fn plan(name: &str) -> PathBuf {
    root().join("tests/data/binding").join(format!("{name}.toml"))
}

/// The fixture, with `mutation` (a backport folder) applied when given, built to binaries.
fn build_fixture(name: &str, mutation: Option<PathBuf>) -> PathBuf {
    let tree = fixture_tree(work(), name);
    if let Some(m) = mutation {
        let o = run(srukit().arg("apply").arg(&m).arg("--tree").arg(&tree));
        assert_eq!(o.status.code(), Some(0), "apply {}", m.display());
    }
    build_binary(work(), &tree, name)
}

fn before() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| build_fixture("before", None))
}

// ---- class 1: bind every check to the object under test ------------------------------------

#[test]
fn a_decoy_lun_configured_as_expected_proves_nothing() {
    let (o, doc) = verify(&plan("decoy-lun"), None, "apt:tgt", "decoy-lun");
    assert_eq!(doc["verdict"], "verification-failed", "{doc:#}");
    assert_eq!(o.status.code(), Some(1));
    let got = checks(&doc, "after", "off");
    // The volume's LUN (2, per-LUN write-cache on), not the decoy at LUN 1.
    assert_volume_still_write_back(&got);
    let wce = &doc["runs"][0]["checks"][1]["evidence"];
    assert_eq!(wce["object"]["lun"], 2, "{wce:#}");
    assert!(wce["object"]["backing_store"].as_str().unwrap().contains("/lun-"), "{wce:#}");
    assert!(wce["object"]["tgtd_pid"].as_u64().unwrap() > 0, "{wce:#}");
}

#[test]
fn two_blocks_for_one_iqn_are_an_error_naming_both() {
    let (o, doc) = verify(&plan("duplicate-block"), None, "apt:tgt", "duplicate-block");
    assert_not_done(&o, &doc, "duplicate-block");
    assert_eq!(doc["verdict"], "error", "{doc:#}");
    assert_eq!(o.status.code(), Some(3));
    let reason = doc["reason"].as_str().unwrap();
    assert!(reason.contains("is defined 2 times"), "{reason}");
    assert!(reason.contains("lane.conf:1") && reason.contains("zz-duplicate.conf:1"), "{reason}");
}

#[test]
fn a_second_fd_on_the_backing_store_is_an_error_not_o_direct() {
    let (o, doc) = verify(&plan("o-direct-decoy"), None, "apt:tgt", "o-direct-decoy");
    assert_eq!(doc["verdict"], "error", "{doc:#}");
    assert_eq!(o.status.code(), Some(3));
    let got = checks(&doc, "after", "direct");
    assert!(got[1].starts_with("o-direct=error:2 file descriptors of tgtd"), "{got:?}");
    assert!(got[1].contains("0140002") && got[1].contains("0100002"), "{got:?}");
}

/// A package, not a plan: the fix as shipped, but the setting lands on a decoy LUN 1 and the
/// volume moves to LUN 2 with its own `write-cache on`.
#[test]
fn a_package_that_puts_the_setting_on_a_decoy_lun_is_verification_failed() {
    let after = build_fixture("decoy-lun-package", Some(root().join("tests/data/binding/decoy-lun-package")));
    let (o, doc) =
        verify(&flagship_plan(), Some(before()), after.to_str().unwrap(), "verify-decoy-lun-package");
    assert_eq!(doc["verdict"], "verification-failed", "{doc:#}");
    assert_eq!(o.status.code(), Some(1));
    let got = checks(&doc, "after", "off");
    assert_volume_still_write_back(&got);
}

// ---- class 2: evidence must agree with itself ------------------------------------------------

#[test]
fn a_backing_store_on_tmpfs_is_inconclusive_naming_the_filesystem() {
    let (o, doc) = verify(&plan("tmpfs-lun"), None, "apt:tgt", "tmpfs-lun");
    assert_eq!(doc["verdict"], "inconclusive", "{doc:#}");
    assert_eq!(o.status.code(), Some(1));
    let got = checks(&doc, "after", "on");
    assert!(
        got[3].starts_with("data-at-risk=inconclusive:inconclusive: the backing store is on tmpfs"),
        "{got:?}"
    );
    let ev = &doc["runs"][0]["checks"][3]["evidence"];
    assert_eq!(ev["backing_store_fs"], "tmpfs", "{ev:#}");
    assert!(doc["reason"].as_str().unwrap().contains("tmpfs"), "{doc:#}");
}

#[test]
fn a_page_cache_emptied_behind_tgtds_back_is_never_safe() {
    let (o, doc) = verify(&plan("flusher"), None, "apt:tgt", "flusher");
    assert_not_done(&o, &doc, "flusher");
    assert_eq!(o.status.code(), Some(1), "{doc:#}");
    let got = checks(&doc, "after", "on");
    assert!(!got.contains(&"data-at-risk=pass:safe".to_string()), "{got:?}");
    // Whatever the sync loop achieved: at risk (a failure), between thresholds, or "safe"
    // contradicted by WCE=1 with O_DIRECT off.
    let data = &got[2];
    assert!(
        data.starts_with("data-at-risk=fail:at-risk") || data.starts_with("data-at-risk=inconclusive:"),
        "{got:?}"
    );
}

/// A package, not a plan: the fix plus a background sync loop started whenever a target is
/// written with write-cache on, so the default phase's write-back looks safe.
#[test]
fn a_package_that_flushes_behind_tgtds_back_is_never_done() {
    let after = build_fixture("flusher-package", Some(root().join("tests/data/binding/flusher-package")));
    let (o, doc) =
        verify(&flagship_plan(), Some(before()), after.to_str().unwrap(), "verify-flusher-package");
    assert_not_done(&o, &doc, "flusher-package");
    assert_eq!(o.status.code(), Some(1), "{doc:#}");
    let got = checks(&doc, "after", "default");
    assert!(!got.iter().any(|c| c.starts_with("data-at-risk=pass")), "{got:?}");
}

// ---- section 4: a target tgtd does not have ----------------------------------------------

#[test]
fn a_target_tgtd_never_got_is_named_as_such() {
    let (o, doc) = verify(&plan("no-target"), None, "apt:tgt", "no-target");
    assert_eq!(doc["verdict"], "error", "{doc:#}");
    assert_eq!(o.status.code(), Some(3));
    let got = checks(&doc, "after", "off");
    assert!(got[1].starts_with("wce=error:tgtd has no target iqn.2010-10.org.openstack:volume-"), "{got:?}");
    assert!(!got[1].contains("PDU"), "{got:?}");
}

// ---- class 5: every path that writes a target ------------------------------------------------

#[test]
fn a_fix_of_one_write_path_only_is_verification_failed() {
    for (name, off) in [
        // The export writes off; the restart's ensure_export rewrites TgtAdm's default.
        ("export-path-only", "target-file=fail:off (after `export`); on (after `restart`)"),
        // A volume exported after the change gets on until cinder-volume restarts.
        ("ensure-path-only", "target-file=fail:on (after `export`); off (after `restart`)"),
    ] {
        let after = build_fixture(name, Some(root().join("testbeds/mutations").join(name)));
        let (o, doc) =
            verify(&flagship_plan(), Some(before()), after.to_str().unwrap(), &format!("verify-{name}"));
        assert_eq!(doc["verdict"], "verification-failed", "{name}: {doc:#}");
        assert_eq!(o.status.code(), Some(1), "{name}");
        let got = checks(&doc, "after", "off");
        assert_eq!(got[0], off, "{name}: {got:?}");
        // tgtd agrees with the file at each point: WCE follows the same path. (Inconclusive
        // when the data measured at that point contradicts it: a host busy writing back, as
        // a global `sync` elsewhere on the machine makes it, empties tgtd's cache too.)
        assert!(
            got[1].starts_with("wce=fail:") || got[1].starts_with("wce=inconclusive:"),
            "{name}: {got:?}"
        );
        assert!(got[1].ends_with("(after `restart`)"), "{name}: {got:?}");
        // The default phase keeps passing: both paths write write-cache on.
        let default = checks(&doc, "after", "default");
        assert!(
            default[0] == "target-file=pass:on" && default[1].starts_with("wce=pass:on"),
            "{name}: {default:?}"
        );
        let points = &verify_common::run_of(&doc, "after", "off")["checks"][0]["evidence"]["checkpoints"];
        let steps: Vec<&str> =
            points.as_array().unwrap().iter().map(|p| p["after_step"].as_str().unwrap()).collect();
        assert_eq!(steps, ["export", "restart"], "{name}");
    }
}
