//! The Debian 12 lanes (issue 15, section 3) through the real binary, on packages from the
//! archive: bookworm (the point release, bug present) against bookworm-security (fixed),
//! pinned to exact versions. Each lane: before reproduces and after is fixed
//! (`verification-done`, every check on the outcome its plan expects); the fixed package on
//! both sides or the sides swapped is refused by the update rule (exit 2); the fixed package
//! alone on the before side is never a reproduction (`inconclusive`), and the old package
//! alone on the after side is `verification-failed`. The unzip lane also runs end to end
//! through `srukit run` from `apt-get source unzip=6.0-28` with its backport folder: local
//! builds, `verification-done` as a pre-upload check. Root, the mirror and host network
//! needed (the testbeds install from the archive).

mod verify_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use verify_common::{json_of, root, run, srukit};

fn work() -> &'static Path {
    verify_common::work("srukit-lanes-debian")
}

/// (check id, the outcome it must match) for one run.
type Row = &'static [(&'static str, &'static str)];

/// One lane: its plan, the binary named in `apt:`, and the two archive versions.
struct Lane {
    name: &'static str,
    plan: &'static str,
    package: &'static str,
    before: &'static str,
    after: &'static str,
    /// (side, phase, row) for every run: exactly the checks the plan expects something of.
    outcomes: &'static [(&'static str, &'static str, Row)],
    /// The plan has an `upgrade` step: every run starts on the before packages, so the old
    /// package cannot stand alone on the after side.
    upgrade: bool,
}

const JQ_SMALL: [(&str, &str); 3] =
    [("repeat-three", "ok"), ("repeat-zero", "ok"), ("repeat-fraction", "ok")];

const JQ: Lane = Lane {
    name: "jq",
    plan: "testbeds/plans/cve-2026-32316-jq.toml",
    package: "jq",
    before: "1.6-2.1+deb12u2",
    after: "1.6-2.1+deb12u3",
    outcomes: &[
        ("before", "default", &[("repeat-too-long", "abort"), JQ_SMALL[0], JQ_SMALL[1], JQ_SMALL[2]]),
        ("after", "default", &[("repeat-too-long", "fixed"), JQ_SMALL[0], JQ_SMALL[1], JQ_SMALL[2]]),
    ],
    upgrade: false,
};

const ZIP: Lane = Lane {
    name: "zip",
    plan: "testbeds/plans/deb-1143866-zip.toml",
    package: "zip",
    before: "3.0-13",
    after: "3.0-13+deb12u1",
    outcomes: &[
        ("before", "default", &[("injection", "injected"), ("marker", "created"), ("plain-archive", "ok")]),
        ("after", "default", &[("injection", "quoted"), ("marker", "absent"), ("plain-archive", "ok")]),
    ],
    upgrade: false,
};

const UNZIP: Lane = Lane {
    name: "unzip",
    plan: "patches/deb-1142905-unzip-smartzip/verify.toml",
    package: "unzip",
    before: "6.0-28",
    after: "6.0-28+deb12u1",
    outcomes: &[
        ("before", "default", &[("archive", "crafted"), ("zipinfo", "crash"), ("unzip-test", "ok")]),
        ("after", "default", &[("archive", "crafted"), ("zipinfo", "fixed"), ("unzip-test", "ok")]),
    ],
    upgrade: false,
};

const CA_BEFORE: Row = &[
    ("package", "installed"),
    ("comodo-link", "trusted"),
    ("emsign-link", "trusted"),
    ("bundle-comodo", "trusted"),
    ("selection", "selected"),
    ("verify-comodo", "trusted"),
];
const CA_AFTER_DEFAULT: Row = &[
    ("package", "installed"),
    ("comodo-link", "distrusted"),
    ("emsign-link", "distrusted"),
    ("bundle-comodo", "distrusted"),
    ("selection", "deselected"),
    ("verify-comodo", "distrusted"),
    ("bundle-local", "without-local"),
];
const CA_AFTER_LOCAL: Row = &[
    ("package", "installed"),
    ("comodo-link", "distrusted"),
    ("emsign-link", "distrusted"),
    ("bundle-comodo", "distrusted"),
    ("selection", "deselected"),
    ("verify-comodo", "distrusted"),
    ("bundle-local", "with-local"),
];

const CA_CERTIFICATES: Lane = Lane {
    name: "ca-certificates",
    plan: "testbeds/plans/deb-1151413-ca-certificates.toml",
    package: "ca-certificates",
    before: "20230311+deb12u1",
    after: "20250419~deb12u2",
    outcomes: &[
        ("before", "default", CA_BEFORE),
        ("before", "local-ca", CA_BEFORE),
        ("after", "default", CA_AFTER_DEFAULT),
        ("after", "local-ca", CA_AFTER_LOCAL),
    ],
    upgrade: true,
};

impl Lane {
    /// The point release's package, pinned: `apt:PKG=VERSION@bookworm`.
    fn old_apt(&self) -> String {
        format!("apt:{}={}@bookworm", self.package, self.before)
    }

    /// The fix, pinned: `apt:PKG=VERSION@bookworm-security`.
    fn new_apt(&self) -> String {
        format!("apt:{}={}@bookworm-security", self.package, self.after)
    }

    /// `srukit --json verify PLAN` with `args`, into `work/<lane>-<name>`.
    fn verify(&self, name: &str, args: &[&str]) -> (Output, PathBuf) {
        let out = work().join(format!("{}-{name}", self.name));
        let o = run(srukit()
            .arg("--json")
            .arg("verify")
            .arg(root().join(self.plan))
            .args(args)
            .arg("--out")
            .arg(&out));
        (o, out)
    }

    fn row(&self, side: &str, phase: &str) -> Row {
        self.outcomes.iter().find(|(s, p, _)| *s == side && *p == phase).unwrap().2
    }

    fn phases(&self, side: &str) -> Vec<&'static str> {
        self.outcomes.iter().filter(|(s, _, _)| *s == side).map(|(_, p, _)| *p).collect()
    }
}

fn result(out: &Path) -> serde_json::Value {
    let path = out.join("result.json");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
}

/// The outcome each check of one run matched, by check id, and the ids the run expected
/// something of (a check with no expectation for the pair is only observed).
fn matched(doc: &serde_json::Value, side: &str, phase: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let run = verify_common::run_of(doc, side, phase);
    let mut got = BTreeMap::new();
    let mut expected = Vec::new();
    for c in run["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap().to_string();
        if !c["expected_outcome"].as_str().unwrap_or("").is_empty() {
            expected.push(id.clone());
        }
        got.insert(id, c["matched_outcome"].as_str().unwrap_or("?").to_string());
    }
    expected.sort();
    (got, expected)
}

/// The run expected exactly the checks of the lane's row, and each matched its outcome.
fn assert_outcomes(doc: &serde_json::Value, lane: &Lane, side: &str, phase: &str) {
    let (got, expected) = matched(doc, side, phase);
    let mut ids: Vec<String> = lane.row(side, phase).iter().map(|(id, _)| id.to_string()).collect();
    ids.sort();
    assert_eq!(expected, ids, "{} {side}/{phase}: the checks the plan expects", lane.name);
    for (id, outcome) in lane.row(side, phase) {
        assert_eq!(got[*id], *outcome, "{} {side}/{phase} {id}: {doc:#}", lane.name);
    }
}

/// A run given the other side's package: no check that tells the sides apart matched what
/// this side expects (the bug never shows on the fixed package, the fix never on the old
/// one), and at least one matched what the other side expects. (Not every check need match
/// the other side: a fresh install of the fixed package is not the upgrade to it.)
fn assert_other_sides_outcomes(doc: &serde_json::Value, lane: &Lane, side: &str, other: &str, phase: &str) {
    let (got, _) = matched(doc, side, phase);
    let mut other_side_seen = false;
    for (id, mine) in lane.row(side, phase) {
        if let Some((_, theirs)) = lane.row(other, phase).iter().find(|(i, _)| i == id)
            && theirs != mine
        {
            assert_ne!(got[*id], *mine, "{} {side}/{phase} {id}: {doc:#}", lane.name);
            other_side_seen |= got[*id] == *theirs;
        }
    }
    assert!(
        other_side_seen,
        "{} {side}/{phase}: no check shows the other side's outcome: {doc:#}",
        lane.name
    );
}

/// Before reproduces, after is fixed, on the archive's packages: verification-done, and
/// every check of every run matched the outcome the plan names for it.
fn assert_done(lane: &Lane) {
    let (o, out) = lane.verify("done", &["--before", &lane.old_apt(), "--after", &lane.new_apt()]);
    let doc = result(&out);
    assert_eq!(doc["verdict"], "verification-done", "{}: {doc:#}", lane.name);
    assert_eq!(o.status.code(), Some(0), "{}", lane.name);
    assert_eq!(json_of(&o)["verdict"], "verification-done");
    for (side, phase, _) in lane.outcomes {
        assert_outcomes(&doc, lane, side, phase);
    }
    // The versions under test are the pinned ones, as the testbeds' dpkg reported them.
    let sides = doc["sides"].to_string();
    assert!(sides.contains(lane.before) && sides.contains(lane.after), "{}: {doc:#}", lane.name);
}

/// The fixed package on both sides, and the sides swapped: not an update, refused before
/// any testbed (exit 2) naming the fixed version; no result, so never verification-done.
fn assert_not_an_update_is_refused(lane: &Lane) {
    for (name, before, after) in
        [("same", lane.new_apt(), lane.new_apt()), ("swapped", lane.new_apt(), lane.old_apt())]
    {
        let (o, out) = lane.verify(name, &["--before", &before, "--after", &after]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{} {name}: {stderr}", lane.name);
        assert!(stderr.contains(lane.after), "{} {name}: {stderr}", lane.name);
        assert!(!out.join("result.json").exists(), "{} {name}: a result was written", lane.name);
    }
}

/// The fixed package alone on the before side: the bug does not reproduce, so the update
/// cannot be called verified (inconclusive, exit 1); its checks match what the after side
/// expects. The old package alone on the after side: verification-failed (exit 1).
fn assert_each_side_tells_the_versions_apart(lane: &Lane) {
    let (o, out) = lane.verify("fixed-as-before", &["--only", "before", "--before", &lane.new_apt()]);
    let doc = result(&out);
    assert_eq!(doc["verdict"], "inconclusive", "{}: {doc:#}", lane.name);
    assert_eq!(o.status.code(), Some(1), "{}", lane.name);
    for phase in lane.phases("before") {
        assert_other_sides_outcomes(&doc, lane, "before", "after", phase);
    }
    if lane.upgrade {
        return;
    }
    let (o, out) = lane.verify("old-as-after", &["--only", "after", "--after", &lane.old_apt()]);
    let doc = result(&out);
    assert_eq!(doc["verdict"], "verification-failed", "{}: {doc:#}", lane.name);
    assert_eq!(o.status.code(), Some(1), "{}", lane.name);
    for phase in lane.phases("after") {
        assert_other_sides_outcomes(&doc, lane, "after", "before", phase);
    }
}

fn lane(lane: &Lane) {
    assert_not_an_update_is_refused(lane);
    assert_done(lane);
    assert_each_side_tells_the_versions_apart(lane);
}

#[test]
fn jq_cve_2026_32316_abort_on_a_long_repeat() {
    lane(&JQ);
}

#[test]
fn zip_1143866_test_command_injection() {
    lane(&ZIP);
}

#[test]
fn unzip_1142905_zipinfo_smartzip_fault() {
    lane(&UNZIP);
}

#[test]
fn ca_certificates_1151413_upgrade_distrusts_two_roots_and_keeps_a_local_ca() {
    lane(&CA_CERTIFICATES);
}

/// The unzip lane end to end as a release engineer prepares the update: the old tree from
/// `apt-get source unzip=6.0-28`, the backport folder's patch (Debian's own, DEP-3 header as
/// published), both sides built locally: verification-done as a pre-upload check.
#[test]
fn unzip_1142905_run_from_the_source_package_is_a_pre_upload_check() {
    let backport = root().join("patches/deb-1142905-unzip-smartzip");
    let out = work().join("unzip-run");
    let o = run(srukit()
        .arg("--json")
        .arg("run")
        .arg(&backport)
        .args(["--source", "unzip=6.0-28"])
        .arg("--out")
        .arg(&out));
    let doc = json_of(&o);
    assert_eq!(doc["verdict"], "verification-done", "{doc:#}");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(doc["before_version"], "6.0-28");
    assert_eq!(doc["after_version"], "6.0-28+deb12u1");
    // Local builds never set the tag: the summary names the one a run on the archive's
    // security or proposed packages would set.
    assert!(doc["tag"].is_null(), "{doc:#}");
    assert_eq!(doc["provenance"], "local-build");
    assert_eq!(doc["would_tag"], "verification-done-bookworm");

    let result = result(&out.join("verify"));
    for (side, phase, _) in UNZIP.outcomes {
        assert_outcomes(&result, &UNZIP, side, phase);
    }
    // The patch went in as published: every copy in the run's trees is the backport
    // folder's, byte for byte.
    let published = std::fs::read(backport.join("can-2026-2034443.patch")).unwrap();
    let copies: Vec<PathBuf> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() == "can-2026-2034443.patch")
        .map(|e| e.into_path())
        .collect();
    assert!(!copies.is_empty(), "the patch is in no tree under {}", out.display());
    for p in copies {
        assert_eq!(std::fs::read(&p).unwrap(), published, "{}", p.display());
    }
    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    assert!(lp.contains("6.0-28+deb12u1"), "{lp}");
    assert!(lp.contains("pre-upload"), "{lp}");
}
