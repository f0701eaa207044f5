//! `srukit report --format launchpad|markdown` on the four sample verdicts, and the command's
//! errors: asserts on what a verifier relies on (tag, versions, sha256, KiB numbers), not on
//! a frozen file.

mod report_samples;
use report_samples as common;

use common::*;

fn render(name: &str, r: &srukit::verify::result::VerifyResult, format: &str, extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_result(&tmp.path().join(name), r);
    report(&dir, format, extra)
}

#[test]
fn launchpad_done_names_the_tag_packages_and_evidence() {
    let r = done();
    let t = render("done", &r, "launchpad", &[]);
    assert!(t.contains("Tag: verification-done-trusty"), "{t}");
    assert!(t.contains("LP: #1336568"), "{t}");
    for v in [OLD, NEW] {
        assert!(t.contains(&format!("cinder-volume {v}")), "version {v} missing:\n{t}");
    }
    let after = &r.sides.after.as_ref().unwrap().packages[0];
    assert!(t.contains(&format!("file:   {}", after.file)), "{t}");
    assert!(t.contains(&format!("sha256: {}", after.sha256)), "{t}");
    assert!(t.contains(&format!("from:   {}", after.source)), "{t}");
    assert!(t.contains("/etc/cinder/cinder.conf [DEFAULT] iscsi_write_cache = off"), "{t}");
    assert!(t.contains("dirty_kib: 204800"), "{t}");
    assert!(t.contains("dirty_kib: 8"), "{t}");
    assert!(t.contains("byte2: 0x14") && t.contains("byte2: 0x10"), "{t}");
    assert!(t.contains("fdinfo_flags: 0100002"), "{t}");
    assert!(t.contains("        write-cache off"), "target file lines verbatim:\n{t}");
    // Before and after side by side: the before line of a check comes right before its after line.
    let b = t.find("before  PASS -> no write-cache line").expect("before row");
    let a = t.find("after   PASS -> write-cache on").expect("after row");
    assert!(b < a, "{t}");
    // Plain text: nothing Launchpad would show as literal markup.
    for markup in ["**", "```", "<details>", "| "] {
        assert!(!t.contains(markup), "markup {markup:?} in the Launchpad comment:\n{t}");
    }
}

#[test]
fn launchpad_series_flag_overrides_the_plan() {
    let t = render("done", &done(), "launchpad", &["--series", "xenial"]);
    assert!(t.contains("Tag: verification-done-xenial"), "{t}");
    assert!(!t.contains("verification-done-trusty"), "{t}");
}

#[test]
fn launchpad_failed_names_the_failed_tag_and_the_misspelling() {
    let t = render("failed", &failed(), "launchpad", &[]);
    assert!(t.contains("Tag: verification-failed-trusty"), "{t}");
    assert!(!t.contains("verification-done-"), "{t}");
    assert!(t.contains("FAIL -> misspelled keyword: `write_cache off`"), "{t}");
    assert!(t.contains("FAIL -> at risk: 204800 KiB dirty of 204800 KiB written (100.0 %)"), "{t}");
}

#[test]
fn inconclusive_and_error_name_no_done_tag() {
    for (name, r, word) in [("inconclusive", inconclusive(), "INCONCLUSIVE"), ("error", error(), "ERROR")] {
        for format in ["launchpad", "markdown"] {
            let t = render(name, &r, format, &[]);
            assert!(t.contains(word), "{name}/{format}:\n{t}");
            assert!(!t.contains("verification-done-"), "{name}/{format} names a done tag:\n{t}");
            assert!(!t.contains("verification-failed-"), "{name}/{format} names a failed tag:\n{t}");
        }
    }
    let t = render("inconclusive", &inconclusive(), "launchpad", &[]);
    assert!(t.contains("INCONCLUSIVE -> between thresholds: 40960 KiB dirty"), "{t}");
    let t = render("error", &error(), "launchpad", &[]);
    assert!(t.contains("after: the run stopped before its checks: tgtd exited with status 107"), "{t}");
    assert!(t.contains("ERROR -> login failed"), "{t}");
}

#[test]
fn markdown_has_a_table_per_phase() {
    let t = render("done", &done(), "markdown", &[]);
    assert_eq!(t.matches("| Check | Expected before | Before | Expected after | After |").count(), 2, "{t}");
    assert!(t.contains("## Phase `default`") && t.contains("## Phase `off`"), "{t}");
    assert!(t.contains("| after | cinder-volume | `1:2014.1.5-0ubuntu2` |"), "{t}");
    assert!(
        t.contains("| **PASS**: write-cache off |"),
        "the off phase's after cell shows the target file line:\n{t}"
    );
    assert!(t.contains("`verification-done-trusty`") || t.contains("Tag: verification-done-trusty"), "{t}");
    assert!(t.contains("dirty_kib: 204800"), "{t}");
    // Each table row has as many cells as the header, so no cell leaked a `|`.
    for line in t.lines().filter(|l| l.starts_with("| ") && l.contains("(wce)")) {
        assert_eq!(line.matches(" | ").count(), 4, "{line}");
    }
}

#[test]
fn out_writes_the_file_and_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_result(&tmp.path().join("r"), &done());
    let out = tmp.path().join("reports/lp.txt");
    let o =
        srukit(&["report", dir.to_str().unwrap(), "--format", "launchpad", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("tag verification-done-trusty"), "{}", stdout(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("Tag: verification-done-trusty"), "{written}");
    let o =
        srukit(&["--json", "report", dir.to_str().unwrap(), "--format", "launchpad", "--series", "xenial"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "verification-done");
    assert_eq!(v["tag"], "verification-done-xenial");
    assert!(v["report"].as_str().unwrap().contains("Tag: verification-done-xenial"));
}

#[test]
fn bad_input_exits_2_and_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let o = srukit(&["report", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("could not read {}", missing.display())), "{err}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = srukit(&["report", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds no result.json"), "{}", stderr(&o));

    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join("result.json"), "{\n  \"schema_version\": 1,\n  \"plan\": 7\n}\n").unwrap();
    let o = srukit(&["report", broken.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("result.json:"), "{}", stderr(&o));

    let newer = tmp.path().join("newer");
    let mut v = serde_json::to_value(done()).unwrap();
    v["schema_version"] = 4.into();
    std::fs::create_dir(&newer).unwrap();
    std::fs::write(newer.join("result.json"), v.to_string()).unwrap();
    let o = srukit(&["report", newer.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("schema_version 4; this srukit reads versions 1 to 3"), "{}", stderr(&o));
}

/// The SRU rule: a verdict on a local build is a pre-upload check. Every format says so,
/// none sets a tag, and each names the tag a run on the proposed pocket's packages would set.
#[test]
fn a_local_build_is_a_pre_upload_check_with_no_tag() {
    for (name, r, would) in [
        ("local-done", local_build(done()), "verification-done-trusty"),
        ("local-failed", local_build(failed()), "verification-failed-trusty"),
    ] {
        for format in ["launchpad", "markdown"] {
            let t = render(name, &r, format, &[]);
            assert!(t.contains("Pre-upload check (local-build"), "{name}/{format}:\n{t}");
            assert!(t.contains(&format!("would set {would}")), "{name}/{format}:\n{t}");
            assert!(!t.contains("Tag: "), "{name}/{format} sets a tag:\n{t}");
        }
        let head: Vec<String> =
            render(name, &r, "launchpad", &[]).lines().take(5).map(String::from).collect();
        assert!(
            head.iter().any(|l| l.starts_with("Packages: local-build (") && l.contains("pre-upload")),
            "{head:?}"
        );
        let junit = render(name, &r, "junit", &[]);
        assert!(junit.contains(r#"name="provenance" value="local-build""#), "{junit}");
        let json: serde_json::Value = serde_json::from_str(&render(name, &r, "json", &[])).unwrap();
        assert_eq!(json["sides"]["after"]["provenance"], "local-build");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_result(&tmp.path().join("r"), &local_build(done()));
    let o = srukit(&["--json", "report", dir.to_str().unwrap(), "--format", "launchpad"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "verification-done");
    assert!(v["tag"].is_null(), "{v}");
}
