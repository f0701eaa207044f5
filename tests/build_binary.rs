//! `srukit build` with binaries, in a fresh bookworm-build testbed: Debian's hello (whose
//! Build-Depends the image lacks: apt in a host-network testbed), a native package the image
//! can build offline, and a build that fails.

mod common;

use common::*;
use std::path::Path;

fn build(tree: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["build", "--tree", tree.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    srukit(&args)
}

fn deb_field(deb: &Path, field: &str) -> String {
    let out = std::process::Command::new("dpkg-deb").arg("-f").arg(deb).arg(field).output().unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn hello_source_and_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = unpack("hello", tmp.path(), "hello-2.10", false);
    let out = tmp.path().join("out");
    let r = build(&tree, &out, &[]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let m = manifest(&out);
    assert_eq!(m["architectures"], serde_json::json!(["source", "amd64"]));
    assert_eq!(files_of(&m, "deb").iter().filter(|d| *d == "hello_2.10-3_amd64.deb").count(), 1, "{m}");
    assert_eq!(files_of(&m, "buildinfo"), ["hello_2.10-3_amd64.buildinfo"]);
    assert_eq!(files_of(&m, "changes"), ["hello_2.10-3_amd64.changes"]);
    assert_eq!(files_of(&m, "source-changes"), ["hello_2.10-3_source.changes"]);
    let tb = &m["testbed"];
    assert_eq!(tb["name"], "bookworm-build");
    assert!(tb["image_hash"].as_str().unwrap().len() >= 12, "{tb}");
    // The image has no texinfo or help2man: apt installed them in a host-network testbed.
    assert_eq!(tb["build_deps"], "apt");
    let installed: Vec<&str> =
        tb["installed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(installed.contains(&"texinfo") && installed.contains(&"help2man"), "{installed:?}");
    let deb = out.join("hello_2.10-3_amd64.deb");
    assert_eq!(deb_field(&deb, "Version"), "2.10-3");
    assert_eq!(deb_field(&deb, "Architecture"), "amd64");
    for f in m["files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap(), sha256sum(&out.join(f["name"].as_str().unwrap())));
    }
    let log = std::fs::read_to_string(out.join("logs/binary.log")).unwrap();
    assert!(log.contains("dpkg-buildpackage -b -us -uc -rfakeroot"), "{log}");
    assert!(log.contains("dpkg-buildpackage: info: binary-only upload"), "{log}");
    assert!(m["timings"]["binary"].as_f64().unwrap() > 0.0);
}

#[test]
fn native_package_builds_offline_then_a_failing_build_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = probe_package(tmp.path(), false);
    let out = tmp.path().join("out");
    let r = build(&tree, &out, &["--binary-only", "--lintian"]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let m = manifest(&out);
    assert_eq!(m["testbed"]["build_deps"], "image", "every Build-Depends is in the image: no network");
    assert_eq!(m["architectures"], serde_json::json!(["all"]));
    assert!(files_of(&m, "dsc").is_empty(), "--binary-only publishes no source package");
    let deb = out.join("srukit-probe_1.1_all.deb");
    assert_eq!(files_of(&m, "deb"), ["srukit-probe_1.1_all.deb"]);
    let contents = std::process::Command::new("dpkg-deb").arg("-c").arg(&deb).output().unwrap();
    assert!(text(&contents.stdout).contains("./usr/share/srukit-probe/probe"));
    // Built as the unprivileged build user; the .deb's files are root's all the same.
    let log = std::fs::read_to_string(out.join("logs/binary.log")).unwrap();
    assert!(log.contains("uid=1000(srukit-build)"), "{log}");
    assert!(text(&contents.stdout).lines().all(|l| l.contains(" root/root ")), "{}", text(&contents.stdout));
    // lintian on the .deb: counted, and parsed into tags.
    let l = &m["lintian"];
    let total: u64 = l["counts"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total as usize, l["tags"].as_array().unwrap().len());

    // Now debian/rules fails: exit 1, the failing command and the log's last lines, the log
    // kept, and the earlier manifest left as it was.
    let good = std::fs::read(out.join("manifest.json")).unwrap();
    let broken = tmp.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    let tree = probe_package(&broken, true);
    let fresh = tmp.path().join("fresh");
    for o in [&out, &fresh] {
        let r = build(&tree, o, &["--binary-only"]);
        assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
        let err = text(&r.stderr);
        assert!(err.contains("dpkg-buildpackage -b failed"), "{err}");
        assert!(err.contains("srukit-probe-deliberate-failure"), "{err}");
        let log = std::fs::read_to_string(o.join("failed/binary.log")).unwrap();
        assert!(log.contains("srukit-probe-deliberate-failure"), "{log}");
    }
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), good);
    assert!(!fresh.join("manifest.json").exists());
}
