//! The dep8 gate's lane (issue 16, section 3): libmodbus CVE-2024-10918, the real library
//! from the archive pinned to exact versions, 3.1.6-2.1 (bookworm) reproduces and
//! 3.1.6-2.1+deb12u1 (bookworm-security) is fixed, with the package's own autopkgtests (each
//! side's from its own source, fetched by `apt-get source` through the suite's private apt)
//! run by the real autopkgtest on srukit's virt server: `verification-done`, the gate
//! passing on both sides. The hostile case: a local rebuild of the fix whose patch breaks
//! its one test (it now calls pkg-config without depending on it) passes every check of the
//! bug yet is `verification-failed`, "regression in test". A test the source does not have,
//! and a reverse dependency whose source does not download, are errors (exit 3), never a
//! pass. Root, the mirror and slirp4netns needed.

mod patches_common;
mod verify_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use verify_common::{assert_valid_result, json_of, root, run, srukit, text};

const PLAN: &str = "testbeds/plans/cve-2024-10918-libmodbus.toml";
const OLD: &str = "apt:libmodbus5=3.1.6-2.1@bookworm";
const NEW: &str = "apt:libmodbus5=3.1.6-2.1+deb12u1@bookworm-security";

fn work() -> &'static Path {
    verify_common::work("srukit-lane-dep8")
}

fn verify(plan: &Path, name: &str, args: &[&str]) -> (Output, PathBuf) {
    let out = work().join(name);
    let o = run(srukit()
        .current_dir(root())
        .arg("--json")
        .arg("verify")
        .arg(plan)
        .args(args)
        .arg("--out")
        .arg(&out));
    (o, out)
}

/// The side's dep8 runs of result.json.
fn dep8<'a>(doc: &'a serde_json::Value, side: &str) -> &'a Vec<serde_json::Value> {
    doc["sides"][side]["dep8"].as_array().unwrap_or_else(|| panic!("no {side} dep8 in {doc:#}"))
}

/// (test, outcome) of one dep8 run.
fn outcomes(run: &serde_json::Value) -> Vec<(String, String)> {
    run["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t["outcome"].as_str().unwrap().to_string()))
        .collect()
}

fn report(out: &Path, format: &str) -> String {
    let o = run(srukit().arg("report").arg(out).arg("--format").arg(format));
    assert!(o.status.success(), "report {format}: {}", text(&o.stderr));
    text(&o.stdout)
}

fn one(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn before_reproduces_after_is_fixed_and_the_gate_passes() {
    let (o, out) = verify(&root().join(PLAN), "done", &["--before", OLD, "--after", NEW]);
    let doc = json_of(&o);
    assert_eq!(o.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    assert!(doc["reason"].as_str().unwrap().contains("the autopkgtest gate held (1 passed)"), "{doc:#}");
    assert_valid_result(&out);
    for (side, version, suite) in
        [("before", "3.1.6-2.1", "bookworm"), ("after", "3.1.6-2.1+deb12u1", "bookworm-security")]
    {
        let runs = dep8(&doc, side);
        assert_eq!(runs.len(), 1, "{doc:#}");
        let r = &runs[0];
        assert_eq!(r["check"], "autopkgtests");
        // Each side's tests are its own source's, from its own suite.
        assert_eq!(r["source"]["name"], "libmodbus");
        assert_eq!(r["source"]["version"], version);
        assert_eq!(r["source"]["from"], format!("apt-get source libmodbus={version} from {suite}"));
        assert_eq!(r["exit_code"], 0, "{r:#}");
        assert_eq!(outcomes(r), one(&[("test", "pass")]), "{r:#}");
        assert!(r.get("error").is_none(), "{r:#}");
        // Bound: autopkgtest tested this source version, on this side's binaries.
        let ran_on: Vec<&str> = r["ran_on"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(
            ran_on,
            [
                format!("testpkg-version libmodbus {version}"),
                format!("test: libmodbus5 {version}, libmodbus-dev {version}")
            ],
            "{r:#}"
        );
        // `-B` (no build in the testbed) on srukit's own virt server over the plan's image.
        let cmd = r["command"].as_str().unwrap();
        assert!(cmd.contains(" -B "), "{cmd}");
        assert!(cmd.contains("autopkgtest-virt-srukit"), "{cmd}");
        assert!(cmd.ends_with("testbeds/bookworm-build.toml"), "{cmd}");
        let dir = out.join(r["output_dir"].as_str().unwrap());
        let summary = std::fs::read_to_string(dir.join("summary")).unwrap();
        assert!(summary.split_whitespace().collect::<Vec<_>>() == ["test", "PASS"], "{summary}");
        assert!(out.join(r["log"].as_str().unwrap()).is_file());
    }
    let lp = report(&out, "launchpad");
    assert!(lp.contains("Autopkgtest gate"), "{lp}");
    assert!(lp.contains("    test: before PASS, after PASS"), "{lp}");
    assert!(lp.contains("Gate: no regression: 1 test(s) passed"), "{lp}");
    let md = report(&out, "markdown");
    assert!(md.contains("## Autopkgtest gate") && md.contains("| test | PASS | PASS |"), "{md}");
    let junit = report(&out, "junit");
    assert!(
        junit.contains(r#"<testsuite name="dep8" tests="2" skipped="0" errors="0" failures="0">"#),
        "{junit}"
    );
}

/// The fixed source, rebuilt locally with a patch that breaks its autopkgtest: the test now
/// also checks libmodbus.pc with pkg-config, which its Depends do not bring. The upstream
/// suite is left out of the build (it serves on 127.0.0.1:1502; the build testbed's network
/// has no loopback up): it is not what this lane is about.
fn hostile_build() -> PathBuf {
    let dsc = patches_common::dsc_pinned("libmodbus", "3.1.6-2.1+deb12u1");
    let tree = work().join("hostile-tree");
    let _ = std::fs::remove_dir_all(&tree);
    let x = Command::new("dpkg-source").arg("-q").arg("-x").arg(&dsc).arg(&tree).output().unwrap();
    assert!(x.status.success(), "{}", text(&x.stderr));
    let append = |file: &str, what: &str| {
        let path = tree.join(file);
        let mut t = std::fs::read_to_string(&path).unwrap();
        t.push_str(what);
        std::fs::write(&path, t).unwrap();
    };
    append("debian/tests/test", "\necho \"run: Check the pkg-config file\"\npkg-config --exists libmodbus\n");
    append("debian/rules", "\noverride_dh_auto_test:\n");
    let changelog = tree.join("debian/changelog");
    let old = std::fs::read_to_string(&changelog).unwrap();
    std::fs::write(
        &changelog,
        format!(
            "libmodbus (3.1.6-2.1+deb12u1+srukit1) bookworm-security; urgency=medium\n\n  * autopkgtest: also check the pkg-config file.\n\n -- srukit test <srukit@example.org>  Mon, 30 Nov 2026 12:00:00 +0000\n\n{old}"
        ),
    )
    .unwrap();
    let out = work().join("hostile-build");
    let o = run(srukit().current_dir(root()).arg("build").arg("--tree").arg(&tree).arg("--out").arg(&out));
    assert_eq!(o.status.code(), Some(0), "srukit build: {}", text(&o.stdout));
    out
}

#[test]
fn a_rebuild_that_breaks_its_test_is_a_regression() {
    let build = hostile_build();
    let (o, out) =
        verify(&root().join(PLAN), "hostile", &["--before", OLD, "--after", build.to_str().unwrap()]);
    let doc = json_of(&o);
    assert_eq!(o.status.code(), Some(1), "{doc:#}");
    assert_eq!(doc["verdict"], "verification-failed", "{doc:#}");
    let reason = doc["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("regression in test (libmodbus 3.1.6-2.1+deb12u1+srukit1): passed before (3.1.6-2.1), failed after"),
        "{reason}"
    );
    assert_valid_result(&out);
    // The bug's own checks hold on both sides: the gate alone fails the rebuild.
    for run in doc["runs"].as_array().unwrap() {
        for c in run["checks"].as_array().unwrap() {
            assert_eq!(c["outcome"], "pass", "{c:#}");
        }
    }
    let before = &dep8(&doc, "before")[0];
    assert_eq!(outcomes(before), one(&[("test", "pass")]));
    let after = &dep8(&doc, "after")[0];
    assert_eq!(after["source"]["from"], "local build");
    assert_eq!(after["source"]["version"], "3.1.6-2.1+deb12u1+srukit1");
    assert!(after["source"]["dsc"].as_str().unwrap().starts_with(build.to_str().unwrap()), "{after:#}");
    assert_eq!(after["exit_code"], 4, "{after:#}");
    assert_eq!(outcomes(after), one(&[("test", "fail")]), "{after:#}");
    let log = std::fs::read_to_string(out.join(after["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("pkg-config: not found"), "{log}");
    let lp = report(&out, "launchpad");
    assert!(lp.contains("    test: before PASS, after FAIL (non-zero exit status 127)"), "{lp}");
    assert!(lp.contains("Gate: regression in test (libmodbus 3.1.6-2.1+deb12u1+srukit1)"), "{lp}");
    let junit = report(&out, "junit");
    assert!(junit.contains(r#"type="regression""#), "{junit}");
}

#[test]
fn a_test_the_source_lacks_is_an_error() {
    // The lane's plan, its gate asked for a test libmodbus does not have.
    let dir = work().join("plan-missing-test");
    std::fs::create_dir_all(&dir).unwrap();
    let plan = std::fs::read_to_string(root().join(PLAN))
        .unwrap()
        .replace(
            r#"dep8 = { timeout = "10m" }"#,
            r#"dep8 = { tests = ["no-such-test"], rdepends = ["src:nut"] }"#,
        )
        .replace(
            r#"testbed = "bookworm-build""#,
            &format!("testbed = \"{}\"", root().join("testbeds/bookworm-build.toml").display()),
        )
        .replace(
            r#"source = "cve-2024-10918-libmodbus/reply.c""#,
            &format!(
                "source = \"{}\"",
                root().join("testbeds/plans/cve-2024-10918-libmodbus/reply.c").display()
            ),
        );
    assert!(plan.contains("no-such-test"));
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let (o, out) = verify(&dir.join("plan.toml"), "missing-test", &["--only", "after", "--after", NEW]);
    let doc = json_of(&o);
    assert_eq!(o.status.code(), Some(3), "{doc:#}");
    assert_eq!(doc["verdict"], "error", "{doc:#}");
    let runs = dep8(&doc, "after");
    assert_eq!(runs.len(), 2, "{doc:#}");
    let error = runs[0]["error"].as_str().unwrap_or_else(|| panic!("{:#}", runs[0]));
    assert!(doc["reason"].as_str().unwrap().contains(error), "{doc:#}");
    assert!(
        error.contains("autopkgtest ran no test") && error.contains("(asked for no-such-test)"),
        "{error}"
    );
    // A reverse dependency whose source the mirror no longer serves (nut 2.8.0-7 answers 404
    // here, as many pool files do): an error naming the URLs, never a skipped gate.
    assert_eq!(runs[1]["rdepend"], "src:nut", "{doc:#}");
    let error = runs[1]["error"].as_str().unwrap_or_else(|| panic!("{:#}", runs[1]));
    assert!(
        error.starts_with("no source for the tests: `apt-get source nut=2.8.0-7` from bookworm"),
        "{error}"
    );
    assert!(error.contains("pool/main/n/nut/nut_2.8.0-7.debian.tar.xz  404  Not Found"), "{error}");
    assert!(doc["reason"].as_str().unwrap().contains("src:nut"), "{doc:#}");
    assert_valid_result(&out);
}

/// The README's dep8 example loads in the lane's plan as written: the documentation is a plan.
#[test]
fn the_readme_dep8_example_loads() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let at = &readme[readme.find("**The dep8 gate.**").unwrap()..];
    let block = &at[at.find("```toml\n").unwrap() + 8..];
    let block = &block[..block.find("```").unwrap()];
    let plan = std::fs::read_to_string(root().join(PLAN)).unwrap();
    let text = plan.replace("[[check]]\nid = \"autopkgtests\"\ndep8 = { timeout = \"10m\" }\n", block);
    assert_ne!(text, plan, "the lane's dep8 check is where the test expects it");
    let p = srukit::verify::plan::Plan::parse(&text, &root().join("testbeds/plans/readme-dep8.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.dep8.len(), 1);
    assert_eq!(p.dep8[0].spec.tests, ["test"]);
    assert_eq!(p.dep8[0].spec.rdepends, ["src:nut"]);
}
