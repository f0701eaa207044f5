//! `srukit build --source-only` on real Debian source packages (hello, tgt): the orig
//! tarball found, searched for, or created reproducibly; patches applied or not; the
//! source-only .changes and its -v; lintian parsed; a failing build leaves no manifest.

mod common;

use common::*;
use std::path::Path;

fn build(tree: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args =
        vec!["build", "--source-only", "--tree", tree.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    srukit(&args)
}

#[test]
fn hello_source_upload_with_lintian() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = unpack("hello", tmp.path(), "hello-2.10", false);
    let before = listing(tmp.path());
    let tree_before = snapshot(&tree);
    let out = tmp.path().join("out");
    let r = build(&tree, &out, &["--lintian", "--json"]);
    assert!(r.status.success(), "{}\n{}", text(&r.stdout), text(&r.stderr));

    let m = manifest(&out);
    // --json prints the manifest, and only it, on stdout.
    let printed: serde_json::Value = serde_json::from_slice(&r.stdout).expect("stdout is one JSON document");
    assert_eq!(printed, m);
    assert_eq!(m["source"], "hello");
    assert_eq!(m["version"], "2.10-3");
    assert_eq!(m["distribution"], "unstable");
    assert_eq!(m["architectures"], serde_json::json!(["source"]));
    assert_eq!(m["since"], "2.10-2");
    assert_eq!(files_of(&m, "dsc"), ["hello_2.10-3.dsc"]);
    assert_eq!(files_of(&m, "debian-tarball"), ["hello_2.10-3.debian.tar.xz"]);
    assert_eq!(files_of(&m, "source-changes"), ["hello_2.10-3_source.changes"]);
    assert_eq!(files_of(&m, "orig"), ["hello_2.10.orig.tar.gz"]);
    for f in m["files"].as_array().unwrap() {
        let p = out.join(f["name"].as_str().unwrap());
        assert_eq!(f["sha256"].as_str().unwrap(), sha256sum(&p), "{p:?}");
        assert_eq!(f["size"].as_u64().unwrap(), std::fs::metadata(&p).unwrap().len());
    }
    assert_eq!(m["orig"]["origin"]["found"].as_str().unwrap(), tmp.path().to_str().unwrap());

    // A source-only upload covering exactly the newest entry.
    let changes = std::fs::read_to_string(out.join("hello_2.10-3_source.changes")).unwrap();
    assert!(changes.contains("\nArchitecture: source\n"), "{changes}");
    assert!(changes.contains(" hello (2.10-3) unstable"), "{changes}");
    assert!(!changes.contains(" hello (2.10-2)"), "{changes}");
    assert!(!changes.contains(".deb\n"), "{changes}");

    // lintian 2.116 on hello 2.10-3's source: four pedantic tags, among them no-dep5-copyright.
    let l = &m["lintian"];
    assert_eq!(l["counts"]["P"], 4, "{l}");
    assert_eq!(l["counts"]["E"], serde_json::Value::Null, "{l}");
    let tags = l["tags"].as_array().unwrap();
    assert!(
        tags.iter().any(|t| t["tag"] == "no-dep5-copyright"
            && t["severity"] == "P"
            && t["package"] == "hello source")
    );
    assert_eq!(tags.iter().filter(|t| t["tag"] == "license-problem-gfdl-non-official-text").count(), 3);
    assert!(out.join("logs/lintian.log").is_file() && out.join("logs/source.log").is_file());

    // Nothing was written beside or into the user's tree, and no staging is left.
    assert_eq!(
        listing(tmp.path()),
        before.into_iter().chain(["out".to_string()]).collect::<Vec<_>>().tap_sort()
    );
    assert_eq!(snapshot(&tree), tree_before);
    assert_eq!(
        listing(&out),
        [
            "hello_2.10-3.debian.tar.xz",
            "hello_2.10-3.dsc",
            "hello_2.10-3_source.changes",
            "hello_2.10.orig.tar.gz",
            "logs",
            "manifest.json"
        ]
    );
}

trait TapSort {
    fn tap_sort(self) -> Self;
}
impl TapSort for Vec<String> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}

#[test]
fn orig_searched_in_orig_dir_then_created_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = unpack("hello", tmp.path(), "hello-2.10", false);
    let stash = tmp.path().join("stash");
    std::fs::create_dir(&stash).unwrap();
    std::fs::rename(tmp.path().join("hello_2.10.orig.tar.gz"), stash.join("hello_2.10.orig.tar.gz")).unwrap();

    // --orig-dir is searched; --since widens the .changes to two entries.
    let out = tmp.path().join("out1");
    let r = build(&tree, &out, &["--orig-dir", stash.to_str().unwrap(), "--since", "2.10-1"]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let m = manifest(&out);
    assert_eq!(m["orig"]["origin"]["found"].as_str().unwrap(), stash.to_str().unwrap());
    assert!(out.join("hello_2.10.orig.tar.gz").is_file());
    assert_eq!(m["since"], "2.10-1");
    let changes = std::fs::read_to_string(out.join("hello_2.10-3_source.changes")).unwrap();
    assert!(changes.contains(" hello (2.10-3)") && changes.contains(" hello (2.10-2)"), "{changes}");
    assert!(!changes.contains(" hello (2.10-1)"), "{changes}");

    // A later build into the same --out replaces the earlier one: only what its manifest
    // lists is there.
    let r = build(&tree, &out, &["--binary-only", "--testbed", "no-such-testbed"]);
    assert_eq!(r.status.code(), Some(2), "an unknown testbed is bad input: {}", text(&r.stderr));
    assert!(out.join("manifest.json").is_file(), "a failure keeps the old build");
    let cl = tree.join("debian/changelog");
    let old = std::fs::read_to_string(&cl).unwrap();
    std::fs::write(
        &cl,
        format!(
            "hello (2.10-4) unstable; urgency=medium\n\n  * Next.\n\n \
        -- srukit tests <srukit@example.org>  Tue, 24 Nov 2026 10:00:00 +0000\n\n{old}"
        ),
    )
    .unwrap();
    let r = build(&tree, &out, &["--orig-dir", stash.to_str().unwrap()]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert_eq!(
        listing(&out),
        [
            "hello_2.10-4.debian.tar.xz",
            "hello_2.10-4.dsc",
            "hello_2.10-4_source.changes",
            "hello_2.10.orig.tar.gz",
            "logs",
            "manifest.json"
        ]
    );
    std::fs::write(&cl, old).unwrap();

    // No orig anywhere: created from the tree minus debian/, the same bytes every time.
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for o in [&a, &b] {
        let r = build(&tree, o, &[]);
        assert!(r.status.success(), "{}", text(&r.stderr));
    }
    let (ma, mb) = (manifest(&a), manifest(&b));
    assert_eq!(ma["orig"]["origin"]["created"]["mtime"], 1427021760, "2.10-1's date: {}", ma["orig"]);
    let sha = |m: &serde_json::Value| {
        m["files"].as_array().unwrap().iter().find(|f| f["kind"] == "orig").unwrap()["sha256"].clone()
    };
    assert_eq!(sha(&ma), sha(&mb));
    let list =
        std::process::Command::new("tar").arg("tzvf").arg(a.join("hello_2.10.orig.tar.gz")).output().unwrap();
    let list = text(&list.stdout);
    assert!(list.lines().all(|l| l.contains(" 0/0 ")), "{list}");
    assert!(list.contains(" hello-2.10/src/hello.c\n"), "{list}");
    assert!(!list.contains("hello-2.10/debian"), "{list}");
}

#[test]
fn tgt_builds_with_patches_applied_or_not() {
    let tmp = tempfile::tempdir().unwrap();
    let unapplied = unpack("tgt", tmp.path(), "unapplied", true);
    let applied = unpack("tgt", tmp.path(), "applied", false);
    assert!(applied.join(".pc/applied-patches").is_file());
    let mut debian_tarballs = Vec::new();
    for (tree, name) in [(&unapplied, "u"), (&applied, "a")] {
        let out = tmp.path().join(name);
        let r = build(tree, &out, &[]);
        assert!(r.status.success(), "{name}: {}", text(&r.stderr));
        let m = manifest(&out);
        assert_eq!(m["version"], "1:1.0.85-1+deb12u1");
        debian_tarballs.push(
            std::process::Command::new("tar")
                .arg("tJf")
                .arg(out.join("tgt_1.0.85-1+deb12u1.debian.tar.xz"))
                .output()
                .unwrap()
                .stdout,
        );
    }
    assert_eq!(debian_tarballs[0], debian_tarballs[1]);
    assert!(text(&debian_tarballs[0]).contains("debian/patches/0009-chap-Use-proper-entropy-source.patch"));
    // Still unapplied: dpkg-source applied the patches in srukit's copy, not in the tree.
    assert!(!unapplied.join(".pc").exists());

    // No orig anywhere: from the applied tree srukit unpatches a copy first, so the created
    // orig is the same as the one from the unapplied tree.
    std::fs::remove_file(tmp.path().join("tgt_1.0.85.orig.tar.gz")).unwrap();
    let mut shas = Vec::new();
    for (tree, name) in [(&unapplied, "cu"), (&applied, "ca")] {
        let out = tmp.path().join(name);
        let r = build(tree, &out, &[]);
        assert!(r.status.success(), "{name}: {}", text(&r.stderr));
        shas.push(sha256sum(&out.join("tgt_1.0.85.orig.tar.gz")));
    }
    assert_eq!(shas[0], shas[1]);
    assert_eq!(std::fs::read_to_string(applied.join(".pc/applied-patches")).unwrap().lines().count(), 9);
}

#[test]
fn failing_source_build_keeps_log_and_the_old_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = unpack("hello", tmp.path(), "hello-2.10", false);
    let out = tmp.path().join("out");

    // Fresh --out: exit 1, the log kept, no manifest.
    std::fs::create_dir_all(tree.join("debian/patches")).unwrap();
    std::fs::write(tree.join("debian/patches/series"), "broken.patch\n").unwrap();
    std::fs::write(
        tree.join("debian/patches/broken.patch"),
        "--- a/src/hello.c\n+++ b/src/hello.c\n@@ -1,1 +1,1 @@\n-no such line in hello.c\n+x\n",
    )
    .unwrap();
    let r = build(&tree, &out, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    let err = text(&r.stderr);
    assert!(err.contains("dpkg-source -b failed: `(cd "), "{err}");
    assert!(err.contains("broken.patch"), "the log's last lines: {err}");
    let log = out.join("failed/source.log");
    assert!(err.contains(log.to_str().unwrap()), "{err}");
    assert!(std::fs::read_to_string(&log).unwrap().contains(" && dpkg-source -b hello-2.10"));
    assert!(!out.join("manifest.json").exists());
    assert!(!out.join(".staging").exists());

    // A good build, then a failing one into the same --out: the good one stays whole.
    std::fs::remove_dir_all(tree.join("debian/patches")).unwrap();
    let r = build(&tree, &out, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    assert!(!out.join("failed").exists(), "a success clears an old failure");
    let good = std::fs::read(out.join("manifest.json")).unwrap();
    std::fs::write(tree.join("debian/source/format"), "3.0 (no such format)\n").unwrap();
    let r = build(&tree, &out, &[]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r.stderr));
    assert_eq!(std::fs::read(out.join("manifest.json")).unwrap(), good);
    assert!(out.join("failed/source.log").is_file());
    let m = manifest(&out);
    for f in m["files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap(), sha256sum(&out.join(f["name"].as_str().unwrap())));
    }
}

#[test]
fn bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let r = build(tmp.path(), &tmp.path().join("out"), &[]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("no debian/control"), "{}", text(&r.stderr));
    let tree = unpack("hello", tmp.path(), "hello-2.10", false);
    let r = build(&tree, &tmp.path().join("out"), &["--since", "1.0-"]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    let r = build(&tree, &tree.join("out"), &[]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("is inside the tree"), "{}", text(&r.stderr));
}

#[test]
fn sign_runs_debsign_with_the_given_key() {
    let tmp = tempfile::tempdir().unwrap();
    let gnupg = tmp.path().join("gnupg");
    std::fs::create_dir(&gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    let keygen = std::process::Command::new("gpg")
        .env("GNUPGHOME", &gnupg)
        .args([
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "srukit test <srukit-test@example.org>",
            "ed25519",
            "sign",
            "never",
        ])
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    let tree = probe_package(tmp.path(), false);
    let out = tmp.path().join("out");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_srukit"))
        .env("GNUPGHOME", &gnupg)
        .args(["build", "--source-only", "--sign", "srukit-test@example.org", "--tree"])
        .arg(&tree)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", text(&r.stderr));
    let m = manifest(&out);
    assert_eq!(m["signed"], true);
    assert!(m["orig"].is_null(), "a native package has no orig");
    assert_eq!(files_of(&m, "native-tarball"), ["srukit-probe_1.1.tar.xz"]);
    for name in ["srukit-probe_1.1_source.changes", "srukit-probe_1.1.dsc"] {
        let p = out.join(name);
        assert!(
            std::fs::read_to_string(&p).unwrap().starts_with("-----BEGIN PGP SIGNED MESSAGE-----"),
            "{name}"
        );
        let v = std::process::Command::new("gpg")
            .env("GNUPGHOME", &gnupg)
            .arg("--verify")
            .arg(&p)
            .output()
            .unwrap();
        assert!(v.status.success(), "{name}: {}", text(&v.stderr));
    }
    // The manifest hashes the signed files, as they are in --out.
    for f in m["files"].as_array().unwrap() {
        assert_eq!(f["sha256"].as_str().unwrap(), sha256sum(&out.join(f["name"].as_str().unwrap())));
    }
    // The gpg-agent this test's GNUPGHOME started does not outlive the test.
    let _ =
        std::process::Command::new("gpgconf").env("GNUPGHOME", &gnupg).args(["--kill", "gpg-agent"]).status();
}

/// A native package built from a checkout: what debian/source/options tar-ignores (and, with
/// a bare `tar-ignore`, dpkg's default list: .git, *.o) is neither copied nor packed, and the
/// tarball lists exactly what `dpkg-source -b` on the user's own tree packs.
#[test]
fn native_source_leaves_out_what_dpkg_source_ignores() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = probe_package(tmp.path(), false);
    let w = |rel: &str, body: &str| write_file(&tree, rel, body);
    w("debian/source/options", "tar-ignore\ntar-ignore = build-out\n");
    w(".git/HEAD", "ref: refs/heads/main\n");
    w("build-out/big.bin", "not for the source package\n");
    w("src/a.o", "object\n");
    w("src/target/kept.rs", "// a directory named like a build dir, below the top: kept\n");
    w("src/main.c", "int main(void) { return 0; }\n");
    // A socket cannot be copied: the build fails if the staging copy enters build-out/.
    let _sock = std::os::unix::net::UnixListener::bind(tree.join("build-out/daemon.sock")).unwrap();
    // --out inside the tree: refused where the copy would take it in, accepted in a
    // tar-ignored dir (as `make deb` writes srukit-out/deb in srukit's own checkout).
    let r = build(&tree, &tree.join("src/out"), &[]);
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("is inside the tree"), "{}", text(&r.stderr));
    assert!(!tree.join("src/out").exists(), "a refused build writes nothing into the tree");
    let out = tree.join("build-out/pkg");
    let r = build(&tree, &out, &[]);
    assert!(r.status.success(), "{}", text(&r.stderr));
    let members = |tarball: &Path| -> Vec<String> {
        let o = std::process::Command::new("tar").arg("-tJf").arg(tarball).output().unwrap();
        assert!(o.status.success());
        let mut v: Vec<String> = text(&o.stdout)
            .lines()
            .map(|l| l.split_once('/').map(|(_, r)| r.trim_end_matches('/').to_string()).unwrap_or_default())
            .filter(|l| !l.is_empty())
            .collect();
        v.sort();
        v
    };
    let ours = members(&out.join("srukit-probe_1.1.tar.xz"));
    for absent in [".git", ".git/HEAD", "build-out", "build-out/big.bin", "src/a.o"] {
        assert!(!ours.iter().any(|m| m == absent), "{absent} packed: {ours:?}");
    }
    assert!(ours.iter().any(|m| m == "src/target/kept.rs") && ours.iter().any(|m| m == "src/main.c"));
    // dpkg-source itself on a copy of the user's tree packs the same names.
    let theirs_dir = tmp.path().join("dpkg");
    std::fs::create_dir(&theirs_dir).unwrap();
    let cp = std::process::Command::new("cp").arg("-a").arg(&tree).arg(&theirs_dir).status().unwrap();
    assert!(cp.success());
    let b = std::process::Command::new("dpkg-source")
        .args(["-b", "srukit-probe-1.1"])
        .current_dir(&theirs_dir)
        .output()
        .unwrap();
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert_eq!(ours, members(&theirs_dir.join("srukit-probe_1.1.tar.xz")));
}
