//! `srukit backport` on real upstream commits, with the trailer conventions of their
//! projects. No upstream can be cloned here, so each commit is taken from where Debian
//! carries it verbatim: a `git format-patch` file in a Debian 12 source package (pinned to
//! the exact version), whose mail header and message are the upstream commit's own. The
//! test rebuilds that commit with git2: the parent holds the files the patch touches as the
//! package's tree has them before the patch (the orig plus the series before it, pushed with
//! srukit), the commit holds them after, with the real message, author and date; the origin
//! remote is the project's own forge. Then `srukit backport` picks it onto its parent, and
//! the patch header, backport.toml's bugs and the changelog bullet are checked.
//!
//! | project | convention | commits (the patch's `From <sha>` line) |
//! |---|---|---|
//! | OpenStack keystone (opendev, Gerrit) | `Closes-Bug:` / `Related-Bug:` (+ a Jira key), `Change-Id:`, cherry-pick lines | f62dd2ca, 52e47439 |
//! | curl (GitHub, C) | `Reported-by:`, `Closes #N` (an issue or pull request of curl/curl) | af369db4 (CVE-2023-27538) |
//! | OpenSSH's Debian packaging (salsa, gbp pq) | `Bug-Debian:` URLs, bugzilla `Bug:`, `Forwarded:`, `Patch-Name:` | a817885b, 9d87a74d |
//!
//! The rebuilt commits get new ids (the parent holds only the touched files); the message,
//! author and date are the real ones.

mod common;

use std::path::Path;

use git2::{Oid, Repository, Signature, Time};

/// One real commit and what srukit must make of it.
struct Case {
    /// `apt-get source` argument, pinned to the exact version.
    source: &'static str,
    /// The patch in debian/patches/series.
    patch: &'static str,
    /// The project's own repository (its forge decides what `Closes #N` links to).
    origin: &'static str,
    /// `Bug-Launchpad` headers (closed and related), `Bug-Debian`, `Bug`.
    bug_launchpad: &'static [u64],
    bug_debian: &'static [u64],
    bug: &'static [&'static str],
    /// backport.toml's `[bugs]`: only what the commit closes.
    closes_launchpad: &'static [u64],
    closes_debian: &'static [u64],
    bullet: &'static str,
    /// Trailer lines that must not be in the Description.
    not_in_description: &'static [&'static str],
}

const CASES: &[Case] = &[
    // Closes-Bug in the trailer block, a Related-Bug that is a Jira key (no Launchpad bug),
    // Assisted-by, Change-Id, Signed-off-by, two cherry-pick lines.
    Case {
        source: "keystone=2:22.0.2-0+deb12u3",
        patch: "0004-Enforce-app-cred-project-boundary-on-EC2-credential-.patch",
        origin: "https://opendev.org/openstack/keystone.git",
        bug_launchpad: &[2149775],
        bug_debian: &[],
        bug: &[],
        closes_launchpad: &[2149775],
        closes_debian: &[],
        bullet: "Enforce app cred project boundary on EC2 credential paths (LP: #2149775)",
        not_in_description: &[
            "Closes-Bug",
            "Related-Bug",
            "Change-Id",
            "Signed-off-by",
            "cherry picked",
            "Assisted-by",
        ],
    },
    // Related-Bug only: the patch names the bug, the changelog does not close it.
    Case {
        source: "keystone=2:22.0.2-0+deb12u3",
        patch: "0001-Add-tests-for-restricted-app-cred-guard.patch",
        origin: "https://opendev.org/openstack/keystone.git",
        bug_launchpad: &[2142138],
        bug_debian: &[],
        bug: &[],
        closes_launchpad: &[],
        closes_debian: &[],
        bullet: "Add tests for restricted app cred guard",
        not_in_description: &["Related-Bug", "Change-Id", "cherry picked"],
    },
    // curl: `Closes #10735` is curl/curl's GitHub issue (or pull request) 10735.
    Case {
        source: "curl=7.88.1-10+deb12u15",
        patch: "CVE-2023-27538.patch",
        origin: "https://github.com/curl/curl.git",
        bug_launchpad: &[],
        bug_debian: &[],
        bug: &["https://github.com/curl/curl/issues/10735"],
        closes_launchpad: &[],
        closes_debian: &[],
        bullet: "url: fix the SSH connection reuse check",
        not_in_description: &["Reported-by", "Closes #10735"],
    },
    // gbp pq: DEP-3 fields written into the commit message, a bugzilla URL and a Debian bug.
    Case {
        source: "openssh=1:9.2p1-2+deb12u10",
        patch: "authorized-keys-man-symlink.patch",
        origin: "https://salsa.debian.org/ssh-team/openssh.git",
        bug_launchpad: &[],
        bug_debian: &[441817],
        bug: &["https://bugzilla.mindrot.org/show_bug.cgi?id=1720"],
        closes_launchpad: &[],
        closes_debian: &[441817],
        bullet: "Install authorized_keys(5) as a symlink to sshd(8) (Closes: #441817)",
        not_in_description: &["Bug-Debian", "Last-Update", "Patch-Name", "bugzilla"],
    },
    // Three Debian bugs in one trailer paragraph that begins with an `Author:` field.
    Case {
        source: "openssh=1:9.2p1-2+deb12u10",
        patch: "no-openssl-version-status.patch",
        origin: "https://salsa.debian.org/ssh-team/openssh.git",
        bug_launchpad: &[],
        bug_debian: &[93581, 664383, 732940],
        bug: &[],
        closes_launchpad: &[],
        closes_debian: &[93581, 664383, 732940],
        bullet: "Don't check the status field of the OpenSSL version (Closes: #93581, #664383, #732940)",
        not_in_description: &["Bug-Debian", "Forwarded", "Patch-Name", "Author:"],
    },
];

/// The commit as `git format-patch` wrote it: author, date, message (subject, blank line,
/// body up to the `---` line), as `git am` reads it back.
struct MailCommit {
    name: String,
    email: String,
    time: Time,
    message: String,
}

fn mail_commit(patch: &str) -> MailCommit {
    let mut lines = patch.lines();
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in lines.by_ref() {
        if l.is_empty() {
            break;
        }
        if l.starts_with("From ") && headers.is_empty() {
            continue;
        }
        if l.starts_with([' ', '\t']) {
            let last = headers.last_mut().expect("a continuation follows a header");
            last.1.push(' ');
            last.1.push_str(l.trim());
        } else if let Some((k, v)) = l.split_once(": ") {
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone()).expect(k);
    let mut subject = header("Subject");
    // git mailinfo drops the `[PATCH n/m]` prefix.
    while subject.starts_with('[') {
        subject = subject.split_once(']').map(|(_, r)| r.trim().to_string()).unwrap();
    }
    let body: Vec<&str> = lines.take_while(|l| *l != "---").collect();
    let body = body.join("\n").trim().to_string();
    let message = if body.is_empty() { format!("{subject}\n") } else { format!("{subject}\n\n{body}\n") };
    let from = header("From");
    let (name, email) = from.split_once(" <").unwrap();
    let date = chrono::DateTime::parse_from_rfc2822(&header("Date")).unwrap();
    MailCommit {
        name: name.to_string(),
        email: email.trim_end_matches('>').to_string(),
        time: Time::new(date.timestamp(), date.offset().local_minus_utc() / 60),
        message,
    }
}

/// The files a -p1 patch touches, relative to the tree.
fn touched(patch: &str) -> Vec<String> {
    let lines: Vec<&str> = patch.lines().collect();
    let mut out: Vec<String> = Vec::new();
    for w in lines.windows(2) {
        let (Some(old), Some(new)) = (w[0].strip_prefix("--- "), w[1].strip_prefix("+++ ")) else { continue };
        let pick = if new.starts_with("/dev/null") { old } else { new };
        let path = pick.split('\t').next().unwrap().trim();
        let rel = path.split_once('/').map(|(_, r)| r.to_string()).unwrap();
        if !out.contains(&rel) {
            out.push(rel);
        }
    }
    out
}

fn srukit(args: &[&str], cache: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_srukit"))
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("srukit runs")
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A commit of `files` (path -> content, None: absent) on `parent`.
fn commit(
    repo: &Repository,
    parent: Option<Oid>,
    files: &[(String, Option<Vec<u8>>)],
    sig: &Signature,
    msg: &str,
) -> Oid {
    let base = match parent {
        Some(p) => repo.find_commit(p).unwrap().tree().unwrap(),
        None => repo.find_tree(repo.treebuilder(None).unwrap().write().unwrap()).unwrap(),
    };
    let mut up = git2::build::TreeUpdateBuilder::new();
    for (path, content) in files {
        match content {
            Some(c) => {
                up.upsert(path.as_str(), repo.blob(c).unwrap(), git2::FileMode::Blob);
            }
            None => {
                up.remove(path.as_str());
            }
        }
    }
    let tree = repo.find_tree(up.create_updated(repo, &base).unwrap()).unwrap();
    let parents: Vec<git2::Commit> = parent.map(|p| repo.find_commit(p).unwrap()).into_iter().collect();
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("refs/heads/main"), sig, sig, msg, &tree, &refs).unwrap()
}

fn read_files(tree: &Path, paths: &[String]) -> Vec<(String, Option<Vec<u8>>)> {
    paths.iter().map(|p| (p.clone(), std::fs::read(tree.join(p)).ok())).collect()
}

/// The DEP-3 header fields of an exported patch, in order.
fn header_fields(patch: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for l in patch.lines().take_while(|l| *l != "---") {
        if let Some(cont) = l.strip_prefix(' ') {
            let last = out.last_mut().unwrap();
            last.1.push('\n');
            last.1.push_str(cont);
        } else if let Some((k, v)) = l.split_once(": ") {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

fn run_case(case: &Case) {
    let tmp = tempfile::tempdir().unwrap();
    let tree = common::unpack(case.source, tmp.path(), "tree", true);
    let series = std::fs::read_to_string(tree.join("debian/patches/series")).unwrap();
    let names: Vec<&str> =
        series.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let at = names.iter().position(|n| n.split_whitespace().next() == Some(case.patch)).expect(case.patch);
    let cache = tmp.path().join("cache");
    if at > 0 {
        ok(&srukit(&["patches", "push", names[at - 1], "--tree", tree.to_str().unwrap()], &cache), "push");
    }
    let patch_text = std::fs::read_to_string(tree.join("debian/patches").join(case.patch)).unwrap();
    let mail = mail_commit(&patch_text);
    let paths = touched(&patch_text);
    let before = read_files(&tree, &paths);
    ok(&srukit(&["patches", "push", case.patch, "--tree", tree.to_str().unwrap()], &cache), "push the patch");
    let after = read_files(&tree, &paths);
    assert_ne!(before, after, "{}: the patch changes its files", case.patch);

    let up_dir = tmp.path().join("upstream");
    let repo = Repository::init(&up_dir).unwrap();
    repo.remote("origin", case.origin).unwrap();
    let base_sig =
        Signature::new("Upstream", "upstream@example.org", &Time::new(mail.time.seconds() - 86400, 0))
            .unwrap();
    let parent = commit(&repo, None, &before, &base_sig, "The files before the change\n");
    let sig = Signature::new(&mail.name, &mail.email, &mail.time).unwrap();
    let picked = commit(&repo, Some(parent), &after, &sig, &mail.message);

    let into = tmp.path().join("patches/real");
    let out = srukit(
        &[
            "backport",
            "--upstream",
            up_dir.to_str().unwrap(),
            "--commit",
            &picked.to_string(),
            "--onto",
            &parent.to_string(),
            "--tree",
            tree.to_str().unwrap(),
            "--into",
            into.to_str().unwrap(),
            "--json",
        ],
        &cache,
    );
    ok(&out, case.patch);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let exported = std::fs::read_to_string(report["patch"].as_str().unwrap()).unwrap();
    // Shown with --nocapture: the header srukit wrote.
    println!("== {}\n{}", case.patch, exported.split("\n---\n").next().unwrap());
    let fields = header_fields(&exported);
    let all = |k: &str| fields.iter().filter(|(f, _)| f == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    let web = case.origin.trim_end_matches(".git");
    assert_eq!(all("Origin"), [format!("upstream, {web}/commit/{picked}")], "{exported}");
    assert_eq!(all("Author"), [format!("{} <{}>", mail.name, mail.email)], "{exported}");
    let lp: Vec<String> =
        case.bug_launchpad.iter().map(|n| format!("https://bugs.launchpad.net/bugs/{n}")).collect();
    assert_eq!(all("Bug-Launchpad"), lp, "{}: {exported}", case.patch);
    let deb: Vec<String> = case.bug_debian.iter().map(|n| format!("https://bugs.debian.org/{n}")).collect();
    assert_eq!(all("Bug-Debian"), deb, "{}: {exported}", case.patch);
    assert_eq!(all("Bug"), case.bug, "{}: {exported}", case.patch);
    let description = all("Description").pop().unwrap();
    let subject = mail.message.lines().next().unwrap();
    assert!(description.starts_with(subject), "{description}");
    for t in case.not_in_description {
        assert!(!description.contains(t), "{}: `{t}` in the Description:\n{description}", case.patch);
    }
    // The commit's prose is kept: its body's first line is in the Description.
    if let Some(first_body_line) = mail.message.split("\n\n").nth(1).and_then(|p| p.lines().next())
        && !case.not_in_description.iter().any(|t| first_body_line.contains(t))
    {
        assert!(description.contains(first_body_line.trim()), "{description}");
    }
    assert!(srukit(&["dep3", "check", report["patch"].as_str().unwrap()], &cache).status.success());

    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(into.join("backport.toml")).unwrap()).unwrap();
    let ints = |k: &str| -> Vec<u64> {
        manifest["bugs"][k].as_array().unwrap().iter().map(|v| v.as_integer().unwrap() as u64).collect()
    };
    assert_eq!(ints("launchpad"), case.closes_launchpad, "{}", case.patch);
    assert_eq!(ints("debian"), case.closes_debian, "{}", case.patch);
    assert_eq!(manifest["changelog"]["bullets"][0].as_str(), Some(case.bullet), "{}", case.patch);
    println!("[bugs] {}\nbullet: {}", manifest["bugs"], case.bullet);
}

#[test]
fn openstack_keystone_closes_bug_and_related_bug() {
    run_case(&CASES[0]);
    run_case(&CASES[1]);
}

#[test]
fn curl_github_closes_number() {
    run_case(&CASES[2]);
}

#[test]
fn openssh_debian_gbp_pq_bug_fields() {
    run_case(&CASES[3]);
    run_case(&CASES[4]);
}

#[test]
fn touched_paths_and_mail_headers() {
    let patch = "From 1 Mon Sep 17 00:00:00 2001\nFrom: A B <a@b.org>\nDate: Thu, 23 Nov 2023 08:15:47 +0100\n\
                 Subject: [PATCH 4/5] hostip: include easy_lock.h before using\n GLOBAL_INIT\n\nBody.\n\nCloses #1\n---\n \
                 x | 1 +\n\nIndex: curl/lib/x.c\n===\n--- curl.orig/lib/x.c\n+++ curl/lib/x.c\n@@ -1 +1 @@\n\
                 --- /dev/null\n+++ b/new.c\t2020-01-01\n";
    let m = mail_commit(patch);
    assert_eq!(m.message, "hostip: include easy_lock.h before using GLOBAL_INIT\n\nBody.\n\nCloses #1\n");
    assert_eq!((m.name.as_str(), m.email.as_str(), m.time.offset_minutes()), ("A B", "a@b.org", 60));
    assert_eq!(touched(patch), ["lib/x.c", "new.c"]);
}
