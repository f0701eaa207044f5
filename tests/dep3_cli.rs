//! `srukit dep3 check FILE...` end to end: each problem as file:line, exit 1 when any, 0 when
//! none, 2 for a file that cannot be read.

use srukit::formats::dep3::Dep3Header;
use srukit::process::Cmd;

const DIFF: &str = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

fn srukit(args: &[&str]) -> (i32, String, String) {
    let out = Cmd::new(env!("CARGO_BIN_EXE_srukit")).args(args).output_unchecked().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dep3_check_reports_file_and_line_for_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.patch");
    let mut h = Dep3Header::new();
    h.set("Description", "Enable iscsi_write_cache option for tgtadm backends\nLong text.")
        .set(
            "Origin",
            "upstream, https://opendev.org/openstack/cinder/commit/617e59bde660f919df0818611b911ae35f8b7247",
        )
        .set("Bug-Launchpad", "https://bugs.launchpad.net/cinder/+bug/1336568")
        .set("Last-Update", "2014-10-02");
    std::fs::write(&good, h.patch_bytes(DIFF.as_bytes())).unwrap();
    let bad = dir.path().join("bad.patch");
    std::fs::write(
        &bad,
        format!("Description: x\nOrigin: vendor\nLast-Update: 02/10/2014\nBug-Ubuntu: 1336568\n\n{DIFF}"),
    )
    .unwrap();

    let (code, out, err) = srukit(&["dep3", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 file(s): DEP-3 headers OK"), "{out}");

    let (code, out, _) = srukit(&["dep3", "check", good.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let b = bad.display();
    assert_eq!(
        out,
        format!(
            "{b}:3: Last-Update `02/10/2014` is not a date YYYY-MM-DD\n{b}:4: Bug-Ubuntu `1336568` is not a URL\n"
        )
    );

    let (code, out, _) = srukit(&["--json", "dep3", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["problems"][1]["line"], 4);

    let missing = dir.path().join("missing.patch");
    let (code, _, err) = srukit(&["dep3", "check", missing.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.patch"), "{err}");
}
