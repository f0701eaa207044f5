//! End to end, with real packages, real tgtd and srukit's own initiator: the flagship
//! pipeline gives verification-done (and resumes), the tgt and real-cinder lanes show what
//! design.md measured, and every mutation of the fix is caught. Root and the mirror needed.

mod verify_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use verify_common::{
    build_binary, checks, fixture_tree, flagship_plan, json_of, root, run, srukit, verify_output,
};

fn work() -> &'static Path {
    verify_common::work("srukit-verify-e2e")
}

/// The flagship pipeline, run once for every test that needs its builds.
fn flagship() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = work().join("flagship");
        let o = run(srukit()
            .arg("--json")
            .arg("run")
            .arg(root().join("patches/lp1336568-iscsi-write-cache"))
            .arg("--out")
            .arg(&out));
        let doc = json_of(&o);
        assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(doc["before_version"], "1:2014.1.5-0ubuntu1");
        assert_eq!(doc["after_version"], "1:2014.1.5-0ubuntu2");
        // Local builds: a pre-upload check, which sets no tag and names the one a run on the
        // proposed pocket's packages would set (the SRU rule).
        assert!(doc["tag"].is_null(), "{doc:#}");
        assert_eq!(doc["provenance"], "local-build");
        assert_eq!(doc["would_tag"], "verification-done-trusty");
        out
    })
}

fn verify(plan: &Path, before: Option<&Path>, after: &str, name: &str) -> (Output, serde_json::Value) {
    let o = verify_output(work(), plan, before, after, name);
    let doc = json_of(&o);
    (o, doc)
}

#[test]
fn flagship_pipeline_is_verification_done_with_reports_and_resumes() {
    let out = flagship();
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("verify/result.json")).unwrap()).unwrap();
    assert_eq!(
        checks(&result, "after", "off"),
        ["target-file=pass:off", "wce=pass:off", "o-direct=pass:off", "data-at-risk=pass:safe"]
    );
    assert_eq!(
        checks(&result, "before", "off"),
        ["target-file=pass:absent", "wce=pass:on", "o-direct=pass:off", "data-at-risk=pass:at-risk"]
    );
    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    assert!(lp.contains("verification-done-trusty"), "{lp}");
    assert!(lp.contains("1:2014.1.5-0ubuntu2"), "{lp}");
    let junit = std::fs::read_to_string(out.join("report/junit.xml")).unwrap();
    assert!(junit.contains("<testsuites") && !junit.contains("<failure"), "{junit}");

    // Nothing changed: every stage is skipped.
    let o = run(srukit()
        .arg("--json")
        .arg("run")
        .arg(root().join("patches/lp1336568-iscsi-write-cache"))
        .arg("--out")
        .arg(out));
    let doc = json_of(&o);
    let statuses: Vec<&str> =
        doc["stages"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["skipped"; 6], "{doc:#}");

    // --from verify reuses the builds and runs verification again.
    let o = run(srukit()
        .arg("--json")
        .arg("run")
        .arg(root().join("patches/lp1336568-iscsi-write-cache"))
        .arg("--out")
        .arg(out)
        .args(["--from", "verify"]));
    let doc = json_of(&o);
    let statuses: Vec<&str> =
        doc["stages"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["resumed", "resumed", "resumed", "resumed", "ran", "ran"], "{doc:#}");
    assert_eq!(doc["verdict"], "verification-done");
}

#[test]
fn a_bad_backport_dir_stops_before_any_stage() {
    let out = work().join("bad");
    let o = run(srukit().arg("run").arg(work().join("no-such-backport")).arg("--out").arg(&out));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-backport"));
    assert!(!out.exists(), "nothing written");
}

/// Applies a mutation backport to a fresh copy of the fixture and builds its binary.
fn build_mutation(name: &str) -> PathBuf {
    let tree = fixture_tree(work(), name);
    let o =
        run(srukit().arg("apply").arg(root().join("testbeds/mutations").join(name)).arg("--tree").arg(&tree));
    assert_eq!(o.status.code(), Some(0), "apply {name}");
    build_binary(work(), &tree, name)
}

#[test]
fn every_mutation_of_the_fix_is_verification_failed() {
    let before = flagship().join("build-before");
    for (name, observed_off) in [
        ("always-on", "target-file=fail:on"),
        ("underscore", "target-file=fail:misspelled"),
        ("ignores-option", "target-file=fail:absent"),
    ] {
        let after = build_mutation(name);
        let (o, doc) =
            verify(&flagship_plan(), Some(&before), after.to_str().unwrap(), &format!("verify-{name}"));
        assert_eq!(doc["verdict"], "verification-failed", "{name}: {doc:#}");
        assert_eq!(o.status.code(), Some(1), "{name}");
        let off = checks(&doc, "after", "off");
        assert!(off[0].starts_with(observed_off), "{name}: {off:?}");
        // The wire agrees with the file: WCE stays on, the data stays at risk.
        assert!(off.contains(&"wce=fail:on".to_string()), "{name}: {off:?}");
        assert!(off.contains(&"data-at-risk=fail:at-risk".to_string()), "{name}: {off:?}");
    }
}

#[test]
fn a_before_package_that_already_has_the_fix_is_inconclusive() {
    let prep = work().join("before-has-fix");
    let o = Command::new("bash")
        .arg(root().join("testbeds/mutations/before-has-fix/prepare.sh"))
        .arg(&prep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tree = prep.join("cinder-2014.1.5");
    let out = work().join("build-before-has-fix");
    let o = run(srukit().arg("build").arg("--tree").arg(&tree).arg("--out").arg(&out).arg("--binary-only"));
    assert_eq!(o.status.code(), Some(0));
    let after = flagship().join("build-after");
    let (o, doc) = verify(&flagship_plan(), Some(&out), after.to_str().unwrap(), "verify-before-has-fix");
    assert_eq!(doc["verdict"], "inconclusive", "{doc:#}");
    assert_eq!(o.status.code(), Some(1));
    assert!(doc["reason"].as_str().unwrap().contains("did not reproduce"), "{doc:#}");
}

#[test]
fn tgt_lane_shows_the_three_cache_modes() {
    let (o, doc) =
        verify(&root().join("testbeds/plans/tgt-cache-modes.toml"), None, "apt:tgt", "verify-tgt-lane");
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    assert_eq!(o.status.code(), Some(0));
    let direct = checks(&doc, "after", "bsoflags-direct");
    assert!(direct.contains(&"o-direct=pass:on".to_string()), "{direct:?}");
    assert!(direct.contains(&"data-at-risk=pass:safe".to_string()), "{direct:?}");
    let on = checks(&doc, "after", "write-cache-on");
    assert!(on.contains(&"data-at-risk=pass:at-risk".to_string()), "{on:?}");
}

#[test]
fn real_cinder_lane_writes_the_setting_and_tgtd_obeys_it() {
    let (o, doc) = verify(
        &root().join("testbeds/plans/real-cinder.toml"),
        None,
        "apt:python3-cinder",
        "verify-real-cinder",
    );
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    assert_eq!(o.status.code(), Some(0));
    let off = checks(&doc, "after", "off");
    assert_eq!(off[0], "target-file=pass:off", "{off:?}");
}

#[test]
fn verify_refuses_packages_that_are_not_the_ones_under_test() {
    // A dir without the plan's package is bad input, found before any testbed starts.
    let empty = work().join("empty-pkgs");
    std::fs::create_dir_all(&empty).unwrap();
    let (o, doc) = verify(&flagship_plan(), Some(&empty), empty.to_str().unwrap(), "verify-empty");
    assert_eq!(o.status.code(), Some(2), "{doc:#}");
    assert!(doc["error"].as_str().unwrap().contains("cinder-volume"), "{doc:#}");
}
