//! `srukit report --format junit`: parsed back with quick-xml, and validated with xmllint
//! against the Jenkins JUnit schema (tests/data/junit-jenkins.xsd) that GitLab also reads.

mod common;

use std::path::Path;

use common::*;
use quick_xml::events::Event;

/// A testsuite as read back: its name, counts and testcases (name, kind, message, body).
#[derive(Debug, Default)]
struct Suite {
    name: String,
    tests: usize,
    failures: usize,
    errors: usize,
    cases: Vec<Case>,
}

#[derive(Debug, Default)]
struct Case {
    name: String,
    /// "pass", or the child element's name: "failure" or "error".
    kind: String,
    ty: String,
    message: String,
    body: String,
}

fn attr(e: &quick_xml::events::BytesStart, key: &str) -> String {
    e.attributes()
        .map(|a| a.unwrap())
        .find(|a| a.key.as_ref() == key.as_bytes())
        .map(|a| a.unescape_value().unwrap().into_owned())
        .unwrap_or_default()
}

fn parse(xml: &str) -> Vec<Suite> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut suites: Vec<Suite> = Vec::new();
    let mut in_status = false;
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => suites.push(Suite {
                name: attr(&e, "name"),
                tests: attr(&e, "tests").parse().unwrap(),
                failures: attr(&e, "failures").parse().unwrap(),
                errors: attr(&e, "errors").parse().unwrap(),
                cases: Vec::new(),
            }),
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                let case = Case { name: attr(&e, "name"), kind: "pass".into(), ..Default::default() };
                suites.last_mut().unwrap().cases.push(case);
            }
            Event::Start(e) | Event::Empty(e) if matches!(e.name().as_ref(), b"failure" | b"error") => {
                let case = suites.last_mut().unwrap().cases.last_mut().unwrap();
                case.kind = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                case.ty = attr(&e, "type");
                case.message = attr(&e, "message");
                in_status = true;
            }
            Event::Text(t) if in_status => {
                let case = suites.last_mut().unwrap().cases.last_mut().unwrap();
                case.body.push_str(&t.unescape().unwrap());
            }
            Event::End(e) if matches!(e.name().as_ref(), b"failure" | b"error") => in_status = false,
            Event::Eof => break,
            _ => {}
        }
    }
    suites
}

fn junit(name: &str, r: &srukit::verify::result::VerifyResult, tmp: &Path) -> (String, std::path::PathBuf) {
    let dir = write_result(&tmp.join(name), r);
    let xml = report(&dir, "junit", &[]);
    let path = tmp.join(format!("{name}.xml"));
    std::fs::write(&path, &xml).unwrap();
    (xml, path)
}

fn xmllint(xml: &Path) -> std::process::Output {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/junit-jenkins.xsd");
    std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(xml)
        .output()
        .expect("xmllint runs (libxml2-utils, scripts/setup.sh)")
}

#[test]
fn a_suite_per_side_and_phase_a_case_per_check() {
    let tmp = tempfile::tempdir().unwrap();
    let (xml, _) = junit("done", &done(), tmp.path());
    let suites = parse(&xml);
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["before/default", "before/off", "after/default", "after/off"]);
    for s in &suites {
        let cases: Vec<&str> = s.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cases, ["target-file", "wce", "o-direct", "data-at-risk"], "{}", s.name);
        assert_eq!((s.tests, s.failures, s.errors), (4, 0, 0), "{}", s.name);
        assert!(s.cases.iter().all(|c| c.kind == "pass"), "{s:?}");
    }
    assert!(
        xml.contains(
            r#"name="config_edit" value="/etc/cinder/cinder.conf [DEFAULT] iscsi_write_cache = off""#
        )
    );
}

#[test]
fn failures_carry_the_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let (xml, _) = junit("failed", &failed(), tmp.path());
    let suites = parse(&xml);
    let off = suites.iter().find(|s| s.name == "after/off").unwrap();
    assert_eq!((off.tests, off.failures, off.errors), (4, 3, 0));
    let risk = off.cases.iter().find(|c| c.name == "data-at-risk").unwrap();
    assert_eq!((risk.kind.as_str(), risk.ty.as_str()), ("failure", "fail"));
    assert!(risk.message.contains("expected safe, observed at risk: 204800 KiB dirty"), "{risk:?}");
    assert!(risk.body.contains("dirty_kib: 204800"), "{risk:?}");
    assert!(risk.body.contains("bytes_written: 209715200"), "{risk:?}");
    let target = off.cases.iter().find(|c| c.name == "target-file").unwrap();
    assert!(target.body.contains("    write_cache off"), "the file line verbatim: {target:?}");
    let wce = off.cases.iter().find(|c| c.name == "wce").unwrap();
    assert!(wce.body.contains("byte2: 0x14"), "{wce:?}");
    assert!(suites.iter().filter(|s| s.name != "after/off").all(|s| s.failures == 0));
}

#[test]
fn inconclusive_is_a_failure_and_errors_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let (xml, _) = junit("inconclusive", &inconclusive(), tmp.path());
    let off = parse(&xml).into_iter().find(|s| s.name == "after/off").unwrap();
    let risk = off.cases.iter().find(|c| c.name == "data-at-risk").unwrap();
    assert_eq!((risk.kind.as_str(), risk.ty.as_str()), ("failure", "inconclusive"), "{risk:?}");
    assert!(risk.body.contains("dirty_kib: 40960"), "{risk:?}");

    let (xml, _) = junit("error", &error(), tmp.path());
    let suites = parse(&xml);
    let off = suites.iter().find(|s| s.name == "after/off").unwrap();
    assert_eq!((off.tests, off.errors), (1, 1), "a run that never started is one error, not zero tests");
    assert!(off.cases[0].message.contains("tgtd exited with status 107"), "{off:?}");
    let default = suites.iter().find(|s| s.name == "after/default").unwrap();
    let wce = default.cases.iter().find(|c| c.name == "wce").unwrap();
    assert_eq!(wce.kind, "error");
    assert!(wce.body.contains("status_class"), "{wce:?}");
}

#[test]
fn every_verdict_validates_against_the_jenkins_schema() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, r) in all() {
        let (_, path) = junit(name, &r, tmp.path());
        let o = xmllint(&path);
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
    // The validator can say no: quick-junit's own `skipped` on <testsuites>, which srukit
    // removes, is outside the schema.
    let (xml, _) = junit("done", &done(), tmp.path());
    let bad = tmp.path().join("bad.xml");
    std::fs::write(&bad, xml.replacen("<testsuites ", "<testsuites skipped=\"0\" ", 1)).unwrap();
    let o = xmllint(&bad);
    assert!(!o.status.success(), "xmllint accepted an attribute the schema forbids");
    assert!(stderr(&o).contains("skipped"), "{}", stderr(&o));
}
