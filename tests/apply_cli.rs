//! `srukit apply` end to end on a tiny synthetic "3.0 (quilt)" package made here: the happy
//! path judged by dpkg-parsechangelog and dpkg-source -b, idempotency, --dry-run, --push, and
//! every failure path (exit code, message naming file and line, tree byte for byte unchanged).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use srukit::formats::changelog::dpkg_parse;
use srukit::formats::distro_info::Distro;
use srukit::process::Cmd;

const HELLO: &str = "#!/usr/bin/python3\n\"\"\"A tiny program for srukit's apply tests.\"\"\"\n\nGREETING = \"hello\"\n\n\n\
def main():\n    print(GREETING)\n\n\nif __name__ == \"__main__\":\n    main()\n";

const CHANGELOG: &str = "hello-sru (1.0-1ubuntu1) jammy; urgency=medium\n\n  * Initial Ubuntu upload.\n\
\t* A tab-indented line, kept byte for byte.\n\n -- Test Person <test@example.org>  Mon, 07 Jul 2014 09:05:48 -0400\n\n\
hello-sru (1.0-1) unstable; urgency=low\n\n  * Initial release.\n\n -- Test Person <test@example.org>  Sun, 06 Jul 2014 09:05:48 -0400\n";

const CONTROL: &str = "Source: hello-sru\nSection: misc\nPriority: optional\nMaintainer: Test Person <test@example.org>\n\
Build-Depends: debhelper-compat (= 13)\nStandards-Version: 4.6.2\n\nPackage: hello-sru\nArchitecture: all\n\
Depends: ${misc:Depends}, python3\nDescription: tiny program for srukit tests\n Used by srukit's apply tests.\n";

const DEP3: &str = "Description: Say goodbye too\n The long description.\nOrigin: upstream, https://example.org/hello/commit/abc123\n\
Bug-Ubuntu: https://bugs.launchpad.net/bugs/1336568\nLast-Update: 2014-10-02\n---\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A unified diff of one file, made by diff(1) so the context is exactly right.
fn diff(name: &str, old: &str, new: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("a").join(name), old);
    write(&d.path().join("b").join(name), new);
    let out = Cmd::new("diff")
        .args(["-u", "--label", &format!("a/{name}"), "--label", &format!("b/{name}")])
        .arg(format!("a/{name}"))
        .arg(format!("b/{name}"))
        .cwd(d.path())
        .output_unchecked()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "diff found a difference");
    String::from_utf8(out.stdout).unwrap()
}

fn goodbye() -> String {
    HELLO.replace("    print(GREETING)\n", "    print(GREETING)\n    print(\"goodbye\")\n")
}

struct Fixture {
    _dir: tempfile::TempDir,
    parent: PathBuf,
    tree: PathBuf,
    backport: PathBuf,
}

/// `hello-sru-1.0/` with an orig tarball beside it, two patches in its series, and a
/// backport folder whose patch adds a line to hello.py.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("build");
    let tree = parent.join("hello-sru-1.0");
    write(&tree.join("hello.py"), HELLO);
    write(&tree.join("README"), "hello-sru\n");
    Cmd::new("tar")
        .args([
            "--sort=name",
            "--mtime=@0",
            "--owner=0",
            "--group=0",
            "-czf",
            "hello-sru_1.0.orig.tar.gz",
            "hello-sru-1.0",
        ])
        .cwd(&parent)
        .run()
        .unwrap();
    write(&tree.join("debian/changelog"), CHANGELOG);
    write(&tree.join("debian/control"), CONTROL);
    write(&tree.join("debian/rules"), "#!/usr/bin/make -f\n%:\n\tdh $@\n");
    std::fs::set_permissions(tree.join("debian/rules"), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(&tree.join("debian/source/format"), "3.0 (quilt)\n");
    write(
        &tree.join("debian/patches/01-readme.patch"),
        &diff("README", "hello-sru\n", "hello-sru, patched\n"),
    );
    let greeting = HELLO.replace("\"hello\"", "\"hello, world\"");
    write(&tree.join("debian/patches/02-greeting.patch"), &diff("hello.py", HELLO, &greeting));
    write(&tree.join("debian/patches/series"), "# kept as is\n01-readme.patch\n02-greeting.patch\n");
    let backport = dir.path().join("lp1336568-goodbye");
    write(&backport.join("fix.patch"), &format!("{DEP3}{}", diff("hello.py", HELLO, &goodbye())));
    write(&backport.join("backport.toml"), &manifest(""));
    Fixture { _dir: dir, parent, tree, backport }
}

fn manifest(target_extra: &str) -> String {
    format!(
        "name = \"lp1336568-goodbye\"\nsummary = \"Say goodbye\"\nsource = \"hello-sru\"\n\n[bugs]\nlaunchpad = [1336568]\n\n\
         [target]\ndistro = \"ubuntu\"\nseries = \"jammy\"\nversion = \"1.0-1ubuntu1\"\n{target_extra}\n[version]\n\
         scheme = \"ubuntu-sru\"\n\n[changelog]\nbullets = [\"Say goodbye after the greeting\"]\n\n\
         [[patches]]\nfile = \"fix.patch\"\nafter = \"01-readme.patch\"\n"
    )
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn srukit(args: &[&str]) -> Run {
    let out = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .args(args)
        .env("DEBFULLNAME", "Jane Doe")
        .env("DEBEMAIL", "jane@example.org")
        .env("SOURCE_DATE_EPOCH", "1412244672")
        .output_unchecked()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn apply(f: &Fixture, extra: &[&str]) -> Run {
    let mut args = vec!["apply", f.backport.to_str().unwrap(), "--tree", f.tree.to_str().unwrap()];
    args.extend_from_slice(extra);
    srukit(&args)
}

/// Every path below the tree with its bytes and mode (directories included).
fn snapshot(tree: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    walkdir::WalkDir::new(tree)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let meta = e.metadata().unwrap();
            let bytes = if meta.is_file() { std::fs::read(e.path()).unwrap() } else { Vec::new() };
            (e.path().strip_prefix(tree).unwrap().to_path_buf(), (bytes, meta.permissions().mode()))
        })
        .collect()
}

/// The failure contract: exit code, a message naming file:line, the tree untouched.
fn assert_fails(f: &Fixture, extra: &[&str], code: i32, wants: &[&str]) {
    let before = snapshot(&f.tree);
    let r = apply(f, extra);
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    for w in wants {
        assert!(r.stderr.contains(w), "want `{w}` in: {}", r.stderr);
    }
    assert!(snapshot(&f.tree) == before, "the tree changed after a failed apply: {}", r.stderr);
}

#[test]
fn apply_gives_the_sru_version_and_a_tree_dpkg_source_builds() {
    let f = fixture();
    let r = apply(&f, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("1.0-1ubuntu1 -> 1.0-1ubuntu2 (jammy)"), "{}", r.stdout);

    let cl = std::fs::read(f.tree.join("debian/changelog")).unwrap();
    let fields = dpkg_parse(&cl, Distro::Ubuntu).unwrap();
    assert_eq!(fields["Version"], "1.0-1ubuntu2");
    assert_eq!(fields["Distribution"], "jammy");
    assert_eq!(fields["Urgency"], "medium");
    assert_eq!(fields["Launchpad-Bugs-Fixed"], "1336568");
    assert_eq!(fields["Maintainer"], "Jane Doe <jane@example.org>");
    assert_eq!(fields["Date"], "Thu, 02 Oct 2014 10:11:12 +0000");
    assert!(
        fields["Changes"].contains("* Say goodbye after the greeting (LP: #1336568)"),
        "{}",
        fields["Changes"]
    );
    assert!(cl.ends_with(CHANGELOG.as_bytes()), "every old byte kept");

    let series = std::fs::read_to_string(f.tree.join("debian/patches/series")).unwrap();
    assert_eq!(series, "# kept as is\n01-readme.patch\nfix.patch\n02-greeting.patch\n");
    assert_eq!(
        std::fs::read(f.tree.join("debian/patches/fix.patch")).unwrap(),
        std::fs::read(f.backport.join("fix.patch")).unwrap()
    );
    assert_eq!(std::fs::read_to_string(f.tree.join("hello.py")).unwrap(), HELLO, "left unpatched");
    assert!(!f.tree.join(".pc/applied-patches").exists());

    // The judge: dpkg-source builds the source package, applying the series itself.
    let out = Cmd::new("dpkg-source").args(["-b", "hello-sru-1.0"]).cwd(&f.parent).run().unwrap();
    assert!(f.parent.join("hello-sru_1.0-1ubuntu2.dsc").exists(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(f.parent.join("hello-sru_1.0-1ubuntu2.debian.tar.xz").exists());
}

#[test]
fn apply_twice_is_a_no_op_that_says_so() {
    let f = fixture();
    assert_eq!(apply(&f, &[]).code, 0);
    let before = snapshot(&f.tree);
    let r = apply(&f, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("already applied"), "{}", r.stdout);
    assert!(snapshot(&f.tree) == before, "second apply changed the tree");
}

#[test]
fn dry_run_reports_and_touches_nothing() {
    let f = fixture();
    let before = snapshot(&f.tree);
    let r = apply(&f, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("would apply"), "{}", r.stdout);
    assert!(r.stdout.contains("1.0-1ubuntu2"), "{}", r.stdout);
    assert!(r.stdout.contains("3 patches apply strictly"), "{}", r.stdout);
    assert!(snapshot(&f.tree) == before);
}

#[test]
fn json_output_carries_the_report() {
    let f = fixture();
    let r = srukit(&["--json", "apply", f.backport.to_str().unwrap(), "--tree", f.tree.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let start = r.stdout.rfind("\n{\n").map_or(0, |i| i + 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout[start..]).unwrap();
    assert_eq!(v["new_version"], "1.0-1ubuntu2");
    assert_eq!(v["launchpad_bugs_fixed"][0], "1336568");
    assert_eq!(v["patches"][0]["after"], "01-readme.patch");
}

#[test]
fn push_leaves_the_series_applied() {
    let f = fixture();
    let r = apply(&f, &["--push"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let applied = std::fs::read_to_string(f.tree.join(".pc/applied-patches")).unwrap();
    assert_eq!(applied, "01-readme.patch\nfix.patch\n02-greeting.patch\n");
    let hello = std::fs::read_to_string(f.tree.join("hello.py")).unwrap();
    assert!(hello.contains("print(\"goodbye\")") && hello.contains("\"hello, world\""), "{hello}");
}

#[test]
fn wrong_package_is_refused_naming_both() {
    let f = fixture();
    write(
        &f.backport.join("backport.toml"),
        &manifest("").replace("source = \"hello-sru\"", "source = \"cinder\""),
    );
    assert_fails(&f, &[], 2, &["debian/changelog:1: ", "`hello-sru`", "`cinder`"]);
}

#[test]
fn wrong_version_is_refused_naming_both() {
    let f = fixture();
    write(
        &f.backport.join("backport.toml"),
        &manifest("").replace("version = \"1.0-1ubuntu1\"", "version = \"1.0-1ubuntu3\""),
    );
    assert_fails(&f, &[], 2, &["debian/changelog:1: ", "1.0-1ubuntu1", "1.0-1ubuntu3"]);
}

#[test]
fn a_patch_that_does_not_apply_leaves_the_tree_untouched() {
    let f = fixture();
    let other = HELLO.replace("def main():\n", "def main(argv):\n");
    let bad =
        diff("hello.py", &other, &other.replace("    print(GREETING)\n", "    print(GREETING, argv)\n"));
    write(&f.backport.join("fix.patch"), &format!("{DEP3}{bad}"));
    // The hunk header sits on the line after the header, `---` and the two file lines.
    let hunk_line = DEP3.lines().count() + 3;
    assert_fails(
        &f,
        &[],
        1,
        &[&format!("debian/patches/fix.patch:{hunk_line}: hunk #1 of hello.py does not apply")],
    );
}

#[test]
fn a_patch_that_breaks_a_later_patch_is_refused() {
    let f = fixture();
    // Changes the GREETING line that 02-greeting.patch needs, inserted before it.
    let clash = diff("hello.py", HELLO, &HELLO.replace("\"hello\"", "\"hi\""));
    write(&f.backport.join("fix.patch"), &format!("{DEP3}{clash}"));
    assert_fails(&f, &[], 1, &["debian/patches/02-greeting.patch:3: hunk #1 of hello.py does not apply"]);
}

#[test]
fn bad_dep3_is_refused_at_its_line() {
    let f = fixture();
    let text = std::fs::read_to_string(f.backport.join("fix.patch")).unwrap();
    write(
        &f.backport.join("fix.patch"),
        &text.replace("Last-Update: 2014-10-02", "Last-Update: 2014-10-02\nLast-Update: 2014-10-03"),
    );
    assert_fails(&f, &[], 2, &["fix.patch:6: DEP-3: duplicate Last-Update"]);
}

#[test]
fn invalid_versions_are_refused() {
    let f = fixture();
    write(&f.backport.join("backport.toml"), &manifest("below = \"1.0-\"\n"));
    assert_fails(
        &f,
        &[],
        2,
        &["backport.toml:12:9: target.below: invalid version `1.0-`: revision number is empty"],
    );
    write(&f.backport.join("backport.toml"), &manifest(""));
    assert_fails(&f, &["--below", "a1.0"], 2, &["--below", "version number does not start with digit"]);
}

#[test]
fn no_room_below_the_next_series_is_refused_saying_why() {
    let f = fixture();
    assert_fails(&f, &["--below", "1.0-1"], 2, &["backport.toml", "sorts below the tree's version"]);
}

#[test]
fn below_a_later_series_with_the_same_version_takes_the_dot_one_form() {
    let f = fixture();
    let r = apply(&f, &["--below", "1.0-1ubuntu1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let fields =
        dpkg_parse(&std::fs::read(f.tree.join("debian/changelog")).unwrap(), Distro::Ubuntu).unwrap();
    assert_eq!(fields["Version"], "1.0-1ubuntu1.1");
}

#[test]
fn a_changelog_that_fails_to_parse_is_refused_at_its_line() {
    let f = fixture();
    write(&f.tree.join("debian/changelog"), &CHANGELOG.replacen("(1.0-1ubuntu1)", "(1.0-1ubuntu1", 1));
    assert_fails(&f, &[], 2, &["debian/changelog:1: "]);
    write(&f.tree.join("debian/changelog"), &CHANGELOG.replacen("(1.0-1ubuntu1)", "(1.0-)", 1));
    assert_fails(&f, &[], 2, &["debian/changelog:1: invalid version `1.0-`"]);
}

#[test]
fn a_different_patch_under_the_same_name_is_an_error() {
    let f = fixture();
    write(&f.tree.join("debian/patches/fix.patch"), "Description: someone else's\nAuthor: X <x@y>\n");
    assert_fails(
        &f,
        &[],
        2,
        &["debian/patches/fix.patch: a different patch of that name", "lp1336568-goodbye/fix.patch"],
    );
}

#[test]
fn unknown_manifest_keys_name_the_key_and_line() {
    let f = fixture();
    write(&f.backport.join("backport.toml"), &manifest("colour = \"red\"\n"));
    assert_fails(&f, &[], 2, &["backport.toml:12:1: unknown field `colour`"]);
}

#[test]
fn an_unknown_after_names_the_series() {
    let f = fixture();
    write(
        &f.backport.join("backport.toml"),
        &manifest("").replace("after = \"01-readme.patch\"", "after = \"nope.patch\""),
    );
    assert_fails(&f, &[], 2, &["`after = \"nope.patch\"`", "debian/patches/series"]);
}

#[test]
fn offsets_are_reported() {
    let f = fixture();
    // Made against a hello.py without its docstring: the hunk lands one line lower.
    let short = HELLO.replace("\"\"\"A tiny program for srukit's apply tests.\"\"\"\n", "");
    let shifted = diff(
        "hello.py",
        &short,
        &short.replace("    print(GREETING)\n", "    print(GREETING)\n    print(\"goodbye\")\n"),
    );
    write(&f.backport.join("fix.patch"), &format!("{DEP3}{shifted}"));
    let r = apply(&f, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("offsets: fix.patch: hello.py hunk #1 +1"), "{}", r.stdout);
}

#[test]
fn a_tree_without_patches_gets_a_series_and_a_failure_removes_it() {
    let f = fixture();
    std::fs::remove_dir_all(f.tree.join("debian/patches")).unwrap();
    write(&f.backport.join("backport.toml"), &manifest("").replace("after = \"01-readme.patch\"\n", ""));
    let r = apply(&f, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(at the top)"), "{}", r.stdout);
    let other = HELLO.replace("def main():\n", "def main(argv):\n");
    let bad =
        diff("hello.py", &other, &other.replace("    print(GREETING)\n", "    print(GREETING, argv)\n"));
    write(&f.backport.join("fix.patch"), &format!("{DEP3}{bad}"));
    assert_fails(&f, &[], 1, &["debian/patches/fix.patch:"]);
    assert!(!f.tree.join("debian/patches").exists(), "the directory apply made is gone again");
}

#[test]
fn a_patched_tree_is_refused() {
    let f = fixture();
    Cmd::new("quilt")
        .args(["push", "-a", "-q"])
        .cwd(&f.tree)
        .env("QUILT_PATCHES", "debian/patches")
        .run()
        .unwrap();
    assert_fails(&f, &[], 2, &[".pc: 2 patch(es) are applied; the tree must be unpatched"]);
}

/// A patch in a subdirectory of the backport folder lands at the same path below
/// debian/patches and in the series; if the series then fails, the new directory goes too.
#[test]
fn a_patch_in_a_subdirectory_keeps_its_path() {
    let f = fixture();
    std::fs::rename(f.backport.join("fix.patch"), {
        std::fs::create_dir_all(f.backport.join("CVE-2026-1")).unwrap();
        f.backport.join("CVE-2026-1/01-fix.patch")
    })
    .unwrap();
    write(
        &f.backport.join("backport.toml"),
        &manifest("").replace("\"fix.patch\"", "\"CVE-2026-1/01-fix.patch\""),
    );
    let r = apply(&f, &["--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let series = std::fs::read_to_string(f.tree.join("debian/patches/series")).unwrap();
    assert_eq!(series, "# kept as is\n01-readme.patch\nCVE-2026-1/01-fix.patch\n02-greeting.patch\n");
    assert_eq!(
        std::fs::read(f.tree.join("debian/patches/CVE-2026-1/01-fix.patch")).unwrap(),
        std::fs::read(f.backport.join("CVE-2026-1/01-fix.patch")).unwrap()
    );

    // On a fresh tree, a patch that does not apply: nothing is left, the directory neither.
    let f = fixture();
    let clash = diff("hello.py", HELLO, &HELLO.replace("\"hello\"", "\"hi\""));
    write(&f.backport.join("a/b/fix.patch"), &format!("{DEP3}{clash}"));
    write(&f.backport.join("backport.toml"), &manifest("").replace("\"fix.patch\"", "\"a/b/fix.patch\""));
    assert_fails(&f, &[], 1, &["debian/patches/02-greeting.patch:3: hunk #1 of hello.py does not apply"]);
    assert!(!f.tree.join("debian/patches/a").exists());

    // `..` and absolute paths are refused at the manifest's line.
    for bad in ["../fix.patch", "/etc/passwd"] {
        write(&f.backport.join("backport.toml"), &manifest("").replace("\"fix.patch\"", &format!("{bad:?}")));
        assert_fails(&f, &[], 2, &["backport.toml:20:8: patches.file: "]);
    }
}

/// `dep3 = "warn"`: an imported patch with a flawed header applies, with the warning in
/// the JSON report and on stderr; strict (the default) refuses the same patch.
#[test]
fn dep3_warn_applies_with_a_warning() {
    let f = fixture();
    let text = std::fs::read_to_string(f.backport.join("fix.patch")).unwrap();
    write(&f.backport.join("fix.patch"), &text.replace("Origin: upstream,", "Origin: ustream,"));
    assert_fails(&f, &[], 2, &["fix.patch:3: DEP-3: Origin category `ustream`"]);
    write(&f.backport.join("backport.toml"), &format!("{}dep3 = \"warn\"\n", manifest("")));
    let r = apply(&f, &["--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let w = &report["warnings"][0];
    assert_eq!(
        (w["line"].as_u64(), w["patch"].as_str().map(|p| p.ends_with("/fix.patch"))),
        (Some(3), Some(true))
    );
    assert!(w["message"].as_str().unwrap().starts_with("Origin category `ustream`"), "{report}");
    let r = apply(&f, &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("warning: ") && r.stderr.contains("fix.patch:3: DEP-3: Origin category"),
        "{}",
        r.stderr
    );
}
