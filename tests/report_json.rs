//! `srukit report --format json`: the result with its schema version, valid against
//! docs/result.schema.json (checked with python3-jsonschema), and still readable from a
//! result written by an earlier srukit of the same schema version.

mod report_samples;
use report_samples as common;

use std::path::Path;

use common::*;

const VALIDATE: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
errors = []
for path in sys.argv[2:]:
    for e in jsonschema.Draft202012Validator(schema).iter_errors(json.load(open(path))):
        errors.append(f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
print("\n".join(errors))
sys.exit(1 if errors else 0)
"#;

fn validate(files: &[&Path]) -> std::process::Output {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/result.schema.json");
    std::process::Command::new("python3")
        .args(["-c", VALIDATE])
        .arg(schema)
        .args(files)
        .output()
        .expect("python3 runs (python3-jsonschema, scripts/setup.sh)")
}

#[test]
fn json_is_the_result_itself() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, r) in all() {
        let dir = write_result(&tmp.path().join(name), &r);
        let out: serde_json::Value = serde_json::from_str(&report(&dir, "json", &[])).unwrap();
        assert_eq!(out, serde_json::to_value(&r).unwrap(), "{name}");
        assert_eq!(out["schema_version"], srukit::verify::result::SCHEMA_VERSION);
        assert_eq!(out["verdict"], r.verdict.as_str());
    }
}

#[test]
fn every_verdict_matches_the_published_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, r) in all() {
        let dir = write_result(&tmp.path().join(name), &r);
        let out = tmp.path().join(format!("{name}.json"));
        std::fs::write(&out, report(&dir, "json", &[])).unwrap();
        files.push(out);
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let o = validate(&refs);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    // The schema can say no: a verdict outside the enum and a missing sha256.
    let mut v = serde_json::to_value(done()).unwrap();
    v["verdict"] = "done".into();
    v["sides"]["after"]["packages"][0].as_object_mut().unwrap().remove("sha256");
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, v.to_string()).unwrap();
    let o = validate(&[&bad]);
    assert!(!o.status.success());
    let msg = stdout(&o);
    assert!(msg.contains("verdict") && msg.contains("sha256"), "{msg}");
}

/// A result written by srukit with schema version 1 (tests/data/result-v1-done.json) must
/// read and write back unchanged: renaming a field breaks this test, as it would break the
/// pipelines that read the field.
#[test]
fn a_version_1_result_reads_back_unchanged() {
    let frozen = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/result-v1-done.json");
    let text = std::fs::read_to_string(&frozen).unwrap();
    let out = report(&frozen, "json", &[]);
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&text).unwrap(), serde_json::from_str(&out).unwrap());
    assert_eq!(a, b);
    let o = validate(&[&frozen]);
    assert!(o.status.success(), "{}", stdout(&o));
    // Version 1 recorded no provenance: its packages were srukit's own builds, so its
    // verification-done is a pre-upload check that sets no tag.
    let t = report(&frozen, "launchpad", &[]);
    assert!(t.contains("Pre-upload check (local-build"), "{t}");
    assert!(t.contains("would set verification-done-trusty"), "{t}");
    assert!(!t.contains("Tag: "), "{t}");
}
