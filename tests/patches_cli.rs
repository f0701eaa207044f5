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
