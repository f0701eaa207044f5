//! Engine tests on small trees: one per patch-format case, one per refusal. Every refusal
//! asserts that the tree (bytes, modes, every entry, `.pc/` included) is unchanged.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::reporter::Quiet;

type Snapshot = BTreeMap<String, (String, u32, Vec<u8>)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let (kind, data) = if md.file_type().is_symlink() {
            ("link", std::fs::read_link(e.path()).unwrap().to_string_lossy().as_bytes().to_vec())
        } else if md.is_dir() {
            ("dir", Vec::new())
        } else if md.is_file() {
            ("file", std::fs::read(e.path()).unwrap())
        } else {
            ("other", Vec::new())
        };
        out.insert(rel, (kind.to_string(), md.permissions().mode() & 0o7777, data));
    }
    out
}

/// A tree with `files` and a series of `patches` (name, bytes), series text given.
fn tree(files: &[(&str, &[u8])], series: &str, patches: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (p, b) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b).unwrap();
    }
    let pd = dir.path().join("debian/patches");
    std::fs::create_dir_all(&pd).unwrap();
    std::fs::write(pd.join("series"), series).unwrap();
    for (n, b) in patches {
        std::fs::write(pd.join(n), b).unwrap();
    }
    dir
}

fn push_all(root: &Path) -> Result<PushReport, PatchError> {
    Quilt::open(root)?.push(Target::All, &Quiet)
}

fn read(root: &Path, p: &str) -> Vec<u8> {
    std::fs::read(root.join(p)).unwrap()
}

fn mode(root: &Path, p: &str) -> u32 {
    std::fs::metadata(root.join(p)).unwrap().permissions().mode() & 0o777
}

/// Push all, check the result, pop all, and check the tree is back byte for byte
/// (`.pc/` keeps quilt's metadata files, as after `quilt pop -a`).
fn round_trip(t: &tempfile::TempDir, check: impl Fn(&Path)) {
    let root = t.path();
    let before = snapshot(root);
    push_all(root).unwrap();
    check(root);
    assert_eq!(read(root, ".pc/.version"), b"2\n");
    assert_eq!(read(root, ".pc/.quilt_patches"), b"debian/patches\n");
    assert_eq!(read(root, ".pc/.quilt_series"), b"series\n");
    Quilt::open(root).unwrap().pop(Target::All, &Quiet).unwrap();
    let mut after = snapshot(root);
    after.retain(|k, _| !k.starts_with(".pc"));
    assert_eq!(before, after);
}

#[test]
fn plain_diff_with_prose_and_several_files() {
    let p = b"Description: two files\nAuthor: x\n\nIndex: a\n===\n--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\nsome prose between\n--- a/sub/b.txt\n+++ b/sub/b.txt\n@@ -1 +1,2 @@\n b\n+c\n";
    let t = tree(
        &[("a.txt", b"one\ntwo\n"), ("sub/b.txt", b"b\n")],
        "# comment\n\nfix.patch\n",
        &[("fix.patch", p)],
    );
    round_trip(&t, |r| {
        assert_eq!(read(r, "a.txt"), b"one\nTWO\n");
        assert_eq!(read(r, "sub/b.txt"), b"b\nc\n");
        assert_eq!(read(r, ".pc/applied-patches"), b"fix.patch\n");
        assert_eq!(read(r, ".pc/fix.patch/a.txt"), b"one\ntwo\n");
        assert!(r.join(".pc/fix.patch/.timestamp").exists());
    });
}

#[test]
fn git_new_deleted_renamed_copied_and_modes() {
    let p = b"From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] git\n---\n\ndiff --git a/new.sh b/new.sh\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/new.sh\n@@ -0,0 +1,2 @@\n+#!/bin/sh\n+true\ndiff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\nindex 2222222..0000000\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\ndiff --git a/old.c b/dir/renamed.c\nsimilarity index 80%\nrename from old.c\nrename to dir/renamed.c\nindex 3..4 100644\n--- a/old.c\n+++ b/dir/renamed.c\n@@ -1,2 +1,2 @@\n int a;\n-int b;\n+int c;\ndiff --git a/keep.txt b/copy.txt\nsimilarity index 100%\ncopy from keep.txt\ncopy to copy.txt\ndiff --git a/run b/run\nold mode 100644\nnew mode 100755\n-- \n2.39.2\n";
    let t = tree(
        &[("gone.txt", b"bye\n"), ("old.c", b"int a;\nint b;\n"), ("keep.txt", b"k\n"), ("run", b"x\n")],
        "git.patch\n",
        &[("git.patch", p)],
    );
    round_trip(&t, |r| {
        assert_eq!(read(r, "new.sh"), b"#!/bin/sh\ntrue\n");
        assert_eq!(mode(r, "new.sh"), 0o755);
        assert!(!r.join("gone.txt").exists());
        assert!(!r.join("old.c").exists());
        assert_eq!(read(r, "dir/renamed.c"), b"int a;\nint c;\n");
        assert_eq!(read(r, "copy.txt"), b"k\n");
        assert_eq!(read(r, "keep.txt"), b"k\n");
        assert_eq!(mode(r, "run"), 0o755);
        // quilt's backups: an empty file for a new one, the old contents otherwise.
        assert_eq!(read(r, ".pc/git.patch/new.sh"), b"");
        assert_eq!(read(r, ".pc/git.patch/gone.txt"), b"bye\n");
        assert_eq!(mode(r, ".pc/git.patch/run"), 0o644);
    });
}

#[test]
fn crlf_no_newline_non_utf8_and_p0() {
    let crlf = b"--- a/dos.txt\r\n+++ b/dos.txt\r\n@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n+c\r\n";
    let content_crlf = b"--- a/w.txt\n+++ b/w.txt\n@@ -1 +1 @@\n-x\r\n+y\r\n";
    let nonl = b"--- a/n.txt\n+++ b/n.txt\n@@ -1 +1 @@\n-last\n\\ No newline at end of file\n+last\n";
    let bytes = b"--- l\xe9.txt\n+++ l\xe9.txt\n@@ -1 +1 @@\n-\xff\xfe\n+\xe9t\xe9\n";
    let t = tree(
        &[("dos.txt", b"a\nb\n"), ("w.txt", b"x\r\n"), ("n.txt", b"last"), ("l\u{e9}.txt", b"\xff\xfe\n")],
        "crlf.patch\ncontent.patch\nnonl.patch\nlatin1.patch -p0\n",
        &[
            ("crlf.patch", crlf),
            ("content.patch", content_crlf),
            ("nonl.patch", nonl),
            ("latin1.patch", bytes),
        ],
    );
    // The file name is UTF-8 on disk here but Latin-1 in the patch: it must not be found.
    let r = t.path();
    let err = push_all(r).unwrap_err();
    assert!(matches!(err, PatchError::FileState { .. }), "{err}");
    std::fs::rename(r.join("l\u{e9}.txt"), r.join(std::ffi::OsStr::from_bytes(b"l\xe9.txt"))).unwrap();
    round_trip(&t, |r| {
        assert_eq!(read(r, "dos.txt"), b"a\nc\n");
        assert_eq!(read(r, "w.txt"), b"y\r\n");
        assert_eq!(read(r, "n.txt"), b"last\n");
        assert_eq!(std::fs::read(r.join(std::ffi::OsStr::from_bytes(b"l\xe9.txt"))).unwrap(), b"\xe9t\xe9\n");
    });
}
use std::os::unix::ffi::OsStrExt;

#[test]
fn push_and_pop_by_name_and_next() {
    let p1 = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-1\n+2\n";
    let p2 = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-2\n+3\n";
    let p3 = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-3\n+4\n";
    let t = tree(&[("f", b"1\n")], "p1\np2\np3\n", &[("p1", p1), ("p2", p2), ("p3", p3)]);
    let r = t.path();
    let mut q = Quilt::open(r).unwrap();
    q.push(Target::Next, &Quiet).unwrap();
    assert_eq!(read(r, "f"), b"2\n");
    q.push(Target::To("p3".into()), &Quiet).unwrap();
    assert_eq!(read(r, "f"), b"4\n");
    assert_eq!(q.applied(), ["p1", "p2", "p3"]);
    q.pop(Target::To("p1".into()), &Quiet).unwrap();
    assert_eq!(read(r, "f"), b"2\n");
    assert_eq!(read(r, ".pc/applied-patches"), b"p1\n");
    assert!(matches!(q.push(Target::To("nope".into()), &Quiet), Err(PatchError::UnknownPatch { .. })));
    q.pop(Target::Next, &Quiet).unwrap();
    assert!(!r.join(".pc/applied-patches").exists(), "quilt removes it when nothing is applied");
}

#[test]
fn check_reports_offsets_and_failures_and_writes_nothing() {
    let good = b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n";
    let bad = b"--- a/g\n+++ b/g\n@@ -1,3 +1,3 @@\n x\n-y\n+Y\n z\n";
    let t = tree(
        &[("f", b"0\n0\na\nb\nc\n"), ("g", b"x\ny\nZZ\n")],
        "good\nbad\n",
        &[("good", good), ("bad", bad)],
    );
    let before = snapshot(t.path());
    let report = Quilt::open(t.path()).unwrap().check().unwrap();
    assert_eq!(snapshot(t.path()), before);
    assert!(!report.all_apply());
    assert_eq!(
        report.patches[0].status,
        PatchStatus::Offsets { hunks: vec![FileOffset { file: "f".into(), hunk: 1, offset: 2 }] }
    );
    match &report.patches[1].status {
        PatchStatus::Fails { file, hunk, patch_line, nearest, .. } => {
            assert_eq!((file.as_str(), *hunk, *patch_line), ("g", 1, 3));
            assert_eq!(nearest, &Some(Nearest { line: 1, fuzz: 1 }));
        }
        other => panic!("{other:?}"),
    }
}

/// Asserts that pushing everything fails with an error `what` accepts, naming the patch
/// file and line, and that the tree did not change at all.
fn refused(t: &tempfile::TempDir, what: impl Fn(&PatchError) -> bool) -> String {
    let before = snapshot(t.path());
    let err = push_all(t.path()).unwrap_err();
    assert!(what(&err), "unexpected error: {err}");
    assert_eq!(snapshot(t.path()), before, "tree changed after: {err}");
    err.to_string()
}

#[test]
fn refuses_traversal_absolute_and_symlink_escape() {
    let trav = b"--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n";
    let t = tree(&[("f", b"a\n")], "t.patch\n", &[("t.patch", trav)]);
    let msg = refused(&t, |e| matches!(e, PatchError::Unsafe { line: 1, .. }));
    assert!(msg.contains("t.patch:1") && msg.contains("etc/passwd"), "{msg}");

    let abs = b"--- /etc/hostname\n+++ /etc/hostname\n@@ -1 +1 @@\n-a\n+b\n";
    let t = tree(&[("f", b"a\n")], "abs.patch\n", &[("abs.patch", abs)]);
    refused(&t, |e| matches!(e, PatchError::Unsafe { .. }));

    // The first file is fine and would apply; the second goes through a symlink out of the tree.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("victim"), "a\n").unwrap();
    let esc =
        b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n--- a/link/victim\n+++ b/link/victim\n@@ -1 +1 @@\n-a\n+b\n";
    let t = tree(&[("f", b"a\n")], "esc.patch\n", &[("esc.patch", esc)]);
    std::os::unix::fs::symlink(outside.path(), t.path().join("link")).unwrap();
    let msg = refused(&t, |e| matches!(e, PatchError::Unsafe { line: 6, .. }));
    assert!(msg.contains("symlink"), "{msg}");
    assert_eq!(std::fs::read(outside.path().join("victim")).unwrap(), b"a\n");
}

#[test]
fn refuses_non_regular_files() {
    let p = b"--- a/fifo\n+++ b/fifo\n@@ -1 +1 @@\n-a\n+b\n";
    let t = tree(&[], "p\n", &[("p", p)]);
    nix::unistd::mkfifo(&t.path().join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    refused(&t, |e| matches!(e, PatchError::Unsafe { .. }));
    let p = b"--- a/d\n+++ b/d\n@@ -1 +1 @@\n-a\n+b\n";
    let t = tree(&[("d/x", b"")], "p\n", &[("p", p)]);
    refused(&t, |e| matches!(e, PatchError::Unsafe { .. }));
}

#[test]
fn refuses_binary_malformed_and_truncated() {
    let bin = b"diff --git a/i.png b/i.png\nindex 1..2 100644\nGIT binary patch\nliteral 3\nabc\n";
    let t = tree(&[("i.png", b"x")], "bin\n", &[("bin", bin)]);
    let msg = refused(&t, |e| matches!(e, PatchError::Binary { line: 3, .. }));
    assert!(msg.contains("binary"), "{msg}");

    let hdr = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n--- a/f\n+++ b/f\n@@ -x +1 @@\n-b\n+c\n";
    let t = tree(&[("f", b"a\n")], "hdr\n", &[("hdr", hdr)]);
    refused(&t, |e| matches!(e, PatchError::Malformed { line: 8, .. }));

    let trunc = b"--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n-a\n+b\n";
    let t = tree(&[("f", b"a\n")], "trunc\n", &[("trunc", trunc)]);
    refused(&t, |e| matches!(e, PatchError::Malformed { .. }));
}

#[test]
fn a_later_failure_leaves_everything_as_before() {
    // p1 applies, p2's first file applies, its second file does not: nothing is written.
    let p1 = b"--- a/a\n+++ b/a\n@@ -1 +1 @@\n-1\n+2\n";
    let p2 = b"--- a/a\n+++ b/a\n@@ -1 +1 @@\n-2\n+3\n--- a/b\n+++ b/b\n@@ -1 +1 @@\n-nope\n+x\n";
    let t = tree(&[("a", b"1\n"), ("b", b"b\n")], "p1\np2\n", &[("p1", p1), ("p2", p2)]);
    let msg = refused(&t, |e| matches!(e, PatchError::DoesNotApply { hunk: 1, line: 8, .. }));
    assert!(msg.contains("p2:8") && msg.contains("hunk #1 of b"), "{msg}");
    assert_eq!(
        PatchError::DoesNotApply {
            patch: "p".into(),
            line: 1,
            file: "f".into(),
            hunk: 1,
            reason: String::new(),
            nearest: None
        }
        .exit(),
        Exit::NotTrue
    );
    // Also from a tree where p1 is already applied.
    Quilt::open(t.path()).unwrap().push(Target::Next, &Quiet).unwrap();
    refused(&t, |e| matches!(e, PatchError::DoesNotApply { .. }));
}

#[test]
fn creating_an_existing_file_is_refused() {
    let p = b"--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+new\n";
    let t = tree(&[("f", b"old\n")], "p\n", &[("p", p)]);
    refused(&t, |e| matches!(e, PatchError::FileState { .. }));
}

#[test]
fn pop_refuses_local_changes_and_changes_nothing() {
    let p = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-1\n+2\n";
    let t = tree(&[("f", b"1\n")], "p\n", &[("p", p)]);
    push_all(t.path()).unwrap();
    std::fs::write(t.path().join("f"), "2 and my edit\n").unwrap();
    let before = snapshot(t.path());
    let err = Quilt::open(t.path()).unwrap().pop(Target::All, &Quiet).unwrap_err();
    assert!(matches!(err, PatchError::LocalChanges { .. }), "{err}");
    assert_eq!(snapshot(t.path()), before);
}

#[test]
fn series_errors_and_inconsistent_state_are_bad_input() {
    let t = tree(&[], "../evil.patch\n", &[]);
    let err = Quilt::open(t.path()).err().unwrap();
    assert_eq!(err.exit(), Exit::BadInput);
    let t = tree(&[], "a\n", &[("a", b"")]);
    std::fs::create_dir_all(t.path().join(".pc")).unwrap();
    std::fs::write(t.path().join(".pc/applied-patches"), "b\n").unwrap();
    assert!(matches!(Quilt::open(t.path()), Err(PatchError::State { .. })));
}

/// The push keeps each original in `.pc/` as the same inode (quilt's backups are the
/// originals too) and gives every working file a new inode: a file hard-linked from outside
/// the tree (`cp -al`) never sees a patch, neither after push nor after pop. Two patches
/// that cancel out still leave the file in place, with its contents.
#[test]
fn hard_linked_originals_are_moved_never_written_through() {
    use std::os::unix::fs::MetadataExt;
    let p1 = b"--- a/a\n+++ b/a\n@@ -1 +1 @@\n-one\n+ONE\n--- a/b\n+++ b/b\n@@ -1 +1 @@\n-bee\n+BEE\n";
    let p2 = b"--- a/a\n+++ b/a\n@@ -1 +1 @@\n-ONE\n+uno\n--- a/b\n+++ b/b\n@@ -1 +1 @@\n-BEE\n+bee\n";
    let t = tree(&[("a", b"one\n"), ("b", b"bee\n")], "p1\np2\n", &[("p1", p1), ("p2", p2)]);
    let root = t.path();
    let outside = tempfile::tempdir().unwrap();
    let (out_a, out_b) = (outside.path().join("a"), outside.path().join("b"));
    std::fs::hard_link(root.join("a"), &out_a).unwrap();
    std::fs::hard_link(root.join("b"), &out_b).unwrap();
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    let before = snapshot(root);

    push_all(root).unwrap();
    assert_eq!(std::fs::read(&out_a).unwrap(), b"one\n", "the link outside is not written through");
    assert_eq!(std::fs::read(&out_b).unwrap(), b"bee\n");
    assert_eq!(ino(&root.join(".pc/p1/a")), ino(&out_a), "the backup is the original inode");
    assert_ne!(ino(&root.join("a")), ino(&out_a), "the working file is a new inode");
    assert_eq!(read(root, "a"), b"uno\n");
    assert_eq!(read(root, ".pc/p2/a"), b"ONE\n");
    assert_eq!(read(root, "b"), b"bee\n", "patches that cancel out leave the file as it was");
    assert_ne!(ino(&root.join("b")), ino(&out_b));

    Quilt::open(root).unwrap().pop(Target::All, &Quiet).unwrap();
    assert_eq!(std::fs::read(&out_a).unwrap(), b"one\n");
    assert_eq!(std::fs::read(&out_b).unwrap(), b"bee\n");
    let mut after = snapshot(root);
    after.retain(|k, _| !k.starts_with(".pc"));
    assert_eq!(before, after);
}

/// A series whose second patch needs the lines the first one added (its context is the
/// first patch's `+` lines, at an offset the first one made): the file's state carries from
/// patch to patch in memory, and `.pc/<second>/` keeps the state between them.
#[test]
fn a_later_patch_applies_to_the_lines_an_earlier_one_wrote() {
    let orig: Vec<u8> = (1..=200).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    let p1 = b"--- a/f\n+++ b/f\n@@ -10,3 +10,5 @@\n line 10\n+added A\n+added B\n line 11\n line 12\n";
    // Hunk 1 says line 12 and finds p1's lines at 11 (offset -1); hunk 2 says 189 and finds
    // line 188 at 190, two lines down (p1 added two): a running offset of +1.
    let p2 = b"--- a/f\n+++ b/f\n@@ -12,3 +12,3 @@\n added A\n-added B\n+changed B\n line 11\n@@ -189,4 +189,5 @@\n line 188\n line 189\n+tail\n line 190\n line 191\n";
    let t = tree(&[("f", &orig)], "p1\np2\n", &[("p1", p1), ("p2", p2)]);
    let root = t.path();
    let report = push_all(root).unwrap();
    let mut want = orig.clone();
    let at = |w: &[u8], l: &[u8]| w.windows(l.len()).position(|x| x == l).unwrap() + l.len();
    let i = at(&want, b"line 10\n");
    want.splice(i..i, b"added A\nchanged B\n".iter().copied());
    let i = at(&want, b"line 189\n");
    want.splice(i..i, b"tail\n".iter().copied());
    assert_eq!(read(root, "f"), want);
    let mut between = orig.clone();
    let i = at(&between, b"line 10\n");
    between.splice(i..i, b"added A\nadded B\n".iter().copied());
    assert_eq!(read(root, ".pc/p2/f"), between, "the backup is the state p1 left");
    assert_eq!(read(root, ".pc/p1/f"), orig);
    let offsets: Vec<i64> = report.applied[1].offsets.iter().map(|o| o.offset).collect();
    assert_eq!(offsets, vec![-1, 1], "GNU patch's running offsets");
    round_trip(&tree(&[("f", &orig)], "p1\np2\n", &[("p1", p1), ("p2", p2)]), |_| {});
}
