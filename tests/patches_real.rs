//! `srukit patches` on real Debian 12 source packages, against dpkg-source and quilt:
//! push --all gives dpkg-source -x's tree (contents and executable bits, `.pc/` aside),
//! pop --all gives the unpatched tree back, quilt takes over in both directions, and
//! `dpkg-source -b` accepts a tree srukit pushed.

mod patches_common;

use patches_common::*;
use srukit::process::Cmd;

fn assert_same(a: &Snapshot, b: &Snapshot, what: &str) {
    let d = diff(a, b);
    assert!(d.is_empty(), "{what}:\n{}", d.join("\n"));
}

/// A full snapshot reduced to what `snapshot_focused` keeps.
fn focused(s: &Snapshot, focus: &std::collections::BTreeSet<std::path::PathBuf>) -> Snapshot {
    s.iter()
        .map(|(k, v)| {
            let keep = focus.contains(k) || k.starts_with(".pc");
            (k.clone(), (v.0, v.1, v.2, if keep || v.0 != 'f' { v.3.clone() } else { Vec::new() }))
        })
        .collect()
}

fn check_package(pkg: &str, build: bool) {
    let (un, re) = extracted(pkg);
    let unpatched = snapshot(&un, false);
    let reference = snapshot(&re, false);
    let focus = touched(&unpatched, &reference);
    let (unpatched, reference) = (focused(&unpatched, &focus), focused(&reference, &focus));
    let snap = |t: &std::path::Path| snapshot_focused(t, false, Some(&focus));
    let name = re.file_name().unwrap().to_string_lossy().into_owned();

    // srukit push --all == dpkg-source -x; then srukit pop --all == unpatched.
    let (_t, tree) = copy_of(&un, &name);
    let check = srukit(&["patches", "check", "--json"], &tree);
    ok(&check);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).expect("one JSON document");
    assert!(report["patches"].as_array().unwrap().iter().all(|p| p["status"] != "fails"), "{report}");
    let pushed = srukit(&["patches", "push", "--all", "--json"], &tree);
    ok(&pushed);
    let report: serde_json::Value = serde_json::from_slice(&pushed.stdout).expect("one JSON document");
    assert_eq!(report["applied"].as_array().unwrap().len(), report_len(&tree));
    assert_same(&snap(&tree), &reference, &format!("{pkg}: srukit push --all vs dpkg-source -x"));
    let applied = std::fs::read(tree.join(".pc/applied-patches")).unwrap_or_default();
    assert_eq!(
        applied,
        std::fs::read(re.join(".pc/applied-patches")).unwrap_or_default(),
        "{pkg}: applied-patches"
    );
    if build {
        // dpkg-source -b wants the orig tarball beside the tree.
        let dsc = dsc(pkg);
        for f in std::fs::read_dir(dsc.parent().unwrap()).unwrap().flatten() {
            if f.file_name().to_string_lossy().contains(".orig.tar") {
                std::os::unix::fs::symlink(f.path(), tree.parent().unwrap().join(f.file_name())).unwrap();
            }
        }
        Cmd::new("dpkg-source").args(["-q", "-b"]).arg(&name).cwd(tree.parent().unwrap()).run().unwrap();
        let _ = std::fs::remove_dir_all(tree.join(".pc/.dpkg-source-unapply"));
    }
    ok(&srukit(&["patches", "pop", "--all"], &tree));
    assert_same(&snap(&tree), &unpatched, &format!("{pkg}: srukit pop --all vs unpatched"));

    // srukit push --all, then quilt pop -a.
    ok(&srukit(&["patches", "push", "--all"], &tree));
    Cmd::new("quilt")
        .args(["pop", "-a", "-q"])
        .cwd(&tree)
        .env("QUILT_PATCHES", "debian/patches")
        .run_ok_or_none();
    assert_same(&snap(&tree), &unpatched, &format!("{pkg}: srukit push, quilt pop -a"));

    // quilt push -a, then srukit pop --all.
    Cmd::new("quilt")
        .args(["push", "-a", "-q"])
        .cwd(&tree)
        .env("QUILT_PATCHES", "debian/patches")
        .run_ok_or_none();
    assert_same(&snap(&tree), &reference, &format!("{pkg}: quilt push -a vs dpkg-source -x"));
    ok(&srukit(&["patches", "pop", "--all"], &tree));
    assert_same(&snap(&tree), &unpatched, &format!("{pkg}: quilt push -a, srukit pop --all"));
}

/// How many patches `.pc/applied-patches` lists.
fn report_len(tree: &std::path::Path) -> usize {
    std::fs::read_to_string(tree.join(".pc/applied-patches")).unwrap_or_default().lines().count()
}

/// quilt exits 2 when there is nothing to do (hello has no patches): that is fine here.
trait RunOk {
    fn run_ok_or_none(self);
}

impl RunOk for Cmd {
    fn run_ok_or_none(self) {
        let out = self.output_unchecked().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 2)),
            "{}: {}",
            self.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn tgt() {
    check_package("tgt", true);
}
#[test]
fn sed() {
    check_package("sed", true);
}
#[test]
fn coreutils() {
    check_package("coreutils", false);
}
#[test]
fn tmux() {
    check_package("tmux", true);
}
#[test]
fn bash() {
    check_package("bash", false);
}
#[test]
fn nginx() {
    check_package("nginx", false);
}
#[test]
fn lvm2() {
    check_package("lvm2", false);
}
#[test]
fn tar() {
    check_package("tar", false);
}
#[test]
fn procps() {
    check_package("procps", false);
}
#[test]
fn hello() {
    check_package("hello", true);
}
