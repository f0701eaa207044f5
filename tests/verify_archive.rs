//! Issue 15, packages from the archive: `--before/--after apt:NAME[=VERSION]@SUITE` resolved
//! on the host (version, source package, the index's sha256), installed in fresh testbeds
//! with apt from that suite, the other binaries of the same source pinned to the same
//! upload, and `apt-cache policy` and dpkg's status recorded before any check; the side's
//! provenance from its pocket, the tag only for the security (or proposed) pocket; and the
//! inputs refused before any testbed (exit 2): sides swapped, suites that are not.
//!
//! Real packages from Debian 12's archive: antiword (one binary; its point-release version
//! against its security update) and zstd (whose library libzstd1, same source, the image
//! carries at the point release's version). The archive moves: assertions hold relations
//! (after newer than before, the version in the suite apt names) and the versions are read
//! from the host's own apt where they must agree. Root and the network to the mirror needed.

mod verify_common;

use std::path::{Path, PathBuf};

use verify_common::{json_of, run, srukit, text};

fn work() -> &'static Path {
    verify_common::work("srukit-verify-archive")
}

/// A plan in the legacy vocabulary that exercises nothing of the packages: tgtd and one
/// target file, so the run's cost is the packages' install and confirmation. Written under
/// this repository (its testbeds/ resolves `bookworm-tgt`).
fn plan(name: &str, install: &str) -> PathBuf {
    let text = format!(
        r#"name = "{name}"
summary = "{install} from the archive: the point release before, the security update after"
testbed = "bookworm-tgt"
install = ["{install}"]

[lun]
size_mib = 16

[daemon]
argv = ["tgtd", "-f", "--iscsi", "portal=127.0.0.1:3260"]
ready_port = 3260

[[phase]]
name = "default"
description = "as installed"

[[step]]
name = "target-file"
write = {{ path = "/etc/tgt/conf.d/lane.conf", content = "<target ${{iqn}}>\n    backing-store ${{lun}}\n    write-cache off\n</target>\n" }}

[target]
file = "/etc/tgt/conf.d/lane.conf"
portal = "127.0.0.1:3260"

[checks]
target-file = {{}}

[expect.before.default]
target-file = "off"

[expect.after.default]
target-file = "off"
"#
    );
    let path = work().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn verify(plan: &Path, before: &str, after: &str, name: &str) -> (std::process::Output, PathBuf) {
    let out = work().join(name);
    let o = run(srukit()
        .arg("--json")
        .arg("verify")
        .arg(plan)
        .args(["--before", before, "--after", after, "--out"])
        .arg(&out));
    (o, out)
}

/// `dpkg --compare-versions A gt B`.
fn newer(a: &str, b: &str) -> bool {
    std::process::Command::new("dpkg").args(["--compare-versions", a, "gt", b]).status().unwrap().success()
}

/// The host apt's own record of NAME=VERSION (its sources name bookworm and
/// bookworm-security): an oracle apart from srukit's private apt.
fn host_field(name: &str, version: &str, field: &str) -> String {
    let o = std::process::Command::new("apt-cache")
        .args(["show", "--no-all-versions", &format!("{name}={version}")])
        .output()
        .unwrap();
    let t = text(&o.stdout);
    t.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}: ")).map(str::to_string))
        .unwrap_or_else(|| panic!("host apt has no {field} for {name}={version}: {t}{}", text(&o.stderr)))
}

fn package<'a>(doc: &'a serde_json::Value, side: &str, name: &str) -> &'a serde_json::Value {
    doc["sides"][side]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {side} package {name} in {}", doc["sides"]))
}

fn installed(doc: &serde_json::Value, side: &str, name: &str) -> String {
    doc["sides"][side]["installed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["version"].as_str())
        .unwrap_or_else(|| panic!("{name} not installed on the {side} side: {}", doc["sides"][side]))
        .to_string()
}

#[test]
fn archive_sides_are_installed_from_their_suite_and_recorded() {
    let plan = plan("archive-antiword", "antiword");
    let (o, out) = verify(&plan, "apt:antiword@bookworm", "apt:antiword@bookworm-security", "antiword");
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "verification-done", "{}", doc["reason"]);
    assert_eq!(json_of(&o)["verdict"], "verification-done");

    let (b, a) = (package(&doc, "before", "antiword"), package(&doc, "after", "antiword"));
    let (bv, av) = (b["version"].as_str().unwrap(), a["version"].as_str().unwrap());
    assert!(newer(av, bv), "after {av} must be newer than before {bv}");
    assert!(av.contains("+deb12u"), "a Debian 12 security update's version: {av}");
    assert_eq!(doc["versions"][0]["before"], bv);
    assert_eq!(doc["versions"][0]["after"], av);

    // Provenance: the point release before, the security pocket after; the side's too.
    assert_eq!(doc["sides"]["before"]["provenance"], "release");
    assert_eq!(doc["sides"]["after"]["provenance"], "security");
    assert_eq!(b["origin"]["suite"], "bookworm");
    assert_eq!(a["origin"]["suite"], "bookworm-security");
    assert_eq!(a["origin"]["provenance"], "security");
    assert!(a["origin"]["archive"].as_str().unwrap().contains("debian-security"), "{}", a["origin"]);
    assert_eq!(a["source"], format!("apt:antiword={av}@bookworm-security"));

    // The files are the archive's: the sha256 the host's own apt lists for that version,
    // the bytes of the .deb srukit recorded.
    for (p, v) in [(b, bv), (a, av)] {
        let sha = p["sha256"].as_str().unwrap();
        assert_eq!(sha, host_field("antiword", v, "SHA256"));
        let file = Path::new(p["file"].as_str().unwrap());
        let bytes = std::fs::read(file).unwrap();
        use sha2::Digest;
        assert_eq!(hex(&sha2::Sha256::digest(&bytes)), sha, "{}", file.display());
    }

    // Inside the testbed, before any check: dpkg's status and apt's policy, naming the suite
    // the installed version came from.
    assert_eq!(a["status"], format!("ii {av}"));
    assert_eq!(b["status"], format!("ii {bv}"));
    let policy = a["policy"].as_str().unwrap();
    assert!(policy.starts_with("antiword:\n  Installed: "), "{policy}");
    assert!(policy.contains(&format!("Installed: {av}")), "{policy}");
    let star =
        policy.lines().position(|l| l.trim_start().starts_with(&format!("*** {av} "))).expect("*** line");
    assert!(
        policy.lines().nth(star + 1).unwrap().contains(" bookworm-security/main amd64 Packages"),
        "{policy}"
    );
    let before_policy = b["policy"].as_str().unwrap();
    assert!(before_policy.contains(&format!("*** {bv} ")), "{before_policy}");
    assert!(
        !before_policy.contains("bookworm-security"),
        "the before testbed has no security source: {before_policy}"
    );
    assert_eq!(installed(&doc, "after", "antiword"), av);

    // The reports: origin and policy in "Packages tested", and the tag the pocket allows.
    let lp = run(srukit().args(["report", "--format", "launchpad"]).arg(&out));
    let lp = text(&lp.stdout);
    assert!(lp.contains("SRU verification (debian bookworm)"), "{lp}");
    assert!(lp.contains("origin: bookworm-security (security pocket) at http"), "{lp}");
    assert!(lp.contains("origin: bookworm (the point release) at http"), "{lp}");
    assert!(lp.contains(&format!("dpkg:   ii {av}")), "{lp}");
    assert!(lp.contains("$ apt-cache policy antiword"), "{lp}");
    assert!(lp.contains("Tag: verification-done-bookworm"), "{lp}");
    // The public comment names the .deb, not where this machine caches it.
    let cache = a["file"].as_str().unwrap();
    assert!(
        lp.contains(&format!("file:   {}", Path::new(cache).file_name().unwrap().to_str().unwrap())),
        "{lp}"
    );
    assert!(!lp.contains(Path::new(cache).parent().unwrap().to_str().unwrap()), "{lp}");
    let md = run(srukit().args(["report", "--format", "markdown"]).arg(&out));
    let md = text(&md.stdout);
    assert!(
        md.contains("| after | antiword | `") && md.contains("bookworm-security (security pocket)"),
        "{md}"
    );
    assert!(md.contains("```\n$ apt-cache policy antiword\nantiword:\n"), "{md}");

    // result.json, with the new fields, is valid against the published schema.
    verify_common::assert_valid_result(&out);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// plans.md section 7: a tool and its library from one source must be one upload. The image
/// carries libzstd1 from the point release; installing the security update's zstd pins it to
/// the same upload, and the before side keeps the point release's.
#[test]
fn the_other_binaries_of_the_source_are_pinned_to_the_same_upload() {
    let plan = plan("archive-zstd", "zstd");
    let (o, out) = verify(&plan, "apt:zstd@bookworm", "apt:zstd@bookworm-security", "zstd");
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let (bv, av) = (installed(&doc, "before", "zstd"), installed(&doc, "after", "zstd"));
    assert!(newer(&av, &bv), "{av} > {bv}");
    // Same source version, so the same binary version here (no binNMU of either).
    assert_eq!(installed(&doc, "before", "libzstd1"), bv);
    assert_eq!(installed(&doc, "after", "libzstd1"), av);
    assert_eq!(host_field("libzstd1", &av, "Source"), "libzstd");
    assert_eq!(package(&doc, "after", "zstd")["origin"]["suite"], "bookworm-security");
}

/// Refused before any testbed, exit 2, naming what is wrong.
fn refused(before: &str, after: &str, name: &str, needles: &[&str]) -> String {
    let plan = plan("archive-refused", "antiword");
    let started = std::time::Instant::now();
    let (o, out) = verify(&plan, before, after, name);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{before} {after}: {}{err}", text(&o.stdout));
    for n in needles {
        assert!(err.contains(n), "{before} {after}: `{n}` not in: {err}");
    }
    assert!(!out.join("result.json").exists(), "no result for refused input");
    eprintln!("{name}: refused in {:.1}s", started.elapsed().as_secs_f64());
    err
}

#[test]
fn swapped_or_equal_sides_are_not_an_update() {
    let err = refused(
        "apt:antiword@bookworm-security",
        "apt:antiword@bookworm",
        "swapped",
        &["not an update", "older than", "@bookworm-security"],
    );
    assert!(err.contains("(after: apt:antiword=") && err.contains("; before: apt:antiword="), "{err}");
    refused(
        "apt:antiword@bookworm-security",
        "apt:antiword@bookworm-security",
        "same",
        &["the same version as"],
    );
}

#[test]
fn bad_suites_and_versions_are_named() {
    refused(
        "apt:antiword@bookworm",
        "apt:antiword@bokworm-security",
        "typo",
        &["`apt:antiword@bokworm-security`", "`bokworm` is not a Debian or Ubuntu series"],
    );
    refused(
        "apt:antiword@bookworm",
        "apt:antiword@bookworm-proposed",
        "ubuntu-pocket",
        &["suite `bookworm-proposed`", "bookworm-proposed-updates"],
    );
    refused(
        "apt:antiword@bookworm",
        "apt:antiword@bookworm-backports",
        "backports",
        &["not a stable update"],
    );
    refused("apt:Antiword@bookworm", "apt:antiword@bookworm-security", "name", &["not a package name"]);
    // A version the suite does not have: what it does have is named.
    refused(
        "apt:antiword@bookworm",
        "apt:antiword=0.37-99@bookworm-security",
        "version",
        &["bookworm-security", "has no antiword 0.37-99", "in bookworm-security"],
    );
    // A series distro-info knows that the archive no longer publishes (Debian 3.0, 2002).
    refused("apt:antiword@woody", "apt:antiword@bookworm-security", "gone", &["suite `woody`", "Release"]);
    // A suite of another release than the testbed image's: found once the image is known.
    refused(
        "apt:antiword@bookworm",
        "apt:antiword@trixie",
        "other-release",
        &["the suite `trixie` is trixie, but the testbed image bookworm-tgt is bookworm"],
    );
}

/// The point release from the archive against a dir of .debs (a local build, here the
/// security update's own .deb copied out of the cache): the after side is a local build, so
/// the verdict is a pre-upload check with no tag, whatever the before side's pocket.
#[test]
fn a_local_build_against_the_point_release_is_a_pre_upload_check() {
    let plan = plan("archive-local", "antiword");
    // Resolve the security update first (its .deb lands in srukit's cache), then copy it out.
    let (o, out) = verify(&plan, "apt:antiword@bookworm", "apt:antiword@bookworm-security", "local-source");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    let deb = PathBuf::from(package(&doc, "after", "antiword")["file"].as_str().unwrap());
    let dir = work().join("local-debs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&deb, dir.join(deb.file_name().unwrap())).unwrap();

    let (o, out) = verify(&plan, "apt:antiword@bookworm", dir.to_str().unwrap(), "local");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["sides"]["before"]["provenance"], "release");
    assert_eq!(doc["sides"]["after"]["provenance"], "local-build");
    assert_eq!(package(&doc, "after", "antiword")["origin"]["provenance"], "local-build");
    assert!(package(&doc, "after", "antiword")["policy"].as_str().unwrap().contains("/var/lib/dpkg/status"));
    let lp = text(&run(srukit().args(["report", "--format", "launchpad"]).arg(&out)).stdout);
    assert!(lp.contains("origin: local build"), "{lp}");
    assert!(!lp.contains("Tag: verification-done"), "{lp}");
    assert!(lp.contains("would set verification-done-bookworm"), "{lp}");
}

/// A format v2 plan with an `upgrade` step: every run starts on the point release's antiword
/// from the archive, and the after run upgrades it with apt from bookworm-security (the
/// upgrade path users take); the `package` check binds each side to its own version.
#[test]
fn the_upgrade_step_takes_the_after_suite_over_the_before_one() {
    let plan = work().join("archive-upgrade.toml");
    std::fs::write(
        &plan,
        r#"name = "archive-upgrade"
summary = "antiword: the upgrade from the point release to the security update"
testbed = "bookworm-tgt"
install = ["antiword"]

[[phase]]
name = "default"
description = "as installed"

[[step]]
name = "upgrade"
upgrade = {}

[[check]]
id = "pkg"
package = { name = "antiword" }
outcomes.installed = { installed = true }
outcomes.absent = { installed = false }

[expect."*"."*"]
pkg = "installed"
"#,
    )
    .unwrap();
    let (o, out) = verify(&plan, "apt:antiword@bookworm", "apt:antiword@bookworm-security", "upgrade");
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "verification-done", "{}", doc["reason"]);
    let (bv, av) = (installed(&doc, "before", "antiword"), installed(&doc, "after", "antiword"));
    assert!(newer(&av, &bv), "{av} > {bv}");
    let policy = package(&doc, "after", "antiword")["policy"].as_str().unwrap();
    // After the upgrade both suites offer a version; the installed one is the security one.
    assert!(policy.contains(&format!("*** {av} ")) && policy.contains(&format!("     {bv} ")), "{policy}");
    let observed: Vec<&str> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["checks"][0]["observed"].as_str().unwrap())
        .collect();
    assert_eq!(observed, [format!("antiword {bv} installed"), format!("antiword {av} installed")]);
}
