//! `srukit backport` end to end: small upstream repositories built with git2 in the test
//! (tags, a release branch, commits on main), the binary run on them, the exported patch
//! checked field by field and applied with GNU patch to the older release's files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{FileMode, Oid, Repository, Signature, Time};

/// An upstream repository under construction.
struct Upstream {
    dir: tempfile::TempDir,
    repo: Repository,
    tick: i64,
}

/// A file change: path, new content (`None` deletes), mode.
type Change<'a> = (&'a str, Option<&'a [u8]>, FileMode);

fn text(p: &str, c: &'static str) -> Change<'static> {
    (Box::leak(p.to_string().into_boxed_str()), Some(c.as_bytes()), FileMode::Blob)
}

impl Upstream {
    fn new() -> Upstream {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        Upstream { dir, repo, tick: 1_400_000_000 }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A commit on top of `parent` (none: a root commit), moving `branch` to it.
    fn commit(&mut self, parent: Option<Oid>, branch: &str, changes: &[Change<'_>], msg: &str) -> Oid {
        self.tick += 3600;
        let sig = Signature::new("A U Thor", "author@example.org", &Time::new(self.tick, 0)).unwrap();
        let base = match parent {
            Some(p) => self.repo.find_commit(p).unwrap().tree().unwrap(),
            None => {
                let id = self.repo.treebuilder(None).unwrap().write().unwrap();
                self.repo.find_tree(id).unwrap()
            }
        };
        let mut up = git2::build::TreeUpdateBuilder::new();
        for (path, content, mode) in changes {
            match content {
                Some(c) => {
                    let blob = self.repo.blob(c).unwrap();
                    up.upsert(*path, blob, *mode);
                }
                None => {
                    up.remove(*path);
                }
            }
        }
        let tree = self.repo.find_tree(up.create_updated(&self.repo, &base).unwrap()).unwrap();
        let parents: Vec<git2::Commit> =
            parent.map(|p| self.repo.find_commit(p).unwrap()).into_iter().collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        self.repo.commit(Some(&format!("refs/heads/{branch}")), &sig, &sig, msg, &tree, &refs).unwrap()
    }

    fn tag(&self, name: &str, id: Oid) {
        let obj = self.repo.find_object(id, None).unwrap();
        self.repo.tag_lightweight(name, &obj, false).unwrap();
    }

    /// The files of a commit, written out as a plain directory (the "release tarball").
    fn export(&self, id: Oid, dest: &Path) {
        let tree = self.repo.find_commit(id).unwrap().tree().unwrap();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(git2::ObjectType::Blob) {
                let p = dest.join(root).join(entry.name().unwrap());
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                let blob = self.repo.find_blob(entry.id()).unwrap();
                std::fs::write(&p, blob.content()).unwrap();
                if entry.filemode() == 0o100755 {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
                }
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
    }
}

/// Numbered lines, so hunks have distinct context.
fn lines(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line {i}\n")).collect()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

struct Run {
    out: Output,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Runs srukit with `cache` as XDG_CACHE_HOME. A pick without --tree gets a Debian
/// bookworm tree at 1.0-1 (`<cache>/default-tree`): srukit needs one to create backport.toml.
/// `srukit backport --upstream UPSTREAM --commit COMMIT REST...`
fn pick(cache: &Path, upstream: &str, commit: &str, rest: &[&str]) -> Run {
    let mut args = vec!["backport", "--upstream", upstream, "--commit", commit];
    args.extend_from_slice(rest);
    srukit(cache, &args)
}

fn srukit(cache: &Path, args: &[&str]) -> Run {
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    if args.iter().any(|a| a == "--upstream") && !args.iter().any(|a| a == "--tree") {
        let tree = cache.join("default-tree");
        write_tree_changelog_in(&tree, "1.0-1", "bookworm");
        args.extend(["--tree".to_string(), tree.display().to_string()]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(&args)
        .env("XDG_CACHE_HOME", cache)
        .env("DEBFULLNAME", "T Ester")
        .env("DEBEMAIL", "tester@example.org")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    Run { out }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The standard fixture: v1.0 (tag), a stable/1.x branch with its own fix, main with lines
/// added at the top of app.c (so hunks move), a test suite, a rename, then the fixes.
struct Fixture {
    up: Upstream,
    v1: Oid,
    stable: Oid,
    main_base: Oid,
}

fn fixture() -> Fixture {
    let mut up = Upstream::new();
    let app = leak(lines(1, 40));
    let util = leak(lines(100, 130));
    let v1 = up.commit(
        None,
        "main",
        &[text("src/app.c", app), text("src/util.c", util), text("README", "hello\n")],
        "Release 1.0\n",
    );
    up.tag("v1.0", v1);
    // The release branch changes line 30 of app.c its own way.
    let stable_app = leak(app.replace("line 30\n", "line 30 (stable fix)\n"));
    let stable = up.commit(Some(v1), "stable/1.x", &[text("src/app.c", stable_app)], "Stable fix\n");
    // main: 5 new lines at the top (offsets), a test suite, util.c moved to lib/.
    let main_app = leak(format!("{}{}", lines(901, 905), app));
    let m1 = up.commit(
        Some(v1),
        "main",
        &[text("src/app.c", main_app), text("tests/test_app.py", "assert True\n")],
        "Grow\n",
    );
    let main_base = up.commit(
        Some(m1),
        "main",
        &[("src/util.c", None, FileMode::Blob), text("lib/util.c", util)],
        "Move util.c to lib/\n",
    );
    Fixture { up, v1, stable, main_base }
}

fn main_app_with(f: &Fixture, from: &str, to: &str) -> &'static str {
    let blob =
        f.up.repo
            .find_commit(f.main_base)
            .unwrap()
            .tree()
            .unwrap()
            .get_path(Path::new("src/app.c"))
            .unwrap()
            .id();
    let content = String::from_utf8(f.up.repo.find_blob(blob).unwrap().content().to_vec()).unwrap();
    assert!(content.contains(from));
    leak(content.replace(from, to))
}

fn write_tree_changelog(dir: &Path, version: &str) {
    write_tree_changelog_in(dir, version, "jammy")
}

fn write_tree_changelog_in(dir: &Path, version: &str, series: &str) {
    std::fs::create_dir_all(dir.join("debian")).unwrap();
    std::fs::write(
        dir.join("debian/changelog"),
        format!(
            "demo ({version}) {series}; urgency=medium\n\n  * Initial.\n\n -- Maint <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n"
        ),
    )
    .unwrap();
}

fn objects_on_disk(repo: &Path) -> usize {
    walkdir::WalkDir::new(repo.join(".git/objects"))
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count()
}

fn gnu_patch(dir: &Path, patch: &Path) {
    let out =
        Command::new("patch").args(["-p1", "-F0", "-N", "-i"]).arg(patch).current_dir(dir).output().unwrap();
    assert!(
        out.status.success(),
        "patch failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn clean_pick_with_offsets_writes_upstream_patch_and_manifest() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 20\n", "line 20 fixed\n");
    let msg =
        "Fix line 20 overflow\n\nLine 20 overflowed on 32-bit.\n\nChange-Id: I0123\nCloses-Bug: #1336568\n";
    let fix = f.up.commit(Some(f.main_base), "main", &[text("src/app.c", fixed)], msg);
    let later = f.up.commit(Some(fix), "main", &[text("README", "hello 2\n")], "Release 2.0\n");
    f.up.tag("v2.0", later);
    let later2 = f.up.commit(Some(later), "main", &[text("README", "hello 3\n")], "Release 2.1\n");
    f.up.tag("v2.1", later2);
    f.up.repo.remote("origin", "git@github.com:demo/demo.git").unwrap();

    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    write_tree_changelog(&tree, "1:1.0-1ubuntu1");
    let into = work.path().join("patches/fix-20");
    let before = objects_on_disk(f.up.path());
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &["--tree", tree.to_str().unwrap(), "--into", into.to_str().unwrap(), "-v"],
    );
    assert_eq!(r.code(), 0, "{}\n{}", r.stdout(), r.stderr());
    assert!(
        r.stdout().contains(&format!(
            "onto v1.0 ({}), the tag of upstream version 1.0 in ",
            &f.v1.to_string()[..10]
        )),
        "{}",
        r.stdout()
    );
    assert_eq!(objects_on_disk(f.up.path()), before, "the upstream repository was written to");
    assert!(!f.up.path().join(".git/index").exists(), "an index was created");

    let patch_path = into.join("Fix-line-20-overflow.patch");
    let patch = read(&patch_path);
    let today = chrono::Local::now().format("%Y-%m-%d").to_string();
    let expected_header = format!(
        "Description: Fix line 20 overflow\n .\n Line 20 overflowed on 32-bit.\n\
         Author: A U Thor <author@example.org>\n\
         Origin: upstream, https://github.com/demo/demo/commit/{fix}\n\
         Bug-Launchpad: https://bugs.launchpad.net/bugs/1336568\n\
         Applied-Upstream: v2.0\nLast-Update: {today}\n---\n"
    );
    assert!(patch.starts_with(&expected_header), "{patch}");
    // Line numbers are v1.0's (upstream's are 5 lines further down), plain -p1 headers.
    assert!(
        patch.ends_with(
            "--- a/src/app.c\n+++ b/src/app.c\n@@ -17,7 +17,7 @@ line 16\n line 17\n line 18\n line 19\n-line 20\n+line 20 fixed\n line 21\n line 22\n line 23\n"
        ),
        "{patch}"
    );
    assert!(!patch.contains("diff --git"), "no git header needed: {patch}");

    let manifest: toml::Value = toml::from_str(&read(&into.join("backport.toml"))).unwrap();
    assert_eq!(manifest["name"].as_str(), Some("fix-20"));
    assert_eq!(manifest["source"].as_str(), Some("demo"));
    assert_eq!(manifest["bugs"]["launchpad"][0].as_integer(), Some(1336568));
    assert_eq!(manifest["target"]["distro"].as_str(), Some("ubuntu"));
    assert_eq!(manifest["target"]["series"].as_str(), Some("jammy"));
    assert_eq!(manifest["target"]["version"].as_str(), Some("1:1.0-1ubuntu1"));
    assert_eq!(manifest["version"]["scheme"].as_str(), Some("ubuntu-sru"));
    assert_eq!(manifest["upstream"]["commit"].as_str(), Some(fix.to_string().as_str()));
    assert_eq!(manifest["upstream"]["repository"].as_str(), Some("https://github.com/demo/demo"));
    assert_eq!(manifest["changelog"]["bullets"][0].as_str(), Some("Fix line 20 overflow (LP: #1336568)"));
    assert_eq!(manifest["patches"][0]["file"].as_str(), Some("Fix-line-20-overflow.patch"));

    // The patch applies at fuzz 0 to v1.0's files.
    let src = work.path().join("src-1.0");
    f.up.export(f.v1, &src);
    gnu_patch(&src, &patch_path);
    assert!(read(&src.join("src/app.c")).contains("line 20 fixed\nline 21\n"));

    // Again, with --json: the same patch, the manifest not listed twice.
    let r = srukit(
        work.path(),
        &[
            "--json",
            "backport",
            "--upstream",
            f.up.path().to_str().unwrap(),
            "--commit",
            &fix.to_string(),
            "--onto",
            "v1.0",
            "--into",
            into.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["result"], "exported");
    assert_eq!(doc["origin"], "upstream");
    assert_eq!(doc["manifest_change"], "already-listed");
    assert_eq!(doc["patch_change"], "unchanged");
    assert_eq!(read(&patch_path), patch);
}

#[test]
fn excluded_paths_are_dropped_and_named() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 10\n", "line 10 fixed\n");
    let fix = f.up.commit(
        Some(f.main_base),
        "main",
        &[text("src/app.c", fixed), text("tests/test_app.py", "assert True\nassert 10\n")],
        "Fix line 10 (LP: #42)\n",
    );
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/p");
    let base = ["backport", "--upstream", f.up.path().to_str().unwrap(), "--commit", &fix.to_string()];
    let base: Vec<&str> = base.to_vec();

    // Without --exclude, the test file (absent in 1.0) is a conflict, and patches/ stays empty.
    let wd = work.path().join("wd");
    let mut args = base.clone();
    args.extend(["--onto", "v1.0", "--into", into.to_str().unwrap(), "--workdir", wd.to_str().unwrap()]);
    let r = srukit(work.path(), &args);
    assert_eq!(r.code(), 1, "{}{}", r.stdout(), r.stderr());
    assert!(r.stdout().contains("tests/test_app.py (deleted-in-onto)"), "{}", r.stdout());
    assert!(!into.exists(), "nothing may be written into patches/ before the pick is clean");

    let mut args = base.clone();
    args.extend(["--onto", "v1.0", "--into", into.to_str().unwrap(), "--exclude", "tests"]);
    let r = srukit(work.path(), &args);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    assert!(r.stdout().contains("dropped: tests/test_app.py"), "{}", r.stdout());
    let patch = read(&into.join("Fix-line-10-LP-42.patch"));
    assert!(patch.contains(&format!("\nOrigin: backport, commit:{fix}\n")), "{patch}");
    assert!(patch.contains("\nDropped-Upstream-Paths: tests/test_app.py\n"), "{patch}");
    assert!(patch.contains("\nBug-Launchpad: https://bugs.launchpad.net/bugs/42\n"), "{patch}");
    // No tag contains the commit: Applied-Upstream cites the commit.
    assert!(patch.contains(&format!("\nApplied-Upstream: commit:{fix}\n")), "{patch}");
    assert!(!patch.contains("a/tests/") && !patch.contains("b/tests/"), "{patch}");
    assert!(patch.contains("+line 10 fixed\n"), "{patch}");
}

#[test]
fn conflicting_pick_then_continue() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 30\n", "line 30 (upstream fix)\n");
    let fix = f.up.commit(
        Some(f.main_base),
        "main",
        &[text("src/app.c", fixed)],
        "Fix line 30\n\nCloses: #987654\n",
    );
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/p30");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &["--onto", "stable/1.x", "--into", into.to_str().unwrap()],
    );
    assert_eq!(r.code(), 1, "{}{}", r.stdout(), r.stderr());
    let out = r.stdout();
    assert!(out.contains("src/app.c (content): 1 conflicting hunk(s)"), "{out}");
    assert!(out.contains("| line 30 (stable fix)") && out.contains("| line 30 (upstream fix)"), "{out}");
    assert!(!into.exists());
    // The default work dir is under the cache, named after the commit and the patch set.
    let wd = work.path().join("srukit/backport-work").join(format!("{}-p30", &fix.to_string()[..10]));
    let conflicted = wd.join("files/src/app.c");
    let text_with_markers = read(&conflicted);
    assert!(
        text_with_markers
            .contains("<<<<<<< stable/1.x\nline 30 (stable fix)\n=======\nline 30 (upstream fix)\n>>>>>>> "),
        "{text_with_markers}"
    );
    assert!(read(&wd.join("upstream.patch")).contains("+line 30 (upstream fix)"));
    let _ = f.stable;

    // Markers left: refused, exit 1, names the file and line.
    let r = srukit(work.path(), &["backport", "--continue", wd.to_str().unwrap()]);
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(r.stderr().contains("files/src/app.c:30: conflict markers remain"), "{}", r.stderr());
    assert!(!into.exists());

    // Resolved: both fixes on one line.
    let resolved = text_with_markers.replace(
        &text_with_markers
            [text_with_markers.find("<<<<<<<").unwrap()..text_with_markers.find(">>>>>>>").unwrap()],
        "line 30 (stable fix) (upstream fix)\n",
    );
    let resolved =
        resolved.lines().filter(|l| !l.starts_with(">>>>>>>")).map(|l| format!("{l}\n")).collect::<String>();
    std::fs::write(&conflicted, &resolved).unwrap();
    let r = srukit(work.path(), &["backport", "--continue", wd.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    let patch_path = into.join("Fix-line-30.patch");
    let patch = read(&patch_path);
    assert!(patch.contains(&format!("\nOrigin: backport, commit:{fix}\n")), "{patch}");
    assert!(patch.contains("\nBug-Debian: https://bugs.debian.org/987654\n"), "{patch}");
    assert!(patch.contains("-line 30 (stable fix)\n+line 30 (stable fix) (upstream fix)\n"), "{patch}");
    let src = work.path().join("src-stable");
    f.up.export(f.stable, &src);
    gnu_patch(&src, &patch_path);
    assert_eq!(read(&src.join("src/app.c")), resolved);
}

#[test]
fn rename_on_one_side_follows_the_old_path() {
    let mut f = fixture();
    let util = leak(lines(100, 130).replace("line 115\n", "line 115 fixed\n"));
    let fix = f.up.commit(Some(f.main_base), "main", &[text("lib/util.c", util)], "Fix util\n");
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/u");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &["--onto", "v1.0", "--into", into.to_str().unwrap()],
    );
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    let patch_path = into.join("Fix-util.patch");
    let patch = read(&patch_path);
    // 1.0 has the file at its old place: the change goes there, and the path differs from
    // upstream's, so it is a backport.
    assert!(patch.contains("--- a/src/util.c\n+++ b/src/util.c\n"), "{patch}");
    assert!(!patch.contains("lib/util.c"), "{patch}");
    assert!(patch.contains("\nOrigin: backport, "), "{patch}");
    let src = work.path().join("src");
    f.up.export(f.v1, &src);
    gnu_patch(&src, &patch_path);
    assert!(read(&src.join("src/util.c")).contains("line 115 fixed\n"));
}

#[test]
fn commit_renaming_and_chmodding_exports_git_headers() {
    let mut f = fixture();
    let util = lines(100, 130);
    let script = "#!/bin/sh\necho hi\n";
    let fix = f.up.commit(
        Some(f.v1),
        "topic",
        &[
            ("src/util.c", None, FileMode::Blob),
            text("src/helpers.c", leak(util.clone())),
            ("tools/run.sh", Some(script.as_bytes()), FileMode::BlobExecutable),
            ("README", Some(b"hello\n"), FileMode::BlobExecutable),
        ],
        "Rename util, add a script\n",
    );
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/r");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &["--onto", "v1.0", "--into", into.to_str().unwrap()],
    );
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    let patch_path = into.join("Rename-util-add-a-script.patch");
    let patch = read(&patch_path);
    assert!(patch.contains("diff --git a/README b/README\nold mode 100644\nnew mode 100755\n"), "{patch}");
    assert!(
        patch.contains(
            "diff --git a/src/util.c b/src/helpers.c\nrename from src/util.c\nrename to src/helpers.c\n"
        ),
        "{patch}"
    );
    assert!(patch.contains("diff --git a/tools/run.sh b/tools/run.sh\nnew file mode 100755\n--- /dev/null\n+++ b/tools/run.sh\n"), "{patch}");
    assert!(patch.contains("\nOrigin: upstream, "), "{patch}");
    let src = work.path().join("src");
    f.up.export(f.v1, &src);
    gnu_patch(&src, &patch_path);
    assert!(!src.join("src/util.c").exists());
    assert_eq!(read(&src.join("src/helpers.c")), util);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(src.join("tools/run.sh")).unwrap().permissions().mode() & 0o111, 0o111);
}

#[test]
fn binary_change_is_refused_unless_excluded() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 5\n", "line 5 fixed\n");
    let fix = f.up.commit(
        Some(f.main_base),
        "main",
        &[text("src/app.c", fixed), ("doc/logo.png", Some(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), FileMode::Blob)],
        "Fix with logo\n",
    );
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/b");
    let args = [
        "backport",
        "--upstream",
        f.up.path().to_str().unwrap(),
        "--commit",
        &fix.to_string(),
        "--onto",
        "v1.0",
        "--into",
        into.to_str().unwrap(),
    ];
    let r = srukit(work.path(), &args);
    assert_eq!(r.code(), 2, "{}{}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("changes binary file doc/logo.png"), "{}", r.stderr());
    assert!(!into.exists());
    let mut args = args.to_vec();
    args.extend(["--exclude", "*/*.png"]);
    let r = srukit(work.path(), &args);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());

    // A submodule (gitlink) change is refused the same way.
    let mut up = git2::build::TreeUpdateBuilder::new();
    up.upsert("vendor/lib", fix, FileMode::Commit);
    let base = f.up.repo.find_commit(f.v1).unwrap().tree().unwrap();
    let tree = f.up.repo.find_tree(up.create_updated(&f.up.repo, &base).unwrap()).unwrap();
    let sig = Signature::new("A", "a@b", &Time::new(1_500_000_000, 0)).unwrap();
    let parent = f.up.repo.find_commit(f.v1).unwrap();
    let gitlink = f.up.repo.commit(None, &sig, &sig, "Add submodule\n", &tree, &[&parent]).unwrap();
    let into2 = work.path().join("patches/s");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &gitlink.to_string(),
        &["--onto", "v1.0", "--into", into2.to_str().unwrap()],
    );
    assert_eq!(r.code(), 2, "{}{}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("changes submodule vendor/lib"), "{}", r.stderr());
}

#[test]
fn url_is_cloned_into_the_cache_and_onto_found_from_the_tree() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 12\n", "line 12 fixed\n");
    let fix = f.up.commit(Some(f.main_base), "main", &[text("src/app.c", fixed)], "Fix 12\n");
    // Tagged `upstream/1.0` only, as Debian packaging repositories do.
    f.up.repo.tag_delete("v1.0").unwrap();
    f.up.tag("upstream/1.0", f.v1);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    write_tree_changelog(&tree, "1.0-2");
    let url = format!("file://{}", f.up.path().display());
    let into = work.path().join("patches/c");
    let r = pick(
        work.path(),
        &url,
        &fix.to_string(),
        &["--tree", tree.to_str().unwrap(), "--into", into.to_str().unwrap(), "-v"],
    );
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    assert!(
        r.stdout().contains(&format!(
            "onto upstream/1.0 ({}), the tag of upstream version 1.0 in ",
            &f.v1.to_string()[..10]
        )),
        "{}",
        r.stdout()
    );
    let clones: Vec<PathBuf> =
        std::fs::read_dir(work.path().join("srukit/upstream")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(clones.len(), 1, "{clones:?}");
    assert!(clones[0].join("HEAD").exists());
    assert!(read(&into.join("Fix-12.patch")).contains("+line 12 fixed\n"));

    // No matching tag: a clear error listing what was tried.
    write_tree_changelog(&tree, "3.1-1");
    let r = pick(
        work.path(),
        &url,
        &fix.to_string(),
        &["--tree", tree.to_str().unwrap(), "--into", into.to_str().unwrap()],
    );
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("tried 3.1, v3.1, upstream/3.1, release-3.1"), "{}", r.stderr());
}

#[test]
fn delete_conflict_resolved_by_deleting_the_file() {
    let mut f = fixture();
    // The release branch edits README; upstream deletes it.
    let onto =
        f.up.commit(Some(f.v1), "stable/readme", &[text("README", "hello, stable\n")], "Stable README\n");
    let fix = f.up.commit(Some(f.v1), "topic", &[("README", None, FileMode::Blob)], "Drop README\n");
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/d");
    let wd = work.path().join("wd");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &[
            "--onto",
            &onto.to_string(),
            "--into",
            into.to_str().unwrap(),
            "--workdir",
            wd.to_str().unwrap(),
            "--exclude",
            "no-such-dir",
        ],
    );
    assert_eq!(r.code(), 1, "{}{}", r.stdout(), r.stderr());
    assert!(r.stdout().contains("README (deleted-upstream): 1 conflicting hunk(s)"), "{}", r.stdout());
    assert!(r.stderr().contains("--exclude no-such-dir matched no path"), "{}", r.stderr());
    let marked = read(&wd.join("files/README"));
    assert!(marked.starts_with(&format!("<<<<<<< {onto}\nhello, stable\n=======\n>>>>>>> ")), "{marked}");
    std::fs::remove_file(wd.join("files/README")).unwrap();
    let r = srukit(work.path(), &["--json", "backport", "--continue", wd.to_str().unwrap()]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["origin"], "backport");
    let patch = read(&into.join("Drop-README.patch"));
    assert!(patch.ends_with("--- a/README\n+++ /dev/null\n@@ -1 +0,0 @@\n-hello, stable\n"), "{patch}");
}

#[test]
fn already_applied_pick_is_not_true() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/s");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        "stable/1.x",
        &["--onto", "stable/1.x", "--into", into.to_str().unwrap()],
    );
    assert_eq!(r.code(), 1, "{}{}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("changes nothing on stable/1.x"), "{}", r.stderr());
    assert!(!into.exists());
}

#[test]
fn new_manifest_without_tree_is_refused_before_any_write() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 7\n", "line 7 fixed\n");
    let fix = f.up.commit(Some(f.main_base), "main", &[text("src/app.c", fixed)], "Fix 7\n");
    let work = tempfile::tempdir().unwrap();
    let into = work.path().join("patches/n");
    let out = Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["backport", "--upstream", f.up.path().to_str().unwrap(), "--commit", &fix.to_string()])
        .args(["--onto", "v1.0", "--into", into.to_str().unwrap()])
        .env("XDG_CACHE_HOME", work.path())
        .output()
        .unwrap();
    let r = Run { out };
    assert_eq!(r.code(), 2, "{}{}", r.stdout(), r.stderr());
    assert!(r.stderr().contains("backport.toml: does not exist yet: pass --tree DIR"), "{}", r.stderr());
    assert!(!into.exists());
}
/// A Ubuntu 3.0 (quilt) source tree of the fixture's v1.0, at 1.0-1ubuntu1 in jammy.
fn quilt_tree(f: &Fixture, dir: &Path) {
    f.up.export(f.v1, dir);
    write_tree_changelog_in(dir, "1.0-1ubuntu1", "jammy");
    let files = [
        ("debian/source/format", "3.0 (quilt)\n"),
        (
            "debian/control",
            "Source: demo\nMaintainer: Maint <m@example.org>\n\nPackage: demo\nArchitecture: all\nDescription: demo\n demo\n",
        ),
        ("debian/rules", "#!/usr/bin/make -f\n%:\n\tdh $@\n"),
        ("debian/patches/series", "# no patches yet\n"),
    ];
    for (p, c) in files {
        std::fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(p), c).unwrap();
    }
}

#[test]
fn exported_backport_applies_with_srukit_apply() {
    let mut f = fixture();
    let fixed = main_app_with(&f, "line 20\n", "line 20 fixed\n");
    let fix = f.up.commit(
        Some(f.main_base),
        "main",
        &[text("src/app.c", fixed), text("tests/test_app.py", "assert 20\n")],
        "Fix line 20\n\nCloses-Bug: #1336568\n",
    );
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("demo-1.0");
    quilt_tree(&f, &tree);
    let into = work.path().join("patches/lp1336568-fix-20");
    let r = pick(
        work.path(),
        f.up.path().to_str().unwrap(),
        &fix.to_string(),
        &[
            "--onto",
            "v1.0",
            "--tree",
            tree.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
            "--exclude",
            "tests/**",
        ],
    );
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());

    let r =
        srukit(work.path(), &["apply", into.to_str().unwrap(), "--tree", tree.to_str().unwrap(), "--push"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    assert!(read(&tree.join("debian/patches/series")).lines().any(|l| l == "Fix-line-20.patch"));
    assert!(read(&tree.join("debian/patches/Fix-line-20.patch")).contains("\nOrigin: backport, "));
    assert!(read(&tree.join("src/app.c")).contains("line 20 fixed\n"));
    let out =
        Command::new("dpkg-parsechangelog").arg("-l").arg(tree.join("debian/changelog")).output().unwrap();
    let cl = String::from_utf8_lossy(&out.stdout);
    assert!(cl.contains("Version: 1.0-1ubuntu2\n"), "{cl}");
    assert!(cl.contains("Distribution: jammy\n"), "{cl}");
    assert!(cl.contains("  * Fix line 20 (LP: #1336568)\n"), "{cl}");
}

/// `--into` below a backport folder: the patch goes to that subdirectory, listed by its
/// relative path, and `apply` puts it at the same path under debian/patches and in the series.
#[test]
fn into_a_subdirectory_of_the_backport_folder() {
    let mut f = fixture();
    let fix20 = f.up.commit(
        Some(f.main_base),
        "main",
        &[text("src/app.c", main_app_with(&f, "line 20\n", "line 20 fixed\n"))],
        "Fix line 20\n",
    );
    let fix10 = f.up.commit(
        Some(f.main_base),
        "side",
        &[text("src/app.c", main_app_with(&f, "line 10\n", "line 10 fixed\n"))],
        "Fix line 10\n",
    );
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("demo-1.0");
    quilt_tree(&f, &tree);
    let into = work.path().join("patches/fixes");
    let up = f.up.path().to_str().unwrap().to_string();
    for (commit, dest) in [(fix20, into.clone()), (fix10, into.join("CVE-2026-1"))] {
        let args = ["--onto", "v1.0", "--tree", tree.to_str().unwrap(), "--into", dest.to_str().unwrap()];
        let r = pick(work.path(), &up, &commit.to_string(), &args);
        assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    }
    assert!(into.join("CVE-2026-1/Fix-line-10.patch").is_file());
    assert!(!into.join("CVE-2026-1/backport.toml").exists());
    assert!(read(&into.join("backport.toml")).contains("file = \"CVE-2026-1/Fix-line-10.patch\""));

    let r =
        srukit(work.path(), &["apply", into.to_str().unwrap(), "--tree", tree.to_str().unwrap(), "--push"]);
    assert_eq!(r.code(), 0, "{}{}", r.stdout(), r.stderr());
    let series = read(&tree.join("debian/patches/series"));
    assert!(series.ends_with("Fix-line-20.patch\nCVE-2026-1/Fix-line-10.patch\n"), "{series}");
    assert!(tree.join("debian/patches/CVE-2026-1/Fix-line-10.patch").is_file());
    assert!(read(&tree.join("src/app.c")).contains("line 10 fixed\n"));
}
