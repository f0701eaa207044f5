//! The build's caches, end to end in the bookworm-build image: a native package whose
//! Build-Depends add jq (jq, libjq1, libonig5: not in the image, and no other test's set, so
//! this test owns its build-deps layer). Builds in a row reuse the layer (no apt at all);
//! with the layer gone, a build makes it again from the shared .deb cache without a download;
//! and a corrupted cache entry is found, removed and downloaded again, never installed.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn build(tree: &Path, out: &Path) -> (serde_json::Value, String) {
    let r =
        srukit(&["build", "--binary-only", "--tree", tree.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let log = std::fs::read_to_string(out.join("logs/binary.log")).unwrap();
    (manifest(out), log)
}

fn layer_dir(key: &str) -> PathBuf {
    cache_dir().join("build-deps/layers").join(key)
}

/// `srukit: deb cache: FILE SHA256 from the cache|to download` lines: (file, sha256, where).
fn deb_lines(log: &str) -> Vec<(String, String, String)> {
    log.lines()
        .filter_map(|l| l.strip_prefix("srukit: deb cache: "))
        .filter_map(|l| {
            let mut f = l.splitn(3, ' ');
            let (file, sha, rest) = (f.next()?, f.next()?, f.next()?);
            (file.ends_with(".deb") && sha.len() == 64).then(|| (file.into(), sha.into(), rest.into()))
        })
        .collect()
}

#[test]
fn builds_reuse_the_layer_and_the_deb_cache_and_a_corrupt_entry_is_downloaded_again() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = probe_package(tmp.path(), false);
    let control = std::fs::read_to_string(tree.join("debian/control")).unwrap();
    std::fs::write(
        tree.join("debian/control"),
        control
            .replace("Build-Depends: debhelper-compat (= 13)", "Build-Depends: debhelper-compat (= 13), jq"),
    )
    .unwrap();
    let out = tmp.path().join("out");

    let (m, _) = build(&tree, &out);
    assert_eq!(m["testbed"]["build_deps"], "apt");
    let key = m["testbed"]["layer"].as_str().expect("a build-deps layer").to_string();

    // The layer gone: made again; afterwards every .deb of the set is in the shared cache.
    std::fs::remove_dir_all(layer_dir(&key)).unwrap();
    let (m, log) = build(&tree, &out);
    assert_eq!(m["testbed"]["layer"], key.as_str(), "the same packages on the same image: the same key");
    assert!(log.contains(&format!("build-deps layer {key}: making it")), "{log}");
    let debs = deb_lines(&log);
    assert_eq!(debs.len(), 3, "jq, libjq1, libonig5: {debs:?}");

    // Again: nothing to download, so apt fetches nothing.
    std::fs::remove_dir_all(layer_dir(&key)).unwrap();
    let (_, log) = build(&tree, &out);
    assert!(log.contains("3 of 3 .debs from the cache, 0 to download"), "{log}");
    assert!(!log.contains("apt-get --download-only"), "{log}");
    assert!(!log.lines().any(|l| l.starts_with("Get:")), "{log}");
    assert!(log.contains("Unpacking jq "), "{log}");

    // With the layer: no apt at all, and the build confirms the layer with dpkg-checkbuilddeps.
    let (_, log) = build(&tree, &out);
    assert!(log.contains(&format!("build-deps layer {key} reused")), "{log}");
    assert!(!log.contains("apt-get"), "{log}");
    assert!(log.contains("$ [testbed] dpkg-checkbuilddeps\nsrukit: status 0"), "{log}");

    // A corrupted entry: found when it is hashed before use, removed, downloaded again by apt
    // (the testbed never gets the corrupt bytes), and the store holds the archive's file again.
    let (file, sha, _) = debs.iter().find(|(f, _, _)| f.starts_with("jq_")).unwrap().clone();
    let entry = cache_dir().join("debs").join(format!("{sha}.deb"));
    let mut bytes = std::fs::read(&entry).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    std::fs::remove_dir_all(layer_dir(&key)).unwrap();
    let (_, log) = build(&tree, &out);
    assert!(log.contains(&format!("{sha}.deb ({file}) is corrupt")), "{log}");
    assert!(log.contains("2 of 3 .debs from the cache, 1 to download"), "{log}");
    assert!(log.contains(&format!("{file} {sha} to download")), "{log}");
    assert!(!log.contains(&format!("{file} {sha} from the cache")), "{log}");
    assert!(log.lines().any(|l| l.starts_with("Get:") && l.contains(" jq ")), "{log}");
    assert!(log.contains("srukit: deb cache: stored 1 downloaded .debs"), "{log}");
    assert_eq!(sha256sum(&entry), sha);
}

/// `srukit testbed gc` and the build's caches, in a cache of its own: a layer made on an
/// image no longer cached goes (with its lock), one on a cached image stays; a .deb unused for
/// 40 days goes, a fresh one stays; half-written entries of a srukit that is gone go.
#[test]
fn gc_removes_layers_of_images_gone_and_debs_long_unused() {
    // A real image's meta.json, so the private cache holds an image gc keeps (the definition
    // still builds its hash).
    let r = srukit(&["testbed", "build", "bookworm-build"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let r = srukit(&["--json", "testbed", "list"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let images: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let image = images
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "bookworm-build"))
        .unwrap_or_else(|| panic!("bookworm-build in {images}"))
        .clone();
    let hash = image["hash"].as_str().unwrap();

    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("srukit");
    let img = cache.join("images").join(hash);
    std::fs::create_dir_all(&img).unwrap();
    std::fs::copy(Path::new(image["path"].as_str().unwrap()).join("meta.json"), img.join("meta.json"))
        .unwrap();

    let gone_pid = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let layers = cache.join("build-deps/layers");
    for (key, image) in [("kept", hash.to_string()), ("orphan", "f".repeat(64))] {
        std::fs::create_dir_all(layers.join(key).join("tree/usr")).unwrap();
        std::fs::write(
            layers.join(key).join("layer.json"),
            serde_json::json!({ "image": image }).to_string(),
        )
        .unwrap();
        std::fs::write(layers.join(format!("{key}.lock")), "").unwrap();
    }
    std::fs::create_dir_all(layers.join(format!(".tmp-{gone_pid}-half"))).unwrap();
    std::fs::create_dir_all(layers.join(format!(".tmp-{}-making", std::process::id()))).unwrap();
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    for name in ["old.deb", "fresh.deb", &format!(".tmp-{gone_pid}-x")] {
        std::fs::write(debs.join(name), "x").unwrap();
    }
    let forty_days = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(debs.join("old.deb"))
        .unwrap()
        .set_modified(forty_days)
        .unwrap();

    let r = std::process::Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["--json", "testbed", "gc"])
        .env("XDG_CACHE_HOME", home.path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let names = |k: &str| -> Vec<String> {
        let mut v: Vec<String> = report[k]
            .as_array()
            .unwrap_or_else(|| panic!("{k} in {report}"))
            .iter()
            .map(|p| Path::new(p.as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("build_deps_layers_removed"), [format!(".tmp-{gone_pid}-half"), "orphan".into()]);
    assert_eq!(names("debs_removed"), [format!(".tmp-{gone_pid}-x"), "old.deb".into()]);
    assert!(report["images_removed"].as_array().unwrap().is_empty(), "{report}");
    assert!(layers.join("kept/layer.json").is_file() && layers.join("kept.lock").is_file());
    assert!(!layers.join("orphan.lock").exists());
    assert!(layers.join(format!(".tmp-{}-making", std::process::id())).is_dir(), "a live maker's dir stays");
    assert!(debs.join("fresh.deb").is_file() && !debs.join("old.deb").exists());
}
