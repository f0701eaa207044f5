//! Shared by the `srukit verify` end-to-end tests (verify_binding, verify_inputs, verify_e2e):
//! the binary under test, a per-binary work dir, running and reading srukit, the flagship
//! plan, check outcomes, and building the cinder-icehouse fixture to binaries.

// Each test binary uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn srukit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_srukit"))
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test binary's own tempdir under CARGO_TARGET_TMPDIR, made on first use. This module
/// is compiled into each test binary apart, so the dir is one per binary; the binary passes
/// the same `prefix` on every call (the first one names the dir).
pub fn work(prefix: &str) -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new().prefix(prefix).tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
    })
    .path()
}

/// Runs `cmd`, echoing its stderr into the test's output.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("srukit runs");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn json_of(out: &Output) -> serde_json::Value {
    // One document (verify), or events with the summary on the last line (run --json).
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|_| {
        let last =
            text.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {text}"));
        serde_json::from_str(last).unwrap()
    })
}

pub fn flagship_plan() -> PathBuf {
    root().join("patches/lp1336568-iscsi-write-cache/verify.toml")
}

/// Runs `srukit --json verify PLAN` into `work/name`, the after side only when `before` is
/// `None`; the caller reads the JSON (each test binary its own way).
pub fn verify_output(work: &Path, plan: &Path, before: Option<&Path>, after: &str, name: &str) -> Output {
    let out = work.join(name);
    let mut cmd = srukit();
    cmd.arg("--json").arg("verify").arg(plan).arg("--after").arg(after).arg("--out").arg(&out);
    match before {
        Some(b) => cmd.arg("--before").arg(b),
        None => cmd.args(["--only", "after"]),
    };
    run(&mut cmd)
}

/// The run of one (side, phase) in a result.json.
pub fn run_of<'a>(doc: &'a serde_json::Value, side: &str, phase: &str) -> &'a serde_json::Value {
    doc["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs: {doc:#}"))
        .iter()
        .find(|r| r["side"] == side && r["phase"] == phase)
        .unwrap_or_else(|| panic!("no run {side}/{phase}: {doc:#}"))
}

/// The check outcomes of one (side, phase) as `id=outcome:observed`.
pub fn checks(doc: &serde_json::Value, side: &str, phase: &str) -> Vec<String> {
    run_of(doc, side, phase)["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}={}:{}",
                c["id"].as_str().unwrap(),
                c["outcome"].as_str().unwrap(),
                c["observed"].as_str().unwrap()
            )
        })
        .collect()
}

/// A fresh copy of the cinder-icehouse fixture at `work/tree-<name>`.
pub fn fixture_tree(work: &Path, name: &str) -> PathBuf {
    let tree = work.join(format!("tree-{name}"));
    let o = Command::new("cp")
        .arg("-a")
        .arg(root().join("testbeds/fixtures/cinder-icehouse"))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(o.success());
    tree
}

/// `srukit build --binary-only` of `tree` into `work/build-<name>`.
pub fn build_binary(work: &Path, tree: &Path, name: &str) -> PathBuf {
    let out = work.join(format!("build-{name}"));
    let o = run(srukit().arg("build").arg("--tree").arg(tree).arg("--out").arg(&out).arg("--binary-only"));
    assert_eq!(o.status.code(), Some(0), "build {name}");
    out
}

/// `DIR/result.json` is valid against the published schema (docs/result.schema.json), read
/// by python3-jsonschema, a validator other than srukit's own serde types.
pub fn assert_valid_result(dir: &Path) {
    let v = Command::new("python3")
        .args(["-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))"])
        .arg(root().join("docs/result.schema.json"))
        .arg(dir.join("result.json"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{}: {}", dir.display(), text(&v.stderr));
}
