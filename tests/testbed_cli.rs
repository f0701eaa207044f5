//! `srukit testbed ...` end to end: cached builds, list, exec on both backends, and the
//! errors the issue names (bad definition, missing mmdebstrap, unreachable mirror, full
//! disk): exit 3, a message naming the cause, nothing half-built in the cache.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

fn srukit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_srukit")).args(args).output().expect("srukit runs")
}

fn srukit_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_srukit"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("srukit runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The cache holds no image and no temp dir (only logs and the tool memo may exist).
fn assert_no_image(cache: &Path) {
    let images = cache.join("srukit/images");
    let left: Vec<String> = std::fs::read_dir(&images)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".lock-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "half-built leftovers in {}: {left:?}", images.display());
}

#[test]
fn build_is_cached_and_listed() {
    let first = srukit(&["testbed", "build", "bookworm-tgt"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let started = Instant::now();
    let second = srukit(&["testbed", "build", "bookworm-tgt"]);
    assert!(started.elapsed().as_millis() < 1000, "a warm build took {:?}", started.elapsed());
    assert_eq!(first.stdout, second.stdout, "same definition, same image");
    let list = srukit(&["--json", "testbed", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let hash = text(&first.stdout).split_whitespace().nth(1).unwrap().to_string();
    assert!(
        v.as_array().unwrap().iter().any(|i| i["name"] == "bookworm-tgt" && i["hash"] == hash.as_str()),
        "{v}"
    );
}

#[test]
fn exec_runs_in_a_fresh_testbed_on_both_backends() {
    for backend in ["unshare", "nspawn"] {
        let out = srukit(&[
            "testbed",
            "exec",
            "bookworm-tgt",
            "--backend",
            backend,
            "--",
            "sh",
            "-c",
            "cat /etc/debian_version; exit 4",
        ]);
        assert_eq!(out.status.code(), Some(1), "{backend}: {}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("12."), "{backend}: {}", text(&out.stdout));
        let json = srukit(&["--json", "testbed", "exec", "bookworm-tgt", "--backend", backend, "--", "true"]);
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(v["status"], 0, "{v}");
    }
}

#[test]
fn bad_definition_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("bad.toml");
    std::fs::write(&def, "suite = \"bookworm\"\npackages = [\"tgt\"]\npackges = [\"x\"]\n").unwrap();
    let out = srukit_env(
        &["testbed", "build", def.to_str().unwrap()],
        &[("XDG_CACHE_HOME", dir.path().to_str().unwrap())],
    );
    // Bad input (exit 2), named at its line, before anything is built.
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:3:") && err.contains("packges"), "{err}");
    assert_no_image(dir.path());
}

#[test]
fn missing_mmdebstrap_is_could_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = srukit_env(
        &["testbed", "build", "bookworm-tgt"],
        &[("PATH", dir.path().to_str().unwrap()), ("XDG_CACHE_HOME", dir.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("mmdebstrap is not installed"), "{}", text(&out.stderr));
    assert_no_image(dir.path());
}

#[test]
fn unreachable_mirror_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("nomirror.toml");
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    std::fs::write(&def, "suite = \"bookworm\"\nmirror = \"http://127.0.0.1:9/debian\"\n").unwrap();
    let out = srukit_env(
        &["testbed", "build", def.to_str().unwrap()],
        &[("XDG_CACHE_HOME", dir.path().to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("mirror http://127.0.0.1:9/debian is unreachable"), "{err}");
    assert_no_image(dir.path());
}

#[test]
fn full_disk_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let m =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"]).arg(&small).status().unwrap();
    assert!(m.success());
    let out =
        srukit_env(&["testbed", "build", "bookworm-tgt"], &[("XDG_CACHE_HOME", small.to_str().unwrap())]);
    let leftovers = std::fs::read_dir(small.join("srukit/images")).map(|rd| rd.count()).unwrap_or(0);
    Command::new("umount").arg(&small).status().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("not enough free space"), "{}", text(&out.stderr));
    assert!(leftovers <= 1, "only the build lock may exist");
}

#[test]
fn unknown_names_are_usage_errors() {
    assert_eq!(srukit(&["testbed", "build", "no-such-testbed"]).status.code(), Some(2));
    assert_eq!(srukit(&["testbed", "rm", "no-such-image"]).status.code(), Some(2));
}

#[test]
fn shell_runs_and_keep_survives_until_gc_kept() {
    use std::io::Write;
    let run = |keep: bool| {
        let mut args = vec!["testbed", "shell", "bookworm-tgt"];
        if keep {
            args.push("--keep");
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_srukit"))
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"echo in-shell $(hostname)\nexit 0\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(false);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("in-shell srukit-"), "{}", text(&out.stdout));
    let kept = run(true);
    let said = text(&kept.stdout);
    let id = said
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('-'))
        .unwrap()
        .to_string();
    let run_dir = Path::new("/run/srukit/testbeds").join(&id);
    assert!(run_dir.exists(), "kept testbed {id} is gone: {said}");
    // An ordinary command (which reaps orphans) leaves a kept testbed alone...
    assert!(srukit(&["testbed", "list"]).status.success());
    assert!(run_dir.exists());
    // ...and `gc --kept` removes it.
    assert!(srukit(&["testbed", "gc", "--kept"]).status.success());
    assert!(!run_dir.exists());
}
