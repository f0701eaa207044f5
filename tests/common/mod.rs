//! Shared by the build tests: real Debian source packages, downloaded once with
//! `apt-get source --download-only` (pinned: `NAME/bookworm` or `NAME=VERSION`) into
//! `${XDG_CACHE_HOME:-~/.cache}/srukit/sources/<spec>/`
//! (the layout the patch engine's tests use too), and unpacked per test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
    base.join("srukit")
}

/// The suite a bare package name is taken from: Debian 12's point release, so an archive
/// update or another machine's deb-src entries never change what a test tests.
pub const SUITE: &str = "bookworm";

/// What `apt-get source` is asked for: `NAME=VERSION` or `NAME/SUITE` as given, a bare `NAME`
/// from [`SUITE`]. Its cache entry is `sources/<spec>` (`/` written `@`).
pub fn source_spec(name: &str) -> String {
    if name.contains(['=', '/']) { name.to_string() } else { format!("{name}/{SUITE}") }
}

/// The cached .dsc of a Debian source package (`NAME`, `NAME=VERSION` or `NAME/SUITE`),
/// downloading it the first time.
pub fn cached_dsc(name: &str) -> PathBuf {
    let spec = source_spec(name);
    let dir = cache_dir().join("sources").join(spec.replace('/', "@"));
    if let Some(dsc) = find_dsc(&dir) {
        return dsc;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("apt-get")
        .args(["source", "--download-only", "-q", &spec])
        .current_dir(&dir)
        .status()
        .expect("apt-get runs")
        .success();
    assert!(ok, "apt-get source --download-only {spec} (needs deb-src: scripts/setup.sh)");
    find_dsc(&dir).expect("a .dsc after download")
}

/// The .dsc in a cache entry, if it is there.
pub fn find_dsc(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "dsc"))
}

/// Unpacks a cached source package into `parent/<dirname>`; the orig tarball lands beside
/// it, as `dpkg-source -x` does.
pub fn unpack(name: &str, parent: &Path, dirname: &str, skip_patches: bool) -> PathBuf {
    let dsc = cached_dsc(name);
    let mut c = Command::new("dpkg-source");
    c.args(["--no-check", "-x"]);
    if skip_patches {
        c.arg("--skip-patches");
    }
    let out = c.arg(&dsc).arg(dirname).current_dir(parent).output().unwrap();
    assert!(out.status.success(), "dpkg-source -x: {}", String::from_utf8_lossy(&out.stderr));
    parent.join(dirname)
}

pub fn srukit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_srukit")).args(args).output().expect("srukit runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn manifest(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest is JSON")
}

pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

/// The names in a directory, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The manifest's file entries of one kind.
pub fn files_of(m: &serde_json::Value, kind: &str) -> Vec<String> {
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every path under a directory with its size and mtime: equal snapshots mean nothing was
/// written there.
pub fn snapshot(dir: &Path) -> Vec<String> {
    let out = Command::new("find").arg(dir).args(["-printf", "%P %s %T@\\n"]).output().unwrap();
    let mut v: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// Writes `root/rel`, creating its directories.
pub fn write_file(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// A tiny native debhelper package whose Build-Depends the bookworm-build image already
/// has, so its binary build needs no network. `fail_build` makes debian/rules fail.
pub fn probe_package(parent: &Path, fail_build: bool) -> PathBuf {
    let tree = parent.join("srukit-probe-1.1");
    let w = |rel: &str, body: &str| write_file(&tree, rel, body);
    w(
        "debian/control",
        "Source: srukit-probe\nSection: misc\nPriority: optional\nMaintainer: srukit tests <srukit@example.org>\n\
         Build-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\nRules-Requires-Root: no\n\n\
         Package: srukit-probe\nArchitecture: all\nDepends: ${misc:Depends}\n\
         Description: test package for srukit build\n A file in /usr/share/srukit-probe.\n",
    );
    w(
        "debian/changelog",
        "srukit-probe (1.1) bookworm; urgency=medium\n\n  * Second.\n\n -- srukit tests <srukit@example.org>  Tue, 24 Nov 2026 10:00:00 +0000\n\n\
         srukit-probe (1.0) bookworm; urgency=medium\n\n  * First.\n\n -- srukit tests <srukit@example.org>  Mon, 23 Nov 2026 10:00:00 +0000\n",
    );
    let fail = if fail_build { "\techo srukit-probe-deliberate-failure >&2; exit 3\n" } else { "\ttrue\n" };
    w(
        "debian/rules",
        &format!(
            "#!/usr/bin/make -f\n%:\n\tdh $@\n\noverride_dh_auto_build:\n{fail}\n\
             override_dh_auto_install:\n\tmkdir -p debian/srukit-probe/usr/share/srukit-probe\n\
             \techo probe > debian/srukit-probe/usr/share/srukit-probe/probe\n"
        ),
    );
    w("debian/source/format", "3.0 (native)\n");
    w(
        "debian/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: none\nLicense: CC0-1.0\n",
    );
    w("README", "probe\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tree.join("debian/rules"), std::fs::Permissions::from_mode(0o755)).unwrap();
    tree
}

/// A copy of the flagship fixture (`testbeds/fixtures/cinder-icehouse`) at
/// `PARENT/cinder-2014.1.5`, with its orig made beside it by the fixture's own reproducible
/// `make-orig.sh`.
pub fn cinder_fixture_with_orig(parent: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tree = parent.join("cinder-2014.1.5");
    let cp = Command::new("cp")
        .arg("-a")
        .arg(repo.join("testbeds/fixtures/cinder-icehouse"))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(cp.success());
    let mk = Command::new("bash")
        .arg(repo.join("testbeds/fixtures/make-orig.sh"))
        .arg(&tree)
        .arg(parent)
        .output()
        .unwrap();
    assert!(mk.status.success(), "{}", text(&mk.stderr));
    tree
}

/// ca-certificates #1151413 fixed in a 20230311+deb12u1 tree: the two roots added to
/// mozilla/blacklist.txt and dch's entry for 20230311+deb12u2 (a native package: the fix is
/// the tree's own files, no quilt patch).
pub fn ca_certificates_1151413_fix(tree: &Path) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fix = std::fs::read_to_string(root.join("tests/data/export_dep8/blacklist-1151413.txt")).unwrap();
    let mut blacklist = std::fs::read_to_string(tree.join("mozilla/blacklist.txt")).unwrap();
    blacklist.push_str(&fix);
    std::fs::write(tree.join("mozilla/blacklist.txt"), blacklist).unwrap();
    let o = Command::new("dch")
        .args([
            "--newversion",
            "20230311+deb12u2",
            "--distribution",
            "bookworm-security",
            "--force-distribution",
        ])
        .arg("Distrust emSign ECC Root CA - G3 and Comodo AAA Services root (Closes: #1151413)")
        .env("DEBFULLNAME", "srukit lanes")
        .env("DEBEMAIL", "srukit@example.org")
        .current_dir(tree)
        .output()
        .unwrap();
    assert!(o.status.success(), "dch: {}", String::from_utf8_lossy(&o.stderr));
}
