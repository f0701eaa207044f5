//! `srukit patches` as a user runs it: exit codes (0 ok, 1 does not apply, 2 bad input),
//! text and JSON output, errors printed once naming the patch file and line.

use std::path::Path;

use srukit::process::Cmd;

fn tree(series: &str, patches: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("f"), "a\nb\nc\n").unwrap();
    let pd = t.path().join("debian/patches");
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::write(pd.join("series"), series).unwrap();
    for (n, b) in patches {
        std::fs::write(pd.join(n), b).unwrap();
    }
    t
}

fn run(args: &[&str], tree: &Path) -> (i32, String, String) {
    let out =
        Cmd::new(env!("CARGO_BIN_EXE_srukit")).args(args).arg("--tree").arg(tree).output_unchecked().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "--- a/f\n+++ b/f\n@@ -2 +2 @@\n-b\n+B\n";
const BAD: &str = "Prose.\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-x\n+X\n c\n";

#[test]
fn list_check_push_pop() {
    let t = tree("good.patch\n", &[("good.patch", GOOD)]);
    let (code, out, _) = run(&["patches", "list"], t.path());
    assert_eq!((code, out.as_str()), (0, "unapplied good.patch\n"));
    let (code, out, _) = run(&["patches", "check"], t.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok       good.patch"), "{out}");
    let (code, out, _) = run(&["patches", "push", "--json"], t.path());
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["applied"][0]["name"], "good.patch");
    assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "a\nB\nc\n");
    let (code, out, _) = run(&["patches", "list", "--json"], t.path());
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["patches"][0]["applied"], true);
    let (code, _, _) = run(&["patches", "pop", "good.patch"], t.path());
    assert_eq!(code, 0, "popping to an applied patch leaves it applied");
    let (code, _, _) = run(&["patches", "pop", "--all"], t.path());
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "a\nb\nc\n");
}

#[test]
fn does_not_apply_exits_1_and_names_the_place() {
    let t = tree("good.patch\nbad.patch\n", &[("good.patch", GOOD), ("bad.patch", BAD)]);
    let (code, out, _) = run(&["patches", "check"], t.path());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILS    bad.patch") && out.contains("f hunk #1 (patch line 4)"), "{out}");
    let (code, out, _) = run(&["patches", "check", "--json"], t.path());
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["patches"][1]["status"], "fails");
    assert_eq!(v["patches"][1]["patch_line"], 4);
    let (code, _, err) = run(&["patches", "push", "--all"], t.path());
    assert_eq!(code, 1);
    assert!(err.contains("bad.patch:4: hunk #1 of f does not apply"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "printed once: {err}");
    assert!(!t.path().join(".pc").exists(), "nothing written");
}

#[test]
fn bad_input_exits_2() {
    let t = tree("m.patch\n", &[("m.patch", "--- a/f\n+++ b/f\n@@ -1,x +1 @@\n")]);
    let (code, _, err) = run(&["patches", "push"], t.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("m.patch:3: malformed patch"), "{err}");
    let (code, _, _) = run(&["patches", "push", "nope.patch"], t.path());
    assert_eq!(code, 2);
    let (code, out, _) = run(&["patches", "push", "--json"], t.path());
    assert_eq!(code, 2);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["exit_code"], 2);
}

#[test]
fn not_a_source_tree_is_bad_input_and_no_series_means_no_patches() {
    // A directory without debian/: exit 2 before anything is written, saying what is missing.
    let plain = tempfile::tempdir().unwrap();
    std::fs::write(plain.path().join("f"), "a\n").unwrap();
    for cmd in ["push", "pop", "list", "check"] {
        let (code, out, err) = run(&["patches", cmd], plain.path());
        assert_eq!(code, 2, "{cmd}: {out}{err}");
        assert!(err.contains("not a source tree: no debian/ directory"), "{cmd}: {err}");
    }
    let (code, _, err) = run(&["patches", "push", "--all"], &plain.path().join("missing"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a source tree"), "{err}");
    let entries: Vec<_> = std::fs::read_dir(plain.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries, ["f"], "nothing written");

    // A source tree without a series: it has no patches, which is not an error.
    std::fs::create_dir_all(plain.path().join("debian")).unwrap();
    let (code, out, _) = run(&["patches", "push", "--all"], plain.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("no patches: ") && out.contains("debian/patches/series does not exist"), "{out}");
    let (code, out, _) = run(&["patches", "list"], plain.path());
    assert_eq!((code, out.contains("no patches: ")), (0, true), "{out}");
    // An empty series says so too; a fully applied one says that.
    let t = tree("", &[]);
    let (_, out, _) = run(&["patches", "push"], t.path());
    assert!(out.contains("no patches: the series"), "{out}");
    let t = tree("good.patch\n", &[("good.patch", GOOD)]);
    run(&["patches", "push", "--all"], t.path());
    let (code, out, _) = run(&["patches", "push"], t.path());
    assert_eq!((code, out.as_str()), (0, "nothing to push: the series is fully applied\n"));
}
