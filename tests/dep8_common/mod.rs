//! Shared by the DEP-8 tests (dep8_suites, and the gate and export tests that run the real
//! autopkgtest): pinned Debian source packages fetched once into the cache, a PATH dir that
//! names srukit `autopkgtest-virt-srukit`, the image tarball `-- unshare -t` takes, running
//! autopkgtest against a virt server, and reading its summary.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

// The cache every real-package test shares; a test using this module also declares `mod common;`.
pub use crate::common::{cache_dir, find_dsc};

/// The .dsc of source `name` at exactly `version` from `suite`, downloaded the first time with
/// `apt-get source --download-only NAME/SUITE` into `sources/NAME=VERSION/` (the layout the
/// other real-package tests use). Not `NAME=VERSION`: where a binary package shares the
/// source's name, apt looks that version up among the binary's versions (brotli=1.0.9-2 finds
/// the binary's 1.0.9-2+deb12u1 and fails). The .dsc's Version must be the pinned one: a
/// point release that moved the suite fails here, by name, not later in a test. The download
/// goes to a temp dir renamed into place, so a failed or concurrent download never leaves a
/// half-filled cache entry behind.
pub fn pinned_dsc(name: &str, suite: &str, version: &str) -> PathBuf {
    let sources = cache_dir().join("sources");
    let dir = sources.join(format!("{name}={version}"));
    if let Some(dsc) = find_dsc(&dir) {
        return dsc;
    }
    std::fs::create_dir_all(&sources).unwrap();
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}-")).tempdir_in(&sources).unwrap();
    let out = Command::new("apt-get")
        .args(["source", "--download-only", "-q"])
        .arg(format!("{name}/{suite}"))
        .current_dir(tmp.path())
        .output()
        .expect("apt-get runs");
    assert!(
        out.status.success(),
        "apt-get source --download-only {name}/{suite} (needs deb-src for {suite}: scripts/setup.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dsc = find_dsc(tmp.path()).unwrap_or_else(|| panic!("no .dsc for {name}/{suite}"));
    let text = std::fs::read_to_string(&dsc).unwrap();
    let got = text.lines().find_map(|l| l.strip_prefix("Version: ")).unwrap_or_default().trim();
    assert_eq!(got, version, "{name}/{suite} is no longer the pinned version ({})", dsc.display());
    // Another test binary may have won the race: keep its copy.
    if std::fs::rename(tmp.path(), &dir).is_ok() {
        std::mem::forget(tmp);
    }
    find_dsc(&dir).unwrap_or_else(|| panic!("no .dsc in {} after download", dir.display()))
}

/// Unpacks `dsc` into `parent/src` (`dpkg-source -x`, patches applied), as autopkgtest
/// unpacks it for the tests.
pub fn unpack(dsc: &Path, parent: &Path) -> PathBuf {
    let out = Command::new("dpkg-source")
        .args(["--no-check", "-x"])
        .arg(dsc)
        .arg("src")
        .current_dir(parent)
        .output()
        .expect("dpkg-source runs");
    assert!(
        out.status.success(),
        "dpkg-source -x {}: {}",
        dsc.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parent.join("src")
}

/// The `debian/tests/control` autopkgtest uses for an unpacked source: the package's own, or
/// what autodep8 generates from its `Testsuite: autopkgtest-pkg-*` (as autopkgtest does).
pub fn tests_control(src: &Path) -> String {
    if let Ok(own) = std::fs::read_to_string(src.join("debian/tests/control")) {
        return own;
    }
    let out = Command::new("autodep8").current_dir(src).output().expect("autodep8 runs (scripts/setup.sh)");
    assert!(out.status.success(), "autodep8 in {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The restrictions of the stanza that defines `test` (by `Tests:` or `Features:
/// test-name=`) in a tests control file.
pub fn restrictions_of(control: &str, test: &str) -> Vec<String> {
    let sep = |c: char| c == ',' || c.is_whitespace();
    let deb: deb822_lossless::Deb822 = control.parse().expect("tests control parses");
    let stanza = deb
        .paragraphs()
        .find(|p| {
            let names = p.get("Tests").unwrap_or_default();
            let features = p.get("Features").unwrap_or_default();
            names.split(sep).any(|n| n == test)
                || features.split(sep).any(|f| f == format!("test-name={test}"))
        })
        .unwrap_or_else(|| panic!("no stanza for {test} in:\n{control}"));
    stanza
        .get("Restrictions")
        .unwrap_or_default()
        .split(sep)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// A dir holding `autopkgtest-virt-srukit -> target/release/srukit`, to put first on PATH:
/// autopkgtest finds the server `-- srukit` names as `autopkgtest-virt-srukit` on PATH, as
/// it will once srukit's .deb installs that link in /usr/bin.
pub fn virt_bin_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("srukit-virt-bin-").tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_srukit"), dir.path().join("autopkgtest-virt-srukit"))
        .unwrap();
    dir
}

/// PATH with `dir` first.
pub fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap()
}

/// Builds (or finds cached) the srukit image of testbed definition `def` and returns the
/// mmdebstrap tarball kept beside it: the image `-- unshare -t` takes, so both servers start
/// from the same tree.
pub fn image_tarball(def: &str) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["--json", "testbed", "build", def])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("srukit runs");
    assert!(out.status.success(), "srukit testbed build {def}: {}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("testbed build --json");
    let tar = PathBuf::from(doc["tarball"].as_str().expect("a tarball in testbed build --json"));
    assert!(tar.is_file(), "{} is missing", tar.display());
    tar
}

/// One autopkgtest run: its exit code, the summary's (test, result) rows, how long it took.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub results: Vec<(String, String)>,
    pub out: PathBuf,
    pub secs: f64,
}

impl Run {
    /// The result word of `test` (PASS, FAIL, SKIP, FLAKY, ...), if the summary names it.
    pub fn result(&self, test: &str) -> Option<&str> {
        self.results.iter().find(|(t, _)| t == test).map(|(_, r)| r.as_str())
    }

    /// A file autopkgtest wrote into the output dir, empty if absent.
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name)).unwrap_or_default()
    }
}

/// Runs `autopkgtest -B DSC --output-dir OUT -- SERVER...` with `bin_dir` first on PATH and
/// reads the summary. `-B`: the tests run on the binaries from the testbed's apt, not on a
/// build of the source in the testbed (minutes; none of the suites is `build-needed`).
pub fn autopkgtest(dsc: &Path, out: &Path, bin_dir: &Path, server: &[&str]) -> Run {
    let started = Instant::now();
    let status = Command::new("autopkgtest")
        .arg("-B")
        .arg(dsc)
        .arg("--output-dir")
        .arg(out)
        .arg("--")
        .args(server)
        .env("PATH", path_with(bin_dir))
        .stdout(std::fs::File::create(out.with_extension("stdout")).unwrap())
        .stderr(std::fs::File::create(out.with_extension("stderr")).unwrap())
        .status()
        .expect("autopkgtest runs (scripts/setup.sh installs it)");
    let secs = started.elapsed().as_secs_f64();
    let summary = std::fs::read_to_string(out.join("summary")).unwrap_or_default();
    Run { code: status.code().unwrap_or(-1), results: parse_summary(&summary), out: out.into(), secs }
}

/// autopkgtest's summary (`man autopkgtest`): one line per test, `NAME RESULT [details]`; test
/// names hold no spaces, so the first two words are the name and the result.
pub fn parse_summary(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

#[test]
fn parse_summary_reads_name_and_result() {
    let s = "python3              PASS\nsmoke                PASS (superficial)\n\
             upstream-isolation   SKIP Test restriction \"isolation-machine\" requires testbed capability \"isolation-machine\"\n\
             t                    FAIL non-zero exit status 1\n";
    assert_eq!(
        parse_summary(s),
        [("python3", "PASS"), ("smoke", "PASS"), ("upstream-isolation", "SKIP"), ("t", "FAIL")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
}
