//! The verification plans srukit ships (the flagship's and the lanes in testbeds/plans/):
//! each parses with the plan contract, expects exactly what issue 8 and design.md say, and
//! names files, variables and testbeds that exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use srukit::formats::tgt_config::{TgtConfig, WriteCache};
use srukit::verify::plan::{BOTH_SIDES, Edit, Plan, Side, expand};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(rel: &str) -> Plan {
    Plan::load(&repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The expectation table as (side, phase) -> [target-file, wce, o-direct, data-at-risk].
fn table(plan: &Plan) -> BTreeMap<(Side, String), Vec<String>> {
    plan.expect
        .iter()
        .map(|(k, t)| (k.clone(), plan.checks.iter().map(|c| t[&c.id].clone()).collect()))
        .collect()
}

fn row(side: Side, phase: &str, values: [&str; 4]) -> ((Side, String), Vec<String>) {
    ((side, phase.to_string()), values.iter().map(|s| s.to_string()).collect())
}

const ALL_FOUR: [&str; 4] = ["target-file", "wce", "o-direct", "data-at-risk"];

/// An INI edit's (file, section, key, value).
fn ini(e: &Edit) -> (&str, &str, &str, &str) {
    match e {
        Edit::Ini { file, section, key, value } => (file, section, key, value),
        other => panic!("not an INI edit: {other:?}"),
    }
}

fn target_file(plan: &Plan) -> &str {
    &plan.raw.target.as_ref().expect("a [target]").file
}

/// The variables the engine defines for every step, with stand-in values.
fn engine_vars(plan: &Plan, phase: &str) -> BTreeMap<String, String> {
    let id = "0d5e0c5a-5b0b-4c55-9d2b-2b0a1f6f0c11";
    let mut vars = BTreeMap::from([
        ("volume_id".to_string(), id.to_string()),
        ("lun".to_string(), "/srv/data/lun.img".to_string()),
        ("data".to_string(), "/srv/data".to_string()),
        ("iqn".to_string(), format!("iqn.2010-10.org.openstack:volume-{id}")),
    ]);
    let phase = plan.raw.phases.iter().find(|p| p.name == phase).unwrap();
    vars.extend(phase.vars.clone());
    vars
}

/// Every `${...}` in steps and the target file path is one the engine (or the phase) defines.
fn assert_variables_resolve(plan: &Plan) {
    for phase in &plan.raw.phases {
        let vars = engine_vars(plan, &phase.name);
        expand(target_file(plan), &vars).unwrap();
        for step in &plan.raw.steps {
            for arg in &step.run {
                expand(arg, &vars)
                    .unwrap_or_else(|e| panic!("phase {}: step {}: {e}", phase.name, step.name));
            }
            if let Some(w) = &step.write {
                expand(&w.path, &vars).unwrap();
                expand(&w.content, &vars)
                    .unwrap_or_else(|e| panic!("phase {}: step {}: {e}", phase.name, step.name));
            }
        }
    }
}

fn assert_testbed_exists(plan: &Plan) {
    let def = repo(&format!("testbeds/{}.toml", plan.raw.testbed));
    assert!(
        def.is_file(),
        "plan {} names testbed {}, but {} is missing",
        plan.raw.name,
        plan.raw.testbed,
        def.display()
    );
}

#[test]
fn flagship_plan_expects_issue_8_verdict() {
    let plan = load("patches/lp1336568-iscsi-write-cache/verify.toml");
    assert_eq!(plan.raw.testbed, "bookworm-tgt");
    assert_eq!(plan.raw.install, ["cinder-volume"]);
    assert_eq!(plan.raw.sides, BOTH_SIDES);
    assert_eq!(plan.check_ids(), ALL_FOUR);
    assert_eq!(plan.raw.data_at_risk_mib, 200);
    assert!(plan.raw.lun.size_mib > plan.raw.data_at_risk_mib, "the LUN must hold the data-at-risk write");
    let off = &plan.raw.phases.iter().find(|p| p.name == "off").unwrap().edits;
    assert_eq!(off.len(), 1);
    assert_eq!(ini(&off[0]), ("/etc/cinder/cinder.conf", "DEFAULT", "iscsi_write_cache", "off"));
    let want = BTreeMap::from([
        row(Side::Before, "default", ["absent", "on", "off", "at-risk"]),
        row(Side::Before, "off", ["absent", "on", "off", "at-risk"]),
        row(Side::After, "default", ["on", "on", "off", "at-risk"]),
        row(Side::After, "off", ["off", "off", "off", "safe"]),
    ]);
    assert_eq!(table(&plan), want);
    assert_variables_resolve(&plan);
    assert_testbed_exists(&plan);
    // The export step is the fixture's own command, given the volume and its file LUN.
    let export = &plan.raw.steps[0].run;
    assert_eq!(export.first().map(String::as_str), Some("cinder-volume-export"));
    assert_eq!(&export[export.len() - 2..], ["${volume_id}", "${lun}"]);
    let install =
        std::fs::read_to_string(repo("testbeds/fixtures/cinder-icehouse/debian/cinder-volume.install"))
            .unwrap();
    assert!(install.contains("bin/cinder-volume-export usr/bin"), "{install}");
}

#[test]
fn tgt_lane_expects_design_section_3_and_its_target_files_say_so() {
    let plan = load("testbeds/plans/tgt-cache-modes.toml");
    assert_eq!(plan.raw.sides, [Side::After]);
    assert_eq!(plan.raw.install, ["tgt"]);
    assert_eq!(plan.check_ids(), ALL_FOUR);
    let want = BTreeMap::from([
        row(Side::After, "write-cache-on", ["on", "on", "off", "at-risk"]),
        row(Side::After, "write-cache-off", ["off", "off", "off", "safe"]),
        row(Side::After, "bsoflags-direct", ["absent", "on", "on", "safe"]),
    ]);
    assert_eq!(table(&plan), want);
    assert_variables_resolve(&plan);
    assert_testbed_exists(&plan);

    // The file each phase writes is the [target] file, and srukit's own parser reads back
    // the write-cache value the phase expects, with the LUN as its backing store.
    let write = plan.raw.steps.iter().find_map(|s| s.write.as_ref()).expect("a write step");
    assert_eq!(write.path, target_file(&plan));
    for phase in &plan.raw.phases {
        let vars = engine_vars(&plan, &phase.name);
        let text = expand(&write.content, &vars).unwrap();
        let conf = TgtConfig::parse(&text, Path::new(&write.path)).unwrap();
        let [target] = conf.targets() else { panic!("{}: one target wanted:\n{text}", phase.name) };
        assert_eq!(target.iqn(), vars["iqn"]);
        assert!(target.unknown_keywords().is_empty(), "{}: {:?}", phase.name, target.unknown_keywords());
        assert_eq!(target.backing_stores().len(), 1);
        let expected = match plan.expected(Side::After, &phase.name, "target-file").unwrap() {
            "on" => WriteCache::On,
            "off" => WriteCache::Off,
            _ => WriteCache::Absent,
        };
        assert_eq!(target.write_cache(), expected, "{}:\n{text}", phase.name);
        let direct = plan.expected(Side::After, &phase.name, "o-direct").unwrap() == "on";
        assert_eq!(target.bsoflags() == Some("direct"), direct, "{}:\n{text}", phase.name);
    }
    // tgt-admin must update, never `-e -c FILE` (which deletes every other target).
    let update = plan.raw.steps.iter().find(|s| !s.run.is_empty()).unwrap();
    assert_eq!(update.run, ["tgt-admin", "--update", "ALL"]);
}

/// The target file Debian's cinder 21 wrote in the manual runs (testbeds/plans/README.md),
/// byte for byte: its empty `%(target_flags)s` line keeps its indentation, and it adds
/// `params thin_provisioning=1`.
fn cinder21_target_file(iqn: &str, user: &str, pass: &str, cache: &str) -> String {
    format!(
        "\n<target {iqn}>\n    backing-store /srv/data/lun.img\n    driver iscsi\n    incominguser {user} {pass}\n    \n    write-cache {cache}\n    params thin_provisioning=1\n</target>\n"
    )
}

#[test]
fn real_cinder_plan_drives_cinder_21_where_it_reads_the_option() {
    let plan = load("testbeds/plans/real-cinder.toml");
    assert_eq!(plan.raw.sides, [Side::After]);
    assert_eq!(plan.raw.install, ["python3-cinder"]);
    assert_eq!(plan.check_ids(), ALL_FOUR);
    let want = BTreeMap::from([
        row(Side::After, "default", ["on", "on", "off", "at-risk"]),
        row(Side::After, "off", ["off", "off", "off", "safe"]),
    ]);
    assert_eq!(table(&plan), want);
    assert_variables_resolve(&plan);
    assert_testbed_exists(&plan);

    // The image: bookworm-tgt's packages and python3-cinder, configured with one backend
    // whose section is the one the `off` phase edits (cinder 21 ignores [DEFAULT] there).
    let path = repo("testbeds/bookworm-cinder.toml");
    let def = srukit::testbed::Definition::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let tgt_path = repo("testbeds/bookworm-tgt.toml");
    let tgt =
        srukit::testbed::Definition::parse(&std::fs::read_to_string(&tgt_path).unwrap(), &tgt_path).unwrap();
    for p in tgt.packages.iter().chain(["python3-cinder".to_string()].iter()) {
        assert!(def.packages.contains(p), "bookworm-cinder lacks {p}");
    }
    assert_eq!(def.suite, "bookworm");
    let setup = def.setup.join("\n");
    let (_, section, key, value) = ini(&plan.raw.phases.iter().find(|p| p.name == "off").unwrap().edits[0]);
    assert_eq!((key, value), ("iscsi_write_cache", "off"));
    assert!(setup.contains(&format!("enabled_backends = {section}\n")), "{setup}");
    assert!(setup.contains(&format!("\n[{section}]\n")), "{setup}");
    assert!(setup.contains("target_helper = tgtadm"), "{setup}");
    assert!(setup.contains("volumes_dir = /var/lib/cinder/volumes"), "{setup}");
    assert!(
        setup.contains("'include /var/lib/cinder/volumes/*' > /etc/tgt/conf.d/cinder_tgt.conf"),
        "{setup}"
    );
    assert!(target_file(&plan).starts_with("/var/lib/cinder/volumes/volume-"));

    // The driver is written from the lane's script, and the export step runs that file.
    let driver = plan.raw.steps.iter().find_map(|s| s.write.as_ref()).expect("a write step");
    let script = repo("testbeds/plans/real-cinder/export.py");
    assert_eq!(driver.content, std::fs::read_to_string(&script).unwrap());
    for needle in
        ["set_client_mode(False)", ".create_iscsi_target(", "enabled_backends", "config_group=backend"]
    {
        assert!(driver.content.contains(needle), "export.py lacks {needle}");
    }
    let export = plan.raw.steps.iter().find(|s| !s.run.is_empty()).unwrap();
    assert_eq!(export.run[..2], ["python3".to_string(), driver.path.clone()]);
    let out = std::process::Command::new("python3")
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])"])
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // What cinder 21 writes parses to the values the plan expects, `params` and all.
    let iqn = "iqn.2010-10.org.openstack:volume-0b66ef30-a047-4be3-b1f0-c8a84d295094";
    for (cache, want) in [("on", WriteCache::On), ("off", WriteCache::Off)] {
        let text = cinder21_target_file(iqn, "eaYCxge39WF3ZaTqThyQ", "M9ccRDHDDFfLp52g", cache);
        let conf = TgtConfig::parse(&text, Path::new("volume")).unwrap();
        let target = conf.target(iqn).unwrap();
        assert_eq!(target.write_cache(), want);
        assert!(target.unknown_keywords().is_empty(), "{:?}", target.unknown_keywords());
        assert_eq!(target.incominguser()[0].user, "eaYCxge39WF3ZaTqThyQ");
    }
}
