//! `srukit export dep8` end to end on two real Debian 12 lanes: the plan exported into the
//! fixed version's tree, the tree built with `srukit build`, and the real autopkgtest 5.28
//! running the built source and .debs with `-- srukit` (autopkgtest-virt-srukit) and with
//! `-- unshare -t IMAGE.tar` of the same image: pass on the fixed packages; on the old ones
//! the default (after) side fails and `SRUKIT_SIDE=before` passes (the reproduction), and
//! `srukit report` of both sides says verification-done, one side alone never.
//!   - unzip #1142905: `apt-get source unzip=6.0-28`, `srukit apply` of the backport folder
//!     with `--with-dep8` (Debian's own fix, 6.0-28+deb12u1); old: unzip 6.0-28 from bookworm.
//!   - ca-certificates #1151413: 20230311+deb12u1 with the two roots added to
//!     mozilla/blacklist.txt as 20230311+deb12u2 (a native package: no quilt patch), two
//!     phases; old: 20230311+deb12u1 from bookworm.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cached_dsc, text, unpack};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(c: &mut Command) -> Output {
    c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

fn srukit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_srukit"));
    c.current_dir(root());
    c
}

fn ok(o: &Output, what: &str) {
    assert!(o.status.success(), "{what}: {}\n{}", text(&o.stdout), text(&o.stderr));
}

/// A work dir on real disk (autopkgtest unpacks the source and the image there).
fn work(name: &str) -> PathBuf {
    let d = PathBuf::from("/var/tmp/srukit-export-dep8").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The bookworm-lanes image's tarball (built once, cached) for `-- unshare -t`.
fn image_tar() -> PathBuf {
    let o = run(srukit().args(["--json", "testbed", "build", "bookworm-lanes"]));
    ok(&o, "srukit testbed build bookworm-lanes");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    PathBuf::from(doc["tarball"].as_str().expect("a tarball"))
}

/// `apt-get download NAME=VERSION` into `dir`: the old side's .deb from the archive.
fn download(dir: &Path, spec: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    ok(&run(Command::new("apt-get").args(["download", "-q", spec]).current_dir(dir)), "apt-get download");
    let name = spec.split('=').next().unwrap();
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}_")))
        .expect("the downloaded .deb")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Virt {
    Srukit,
    Unshare,
}

struct Lane {
    /// The plan's name: its tests are srukit-<plan>-<phase>.
    plan: &'static str,
    phases: &'static [&'static str],
    work: PathBuf,
    dsc: PathBuf,
    new_debs: Vec<PathBuf>,
    old_debs: Vec<PathBuf>,
    image: PathBuf,
}

/// One autopkgtest run: its exit code and its summary's result per test.
fn autopkgtest(lane: &Lane, debs: &[PathBuf], side: Option<&str>, virt: Virt, label: &str) -> (i32, PathBuf) {
    let out = lane.work.join(format!("out-{label}"));
    let mut c = Command::new("autopkgtest");
    c.arg(&lane.dsc).args(debs).args(["-B", "--timeout-test=600"]).arg("-o").arg(&out);
    if let Some(s) = side {
        c.arg(format!("--env=SRUKIT_SIDE={s}"));
    }
    c.arg("--");
    match virt {
        Virt::Srukit => {
            // A symlink named autopkgtest-virt-srukit to this srukit, given by its path.
            let bin = lane.work.join("bin");
            let link = bin.join("autopkgtest-virt-srukit");
            if !link.exists() {
                std::fs::create_dir_all(&bin).unwrap();
                let _ = std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_srukit"), &link);
            }
            c.arg(&link).arg(root().join("testbeds/bookworm-lanes.toml"));
        }
        Virt::Unshare => {
            c.args(["unshare", "-t"]).arg(&lane.image);
        }
    }
    let o = run(&mut c);
    let code = o.status.code().unwrap_or(-1);
    std::fs::write(
        lane.work.join(format!("{label}.log")),
        [o.stdout.as_slice(), o.stderr.as_slice()].concat(),
    )
    .unwrap();
    (code, out)
}

/// Test name -> PASS/FAIL... from autopkgtest's summary.
fn summary(out: &Path) -> Vec<(String, String)> {
    let s = std::fs::read_to_string(out.join("summary")).unwrap_or_default();
    s.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

fn result_json(out: &Path, test: &str) -> serde_json::Value {
    let f = out.join("artifacts").join(format!("{test}.json"));
    let t = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}\n{t}", f.display()))
}

fn report(dirs: &[&Path]) -> serde_json::Value {
    let o = run(srukit().arg("--json").arg("report").args(dirs).args(["--format", "json"]));
    ok(&o, "srukit report");
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The lane's runs, in parallel, and what each must show.
fn check_lane(lane: &Lane) {
    let tests: Vec<String> = lane.phases.iter().map(|p| format!("srukit-{}-{p}", lane.plan)).collect();
    let runs: [(&str, bool, Option<&str>, Virt, i32); 6] = [
        ("new-srukit", true, None, Virt::Srukit, 0),
        ("new-unshare", true, None, Virt::Unshare, 0),
        ("old-srukit", false, None, Virt::Srukit, 4),
        ("old-unshare", false, None, Virt::Unshare, 4),
        ("old-before-srukit", false, Some("before"), Virt::Srukit, 0),
        ("old-before-unshare", false, Some("before"), Virt::Unshare, 0),
    ];
    let results: Vec<(i32, PathBuf)> = std::thread::scope(|s| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(label, new, side, virt, _)| {
                let debs = if *new { &lane.new_debs } else { &lane.old_debs };
                s.spawn(move || autopkgtest(lane, debs, *side, *virt, label))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((label, new, side, _, want), (code, out)) in runs.iter().zip(&results) {
        let log = std::fs::read_to_string(lane.work.join(format!("{label}.log"))).unwrap_or_default();
        let tail: String =
            log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        assert_eq!(*code, *want, "{label}: autopkgtest exit {code}, want {want}\n{tail}");
        let got = summary(out);
        let verdict = if *want == 0 { "PASS" } else { "FAIL" };
        for t in &tests {
            assert!(
                got.iter().any(|(n, r)| n == t && r == verdict),
                "{label}: {t} should {verdict}: {got:?}\n{tail}"
            );
            let j = result_json(out, t);
            assert_eq!(j["schema"], "srukit-dep8-result");
            assert_eq!(j["side"], side.unwrap_or("after"), "{label}");
            assert_eq!(j["verdict"], if *want == 0 { "pass" } else { "error" }, "{label}: {j:#}");
            if *want != 0 {
                // The old packages on the after side: dpkg says the old version, which the
                // test names before any check.
                assert!(j["error"].as_str().unwrap().contains("the after side is"), "{label}: {j:#}");
                assert!(!*new);
            } else {
                assert!(
                    j["checks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|c| c["result"] == "pass" || c["result"] == "observed"),
                    "{j:#}"
                );
            }
        }
    }
    // srukit's virt server and unshare agree on every run.
    for pair in results.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!(summary(&pair[0].1), summary(&pair[1].1));
    }
    // The reports: both sides -> verification-done; the after side alone never is.
    let both = report(&[&results[4].1, &results[0].1]);
    assert_eq!(both["verdict"], "verification-done", "{both:#}");
    // ...of the plan on those versions: where autopkgtest took the packages from is unknown
    // to the test, so no report of it claims a pocket.
    assert_eq!(both["provenance"], "not-recorded", "{both:#}");
    let one = report(&[&results[0].1]);
    assert_eq!(one["verdict"], "inconclusive", "{one:#}");
    assert!(one["missing"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().starts_with("before/")));
    let old_after = report(&[&results[4].1, &results[2].1]);
    assert_eq!(old_after["verdict"], "error", "{old_after:#}");
}

fn build(tree: &Path, out: &Path) -> (PathBuf, Vec<PathBuf>) {
    let o = run(srukit().arg("--json").arg("build").arg("--tree").arg(tree).arg("--out").arg(out));
    ok(&o, "srukit build");
    let files: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    let dsc = files.iter().find(|p| p.extension().is_some_and(|x| x == "dsc")).unwrap().clone();
    let debs = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "deb") && !p.to_string_lossy().contains("-dbgsym_"))
        .cloned()
        .collect();
    (dsc, debs)
}

#[test]
fn unzip_1142905_exported_with_apply_passes_on_the_fix_and_fails_on_the_old_package() {
    let work = work("unzip");
    let tree = unpack("unzip=6.0-28", &work, "unzip-6.0", true);
    let backport = root().join("patches/deb-1142905-unzip-smartzip");
    let o = run(srukit()
        .arg("--json")
        .arg("apply")
        .arg(&backport)
        .arg("--tree")
        .arg(&tree)
        .arg("--with-dep8")
        .arg(backport.join("verify.toml")));
    ok(&o, "srukit apply --with-dep8");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["new_version"], "6.0-28+deb12u1", "{doc:#}");
    assert_eq!(doc["dep8"]["versions"]["before"], "6.0-28");
    let control = std::fs::read_to_string(tree.join("debian/tests/control")).unwrap();
    assert!(control.contains("Tests: srukit-deb-1142905-unzip-smartzip-default\nDepends: unzip\nRestrictions: needs-root, allow-stderr, breaks-testbed\n"), "{control}");
    let (dsc, new_debs) = build(&tree, &work.join("after"));
    let lane = Lane {
        plan: "deb-1142905-unzip-smartzip",
        phases: &["default"],
        dsc,
        new_debs,
        old_debs: vec![download(&work.join("old"), "unzip=6.0-28")],
        image: image_tar(),
        work,
    };
    check_lane(&lane);
}

#[test]
fn ca_certificates_1151413_exported_passes_on_the_fix_and_fails_on_the_old_package() {
    let work = work("ca-certificates");
    // A native package: the fix is the tree's own files, the entry dch writes.
    let _ = cached_dsc("ca-certificates=20230311+deb12u1");
    let tree = unpack("ca-certificates=20230311+deb12u1", &work, "tree", false);
    common::ca_certificates_1151413_fix(&tree);
    let plan = root().join("tests/data/export_dep8/deb-1151413-ca-certificates-install.toml");
    let o = run(srukit().arg("--json").args(["export", "dep8"]).arg(&plan).arg("--into").arg(&tree));
    ok(&o, "srukit export dep8");
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["tests"].as_array().unwrap().len(), 2, "{doc:#}");
    // A re-export replaces its block: the control file is the same bytes.
    let once = std::fs::read(tree.join("debian/tests/control")).unwrap();
    ok(&run(srukit().args(["export", "dep8"]).arg(&plan).arg("--into").arg(&tree)), "re-export");
    assert_eq!(std::fs::read(tree.join("debian/tests/control")).unwrap(), once);
    let (dsc, new_debs) = build(&tree, &work.join("after"));
    let lane = Lane {
        plan: "deb-1151413-ca-certificates-install",
        phases: &["default", "local-ca"],
        dsc,
        new_debs,
        old_debs: vec![download(&work.join("old"), "ca-certificates=20230311+deb12u1")],
        image: image_tar(),
        work,
    };
    check_lane(&lane);
}

/// A plan the export cannot run as srukit does is refused at its line, and nothing is
/// written into the tree.
#[test]
fn refusals_name_the_plan_line_and_write_nothing() {
    let work = work("refusals");
    let tree = work.join("tree");
    std::fs::create_dir_all(tree.join("debian")).unwrap();
    std::fs::write(tree.join("debian/changelog"), "x (1.0-2) unstable; urgency=medium\n\n  * Fix.\n\n -- A B <a@b.c>  Mon, 30 Nov 2026 12:00:00 +0000\n").unwrap();
    std::fs::write(tree.join("debian/control"), "Source: x\n\nPackage: x\nArchitecture: all\n").unwrap();
    let plan_dir = root().join("target/export-dep8-refusals");
    std::fs::create_dir_all(&plan_dir).unwrap();
    let base = "name = \"p\"\ntestbed = \"bookworm-lanes\"\ninstall = [\"x\"]\n[[phase]]\nname = \"default\"\n[[check]]\nid = \"c\"\ncommand = { run = [\"x\"] }\noutcomes.ok = { exit = 0, stdout = [\"/^ok$/\"] }\noutcomes.bad = { exit = 1 }\n[expect.\"*\".\"*\"]\nc = \"ok\"\n";
    let cases: &[(&str, &str, &str)] = &[
        ("\"/^ok$/\"", "\"/^\\\\d+$/\"", ":9: outcome `ok` of check `c`: pattern `/^\\d+$/`"),
        ("install = [\"x\"]", "install = [\"y\"]", ":3: install names `y`"),
        (
            "[[check]]\nid = \"c\"",
            "[[check]]\nid = \"w\"\niscsi = { wce = {} }\n[[check]]\nid = \"c\"",
            "iscsi",
        ),
        ("[[check]]", "[[step]]\nname = \"up\"\nupgrade = {}\n[[check]]", ":7: step `up`: `upgrade`"),
    ];
    for (from, to, want) in cases {
        let plan = plan_dir.join("plan.toml");
        std::fs::write(&plan, base.replacen(from, to, 1)).unwrap();
        let o = run(srukit().args(["export", "dep8"]).arg(&plan).arg("--into").arg(&tree));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{to}: {err}");
        assert!(err.contains(want), "want {want}\n got {err}");
        assert!(!tree.join("debian/tests").exists(), "{to}: something was written");
    }
    // The base plan exports.
    std::fs::write(plan_dir.join("plan.toml"), base).unwrap();
    ok(
        &run(srukit().args(["export", "dep8"]).arg(plan_dir.join("plan.toml")).arg("--into").arg(&tree)),
        "export",
    );
    assert!(tree.join("debian/tests/srukit-p-default").exists());
}

/// Every generic family but service, every edit kind, two observation points, `user`,
/// `stdin` and a death by signal: the exported script run by dash in a fresh bookworm-lanes
/// testbed (no autopkgtest around it) observes what srukit's families observe.
#[test]
fn the_exported_script_observes_every_family_in_a_testbed() {
    let work = work("families");
    let tree = work.join("tree");
    std::fs::create_dir_all(tree.join("debian")).unwrap();
    std::fs::write(
        tree.join("debian/changelog"),
        "x (1.0-2) unstable; urgency=medium\n\n  * Fix.\n\n -- A B <a@b.c>  Mon, 30 Nov 2026 12:00:00 +0000\n",
    )
    .unwrap();
    std::fs::write(tree.join("debian/control"), "Source: x\n\nPackage: x\nArchitecture: all\n").unwrap();
    let plan = root().join("tests/data/export_dep8/families.toml");
    let o = run(srukit().args(["export", "dep8"]).arg(&plan).arg("--into").arg(&tree));
    ok(&o, "export");
    let script = std::fs::read_to_string(tree.join("debian/tests/srukit-families-edited")).unwrap();
    let side = |side: &str| {
        let o = run(srukit()
            .args(["testbed", "exec", "bookworm-lanes", "--", "sh", "-c"])
            .arg("SRUKIT_SIDE=$1 AUTOPKGTEST_ARTIFACTS=/tmp/art dash -c \"$2\" >/tmp/out 2>/tmp/err; echo \"rc=$?\"; cat /tmp/art/srukit-families-edited.json; echo; cat /tmp/err")
            .args(["sh", side, &script]));
        ok(&o, "testbed exec");
        let out = text(&o.stdout);
        let mut lines = out.lines();
        let rc = lines.next().unwrap().to_string();
        let json: serde_json::Value =
            serde_json::from_str(lines.next().unwrap()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(lines.collect::<Vec<_>>().join("\n").trim(), "", "the test wrote to stderr");
        (rc, json)
    };
    let outcome = |j: &serde_json::Value, id: &str| -> Vec<String> {
        let c = j["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap();
        c["observations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["outcome"].as_str().unwrap().to_string())
            .collect()
    };
    let (rc, after) = side("after");
    assert_eq!(rc, "rc=0", "{after:#}");
    assert_eq!(after["verdict"], "pass");
    for (id, want) in [
        ("conf", ["tuned", "tuned"]),
        ("default", ["set", "set"]),
        ("removed", ["gone", "gone"]),
        ("log", ["warned", "warned"]),
        ("stdin", ["nobody", "nobody"]),
        ("side", ["once", "once"]),
        ("dies", ["segv", "segv"]),
        ("port", ["down", "down"]),
        ("pkg", ["any", "any"]),
        ("late", ["absent", "present"]),
    ] {
        assert_eq!(outcome(&after, id), want, "{id}: {after:#}");
    }
    // The before side expects a quiet log: the same observation fails it.
    let (rc, before) = side("before");
    assert_eq!(rc, "rc=1", "{before:#}");
    assert_eq!(before["verdict"], "fail");
    let log = before["checks"].as_array().unwrap().iter().find(|c| c["id"] == "log").unwrap();
    assert_eq!(
        (log["expected"].as_str(), log["result"].as_str()),
        (Some("quiet"), Some("fail")),
        "{before:#}"
    );
}
