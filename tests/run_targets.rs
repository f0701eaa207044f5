//! `srukit run` over a backport folder with `[[target]]`s (issue 17, part 1), on a real
//! two-release fixture package (tests/data/two-targets: srukit-greet 1.1-1 for bookworm and
//! 1.0-1 for bullseye, each with its own form of the fix) built and verified in real
//! testbeds: both targets at once, `--target`, a target whose patch does not apply, the
//! combined result and reports, `apply --target`, and `--archive` refusing a version that is
//! not the series' point release (from the archive's real index, before any testbed).

mod verify_common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use verify_common::{json_of, root, run, srukit, text};

fn work() -> &'static Path {
    verify_common::work("srukit-run-targets")
}

fn data(name: &str) -> PathBuf {
    root().join("tests/data/two-targets/patches").join(name)
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The two-target run with `--jobs 2`, once for every test that reads it.
fn both() -> &'static (PathBuf, std::process::Output) {
    static RUN: OnceLock<(PathBuf, std::process::Output)> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = work().join("both");
        let o = run(srukit()
            .arg("--json")
            .arg("run")
            .arg(data("greet-fix"))
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "2"]));
        (out, o)
    })
}

#[test]
fn two_targets_are_built_verified_and_reported_together() {
    let (out, o) = both();
    let doc = json_of(o);
    assert_eq!(o.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    let series: Vec<&str> =
        doc["targets"].as_array().unwrap().iter().map(|t| t["series"].as_str().unwrap()).collect();
    assert_eq!(series, ["bookworm", "bullseye"]);
    assert_eq!(doc["targets"][0]["after_version"], "1.1-1+deb12u1", "{doc:#}");
    assert_eq!(doc["targets"][1]["after_version"], "1.0-1+deb11u1", "{doc:#}");

    // Each target's stages in OUT/<series>/, each with its own patch.
    for (series, patch) in [("bookworm", "name-1.1.patch"), ("bullseye", "name-1.0.patch")] {
        for stage in ["resolve", "build-before", "apply", "build-after", "verify", "report"] {
            assert!(out.join(series).join(stage).join("stage.json").is_file(), "{series}/{stage}");
        }
        let patches =
            std::fs::read_to_string(out.join(series).join("apply/tree/debian/patches/series")).unwrap();
        assert_eq!(patches, format!("{patch}\n"), "{series}");
    }

    let combined = read_json(&out.join("result.json"));
    assert_eq!(
        (combined["schema"].as_str(), combined["schema_version"].as_u64()),
        (Some("srukit-run-result"), Some(1))
    );
    assert_eq!(combined["backport"], "greet-fix");
    let targets = combined["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for (t, series, before) in [(&targets[0], "bookworm", "1.1-1"), (&targets[1], "bullseye", "1.0-1")] {
        assert_eq!(t["series"], series);
        assert_eq!(t["distro"], "debian");
        assert_eq!(t["version_before"], before);
        assert_eq!(t["verdict"], "verification-done");
        // Local builds: a pre-upload check sets no tag, and names the one it would set.
        assert!(t["tag"].is_null(), "{t:#}");
        assert_eq!(t["would_tag"], format!("verification-done-{series}"));
        assert_eq!(t["provenance"], "local-build");
        assert_eq!(t["result"], format!("{series}/verify/result.json"));
        assert!(t["error"].is_null());
        assert_eq!(read_json(&out.join(t["result"].as_str().unwrap()))["verdict"], "verification-done");
    }

    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    for needle in [
        "=== debian bookworm ===",
        "=== debian bullseye ===",
        "srukit-greet 1.1-1 -> 1.1-1+deb12u1",
        "srukit-greet 1.0-1 -> 1.0-1+deb11u1",
        "would tag verification-done-bookworm",
        "would tag verification-done-bullseye",
    ] {
        assert!(lp.contains(needle), "{needle} not in {lp}");
    }
    let md = std::fs::read_to_string(out.join("report/report.md")).unwrap();
    assert!(md.contains("## debian bookworm") && md.contains("## debian bullseye"), "{md}");
    let junit = std::fs::read_to_string(out.join("report/junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuite name=\"bookworm\"") && junit.contains("<testsuite name=\"bullseye\""),
        "{junit}"
    );
    assert!(junit.contains("name=\"after/default/greet\""), "{junit}");

    // Every event names its target; both targets' stages ran.
    let events: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e.get("event").is_some())
        .collect();
    assert!(events.iter().all(|e| e["target"] == "bookworm" || e["target"] == "bullseye"), "{events:#?}");
    for series in ["bookworm", "bullseye"] {
        assert!(
            events.iter().any(|e| e["event"] == "step-end" && e["step"] == "verify" && e["target"] == series),
            "{series}"
        );
    }

    // `srukit report OUT` renders the combined result.
    let o = run(srukit().arg("report").arg(out).args(["--format", "launchpad"]));
    assert_eq!(o.status.code(), Some(0));
    let shown = text(&o.stdout);
    assert!(
        shown.contains("=== debian bullseye ===") && shown.contains("Overall: verification-done"),
        "{shown}"
    );
}

#[test]
fn target_picks_one_series_and_reuses_its_stages() {
    let (out, first) = both();
    assert_eq!(first.status.code(), Some(0));
    let o = run(srukit()
        .arg("--json")
        .arg("run")
        .arg(data("greet-fix"))
        .arg("--out")
        .arg(out)
        .args(["--target", "bullseye"]));
    let doc = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{doc:#}");
    let targets = doc["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 1, "{doc:#}");
    assert_eq!(targets[0]["series"], "bullseye");
    // Nothing changed since the two-target run: every stage is skipped.
    assert!(targets[0]["stages"].as_array().unwrap().iter().all(|s| s["status"] == "skipped"), "{doc:#}");
    let combined = read_json(&out.join("result.json"));
    assert_eq!(combined["targets"].as_array().unwrap().len(), 1);

    let o = run(srukit()
        .arg("run")
        .arg(data("greet-fix"))
        .arg("--out")
        .arg(work().join("nope"))
        .args(["--target", "sid"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--target sid") && err.contains("bookworm, bullseye"), "{err}");
    assert!(!work().join("nope").exists(), "nothing is written on bad input");
}

#[test]
fn a_target_whose_patch_does_not_apply_is_an_error_and_the_other_completes() {
    let out = work().join("broken");
    let o = run(srukit()
        .arg("--json")
        .arg("run")
        .arg(data("greet-fix-broken"))
        .arg("--out")
        .arg(&out)
        .args(["--jobs", "2"]));
    let doc = json_of(&o);
    // The worst target's exit code: a patch that does not apply is 1 ("not true").
    assert_eq!(o.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["verdict"], "error");
    let combined = read_json(&out.join("result.json"));
    assert_eq!(combined["verdict"], "error");
    let bookworm = &combined["targets"][0];
    assert_eq!(
        (bookworm["series"].as_str(), bookworm["verdict"].as_str()),
        (Some("bookworm"), Some("verification-done"))
    );
    let bullseye = &combined["targets"][1];
    assert_eq!(
        (bullseye["series"].as_str(), bullseye["verdict"].as_str()),
        (Some("bullseye"), Some("error"))
    );
    let error = bullseye["error"].as_str().unwrap();
    assert!(error.contains("name-1.1.patch") && error.contains("does not apply"), "{error}");
    assert!(bullseye["result"].is_null() && bullseye["tag"].is_null() && bullseye["would_tag"].is_null());
    // bullseye stopped at apply, after its before build.
    assert!(out.join("bullseye/build-before/stage.json").is_file());
    assert!(!out.join("bullseye/verify").exists());
    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    assert!(lp.contains("=== debian bullseye ===") && lp.contains("This series was not verified"), "{lp}");
    assert!(lp.contains("would tag verification-done-bookworm"), "{lp}");
    let junit = std::fs::read_to_string(out.join("report/junit.xml")).unwrap();
    assert!(junit.contains("<error") && junit.contains("does not apply"), "{junit}");
}

#[test]
fn archive_refuses_a_version_that_is_not_the_series_release_before_any_testbed() {
    let out = work().join("archive");
    let o =
        run(srukit().arg("run").arg(data("unzip-archive-mismatch")).arg("--out").arg(&out).arg("--archive"));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    // bookworm's unzip, as the archive's index has it.
    assert!(err.contains("backport.toml: target bookworm: --archive: bookworm has unzip 6.0-28"), "{err}");
    assert!(err.contains("built from unzip 6.0-28, but the target is unzip 6.0-27"), "{err}");
    assert!(!out.exists(), "nothing is written before the check");
}

#[test]
fn apply_with_several_targets_needs_target_and_applies_its_patches() {
    let tree = work().join("apply/greet");
    std::fs::create_dir_all(tree.parent().unwrap()).unwrap();
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(root().join("tests/data/two-targets/fixtures/greet-bullseye"))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(copy.success());
    let o = run(srukit().arg("apply").arg(data("greet-fix")).arg("--tree").arg(&tree));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("choose one with --target SERIES (bookworm, bullseye)"), "{err}");
    let o = run(srukit()
        .arg("--json")
        .arg("apply")
        .arg(data("greet-fix"))
        .arg("--tree")
        .arg(&tree)
        .args(["--target", "bullseye"]));
    let doc = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["new_version"], "1.0-1+deb11u1");
    // bullseye has no distribution of its own and [changelog] none: the series.
    assert_eq!(doc["distribution"], "bullseye");
    assert_eq!(std::fs::read_to_string(tree.join("debian/patches/series")).unwrap(), "name-1.0.patch\n");
}
