//! Issue 13, the inputs `srukit verify` must refuse before any testbed starts (exit 2, the
//! file and line named): after packages that are not an update of the before ones (the same
//! version, an older one, another source's, a dir with two builds, an `apt:` version the
//! image does not carry), and plans that would only fail once running (an unknown
//! `${variable}`, a missing expectation pair, an unknown testbed, TOML syntax). And nothing
//! secret leaves the testbed: the flagship's export writes a generated CHAP account into the
//! target file, and no report, result or log of the run holds it.
//! Real packages (the flagship's own builds), real dpkg, real tgtd; root needed.

mod verify_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use verify_common::{flagship_plan, root, srukit, text};

fn work() -> &'static Path {
    verify_common::work("srukit-verify-inputs")
}

/// The flagship pipeline's builds (`srukit run`), made once: the real before and after
/// cinder-volume .debs every adversarial package set here is made from.
fn flagship() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = work().join("flagship");
        let o = srukit()
            .arg("run")
            .arg(root().join("patches/lp1336568-iscsi-write-cache"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
        out
    })
}

fn only_deb(dir: &Path) -> PathBuf {
    let debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs[0].clone()
}

/// A dir holding copies of `debs` (and no manifest: a plain dir of .debs).
fn deb_dir(name: &str, debs: &[PathBuf]) -> PathBuf {
    let dir = work().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for d in debs {
        std::fs::copy(d, dir.join(d.file_name().unwrap())).unwrap();
    }
    dir
}

/// Runs srukit, watching `/run/srukit/testbeds` while it runs: a testbed's run dir is named
/// after its owner's pid (`<pid>-<n>-<rand>`), so any testbed this run opened, however
/// briefly, is seen. Returns the output, how long it took and whether a testbed appeared.
fn run_watched(cmd: &mut Command) -> (Output, Duration, bool) {
    let started = Instant::now();
    let child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let prefix = format!("{}-", child.id());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut seen = false;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                if let Ok(rd) = std::fs::read_dir("/run/srukit/testbeds") {
                    seen |= rd.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&prefix));
                }
                if finished {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let out = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    eprintln!("{}", text(&out.stderr));
    (out, elapsed, seen)
}

/// `srukit verify` must stop with exit 2 and `needles` in its error, before any testbed
/// (none seen, the output dir never made, well under the ~10 s one run takes).
fn refused(plan: &Path, before: &str, after: &str, name: &str, needles: &[&str]) -> String {
    let out = work().join(format!("out-{name}"));
    let (o, elapsed, testbed_seen) = run_watched(
        srukit().arg("verify").arg(plan).args(["--before", before, "--after", after]).arg("--out").arg(&out),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    for n in needles {
        assert!(err.contains(n), "{name}: wants {n:?} in: {err}");
    }
    assert!(!testbed_seen, "{name}: a testbed was opened");
    assert!(!out.exists(), "{name}: {} was written", out.display());
    assert!(!err.contains("fresh testbeds"), "{name}: runs started: {err}");
    assert!(elapsed < Duration::from_secs(5), "{name}: took {elapsed:?}");
    err
}

// ---- class 3: the versions must make an update ----

const OLD: &str = "1:2014.1.5-0ubuntu1";
const NEW: &str = "1:2014.1.5-0ubuntu2";

#[test]
fn an_after_that_is_not_newer_is_refused_naming_both_versions() {
    let before = flagship().join("build-before");
    let after = flagship().join("build-after");
    let p = flagship_plan();
    // The same build on both sides (a fix built without a changelog bump looks like this).
    let same = deb_dir("same-version", &[only_deb(&before)]);
    let err = refused(&p, before.to_str().unwrap(), same.to_str().unwrap(), "same", &["the same version as"]);
    assert!(
        err.contains(&format!(
            "cinder-volume {OLD} is the same version as the before package cinder-volume {OLD}"
        )),
        "{err}"
    );
    // The sides swapped: the after package is older.
    let err =
        refused(&p, after.to_str().unwrap(), before.to_str().unwrap(), "lower", &["older than", OLD, NEW]);
    assert!(err.contains("not an update"), "{err}");
}

#[test]
fn an_after_from_another_source_package_is_refused() {
    // The fixed cinder-volume, rebuilt as if it came from another source package.
    let tree = work().join("foreign-tree");
    let o = Command::new("dpkg-deb")
        .arg("-R")
        .arg(only_deb(&flagship().join("build-after")))
        .arg(&tree)
        .status()
        .unwrap();
    assert!(o.success());
    let control = tree.join("DEBIAN/control");
    let c = std::fs::read_to_string(&control).unwrap();
    let c = if c.contains("\nSource:") {
        c.lines()
            .map(|l| if l.starts_with("Source:") { "Source: nova".to_string() } else { l.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    } else {
        c.replacen("\nVersion:", "\nSource: nova\nVersion:", 1)
    };
    std::fs::write(&control, c).unwrap();
    let dir = work().join("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new("dpkg-deb")
        .arg("-b")
        .arg(&tree)
        .arg(dir.join("cinder-volume_nova_all.deb"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let before = flagship().join("build-before");
    refused(
        &flagship_plan(),
        before.to_str().unwrap(),
        dir.to_str().unwrap(),
        "foreign",
        &["source package `nova`", "`cinder`", OLD, NEW],
    );
}

#[test]
fn a_dir_with_two_builds_is_refused() {
    let both = deb_dir(
        "two-builds",
        &[only_deb(&flagship().join("build-before")), only_deb(&flagship().join("build-after"))],
    );
    let before = flagship().join("build-before");
    // As the after side and as the before side: either way, which one dpkg installs is luck.
    refused(
        &flagship_plan(),
        before.to_str().unwrap(),
        both.to_str().unwrap(),
        "two-after",
        &["holds two versions of `cinder-volume`", OLD, NEW],
    );
    let after = flagship().join("build-after");
    refused(
        &flagship_plan(),
        both.to_str().unwrap(),
        after.to_str().unwrap(),
        "two-before",
        &["holds two versions of `cinder-volume`"],
    );
}

/// tgt-cache-modes with a before side too (its after expectations copied): a plan that
/// compares two `apt:` package sets.
fn tgt_plan_with_both_sides() -> PathBuf {
    let t = std::fs::read_to_string(root().join("testbeds/plans/tgt-cache-modes.toml")).unwrap();
    let t = t.replace("sides = [\"after\"]\n", "");
    let expect = &t[t.find("[expect.after.").unwrap()..];
    let both = format!("{t}\n{}", expect.replace("[expect.after.", "[expect.before."));
    let plan = work().join("tgt-both-sides.toml");
    std::fs::write(&plan, both).unwrap();
    plan
}

#[test]
fn apt_packages_are_the_images_and_must_make_an_update_too() {
    let plan = tgt_plan_with_both_sides();
    // What the image carries, on both sides: the same version, read from its dpkg database.
    let err = refused(&plan, "apt:tgt", "apt:tgt", "apt-same", &["the same version as"]);
    let version = err.split("tgt ").nth(1).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(version.contains("1.0.85"), "{err}");
    // A version the image does not carry is bad input now, not an error after four runs.
    refused(&plan, "apt:tgt", "apt:tgt=9:9.9-9", "apt-absent", &["carries tgt", "not 9:9.9-9"]);
}

// ---- class 4: plans fail at load time, at the line of the problem ----

/// The flagship plan with one edit, written beside it in a scratch dir of this repository
/// (so its testbed resolves as the flagship's does).
fn plan_variant(name: &str, edit: impl Fn(&str) -> String) -> (PathBuf, String) {
    let text = edit(&std::fs::read_to_string(flagship_plan()).unwrap());
    let path = work().join(format!("{name}.toml"));
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap_or_else(|| panic!("{needle} in plan"))].matches('\n').count() + 1
}

/// Plans are refused before the packages are even looked at: the package sets here do not
/// exist, and the error is still the plan's.
fn plan_refused(plan: &Path, name: &str, needles: &[&str]) -> String {
    refused(plan, "/nonexistent/before", "/nonexistent/after", name, needles)
}

#[test]
fn an_unknown_variable_is_refused_at_load_with_its_line() {
    let (plan, t) = plan_variant("unknown-var", |t| {
        t.replace("\"${volume_id}\", \"${lun}\"", "\"${volume_id}\", \"${lun_path}\"")
    });
    let line = line_of(&t, "${lun_path}");
    plan_refused(
        &plan,
        "unknown-var",
        &[&format!("{}:{line}:", plan.display()), "unknown variable `${lun_path}`"],
    );

    let (plan, t) =
        plan_variant("unknown-var-target", |t| t.replace("volume-${volume_id}\"", "volume-${volume}\""));
    let line = line_of(&t, "${volume}");
    plan_refused(&plan, "unknown-var-target", &[&format!("{}:{line}:", plan.display()), "[target] file"]);

    // Where nothing expands, a variable would reach tgtd verbatim.
    let (plan, t) =
        plan_variant("var-in-daemon", |t| t.replace("\"portal=127.0.0.1:3260\"", "\"portal=${portal}\""));
    let line = line_of(&t, "${portal}");
    plan_refused(&plan, "var-in-daemon", &[&format!("{}:{line}:", plan.display()), "do not expand"]);
}

#[test]
fn a_missing_expectation_pair_points_at_its_phase() {
    let (plan, t) = plan_variant("missing-pair", |t| {
        let start = t.find("[expect.after.off]").unwrap();
        t[..start].to_string()
    });
    // The second [[phase]] is `off`'s.
    let off = t.match_indices("[[phase]]").nth(1).unwrap().0;
    let line = t[..off].matches('\n').count() + 1;
    plan_refused(&plan, "missing-pair", &[&format!("{}:{line}: no [expect.after.off]", plan.display())]);

    let (plan, t) = plan_variant("missing-check", |t| t.replacen("data-at-risk = \"safe\"", "", 1));
    let line = line_of(&t, "[expect.after.off]");
    plan_refused(
        &plan,
        "missing-check",
        &[&format!("{}:{line}: [expect.after.off] has no expectation for `data-at-risk`", plan.display())],
    );
}

#[test]
fn an_unknown_testbed_names_the_plan_line_and_where_it_looked() {
    // A repository of its own outside srukit's checkout: its testbeds/ is looked in first.
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("testbeds")).unwrap();
    std::fs::create_dir_all(repo.path().join("plans")).unwrap();
    let t = std::fs::read_to_string(flagship_plan())
        .unwrap()
        .replace("testbed = \"bookworm-tgt\"", "testbed = \"bookworm-tgd\"");
    let plan = repo.path().join("plans/verify.toml");
    std::fs::write(&plan, &t).unwrap();
    let line = line_of(&t, "bookworm-tgd");
    let err = plan_refused(
        &plan,
        "unknown-testbed",
        &[
            &format!("{}:{line}:", plan.display()),
            "unknown testbed `bookworm-tgd`",
            &repo.path().join("testbeds/bookworm-tgd.toml").display().to_string(),
            "/usr/share/srukit/testbeds/bookworm-tgd.toml",
        ],
    );
    assert!(!err.contains(env!("CARGO_MANIFEST_DIR")), "a build-time path: {err}");

    // The same name defined beside the plan's repository is found there.
    std::fs::copy(root().join("testbeds/bookworm-tgt.toml"), repo.path().join("testbeds/bookworm-tgd.toml"))
        .unwrap();
    let o = srukit()
        .arg("verify")
        .arg(&plan)
        .args(["--before", "/nonexistent/b", "--after", "/nonexistent/a"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!text(&o.stderr).contains("unknown testbed"), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("/nonexistent/b"), "{}", text(&o.stderr));
}

#[test]
fn toml_syntax_errors_are_file_line_col() {
    let (plan, t) = plan_variant("syntax", |t| t.replacen("ready_port = 3260", "ready_port = = 3260", 1));
    let line = line_of(&t, "ready_port = =");
    let err = plan_refused(&plan, "syntax", &[&format!("{}:{line}:14: ", plan.display())]);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let (plan, t) = plan_variant("unclosed-table", |t| t.replacen("[daemon]", "[daemon", 1));
    let line = line_of(&t, "[daemon");
    plan_refused(&plan, "unclosed-table", &[&format!("{}:{line}:", plan.display())]);
}

// ---- class 6: nothing secret leaves the testbed ----

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), text(&std::fs::read(e.path()).unwrap())))
        .collect()
}

fn sha16(s: &str) -> String {
    Sha256::digest(s.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[test]
fn no_report_result_or_log_holds_the_generated_chap_secret() {
    // The flagship plan plus one witness step that prints the target file base64-encoded:
    // the only way the test learns the CHAP account cinder generated inside the testbed
    // (srukit cannot see through the encoding, and is not meant to).
    let target = srukit::verify::plan::Plan::load(&flagship_plan()).unwrap().raw.target.unwrap().file;
    // Right after the export: cinder's restart path (ensure_export) rewrites the file with no
    // CHAP line, as icehouse's did, so a witness at the end would see no secret at all.
    let (plan, _) = plan_variant("chap", |t| {
        let witness =
            format!("[[step]]\nname = \"witness\"\nrun = [\"sh\", \"-c\", \"base64 -w0 {target}\"]\n\n");
        let first = t.find("[[step]]").expect("the flagship plan has steps");
        match t[first + 1..].find("[[step]]") {
            Some(second) => format!("{}{witness}{}", &t[..first + 1 + second], &t[first + 1 + second..]),
            None => format!("{t}\n{witness}"),
        }
    });
    let out = work().join("chap");
    let o = srukit()
        .arg("verify")
        .arg(&plan)
        .arg("--before")
        .arg(flagship().join("build-before"))
        .arg("--after")
        .arg(flagship().join("build-after"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let summary = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{summary}{}", text(&o.stderr));
    assert_eq!(summary.lines().next().unwrap(), format!("cinder-volume {OLD} -> {NEW}"), "{summary}");

    // The secrets, from the witness logs (one target file per run).
    let mut secrets = BTreeSet::new();
    let mut passwords = BTreeSet::new();
    for (path, body) in files_under(&out.join("logs")) {
        let decoded =
            Command::new("base64").arg("-d").stdin(std::fs::File::open(&path).unwrap()).output().unwrap();
        let Ok(file) = String::from_utf8(decoded.stdout) else { continue };
        for l in file.lines().filter(|l| l.trim_start().starts_with("incominguser ")) {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w.len(), 3, "{l} in {}: {body}", path.display());
            secrets.insert(w[1].to_string());
            secrets.insert(w[2].to_string());
            passwords.insert(w[2].to_string());
        }
    }
    assert_eq!(passwords.len(), 4, "one generated password per run: {passwords:?}");

    let mut texts = files_under(&out);
    for format in ["launchpad", "markdown", "json", "junit"] {
        let file = work().join(format!("chap-report.{format}"));
        let o = srukit()
            .arg("report")
            .arg(&out)
            .args(["--format", format])
            .arg("--out")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        texts.push((file.clone(), std::fs::read_to_string(&file).unwrap()));
    }
    texts.push((PathBuf::from("verify's stdout"), summary.clone()));
    for (path, body) in &texts {
        for s in &secrets {
            assert!(!body.contains(s.as_str()), "{} holds the secret {s}", path.display());
        }
    }
    let read =
        |name: &str| texts.iter().find(|(p, _)| p.to_string_lossy().ends_with(name)).unwrap().1.clone();
    for name in ["result.json", "chap-report.launchpad", "chap-report.markdown", "chap-report.json"] {
        assert!(read(name).contains("incominguser <redacted> <redacted>"), "{name}");
    }
    assert!(
        read("step-1.log").contains("\"provider_auth\": \"CHAP <redacted> <redacted>\""),
        "{}",
        read("step-1.log")
    );

    // The result keeps a hash of each secret, per run, to compare runs by.
    let result: serde_json::Value = serde_json::from_str(&read("result.json")).unwrap();
    let hashes: BTreeSet<String> = result["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["what"] == "incominguser password")
        .map(|r| r["sha256_prefix"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(hashes, passwords.iter().map(|p| sha16(p)).collect::<BTreeSet<_>>());
    assert_eq!(result["versions"][0]["before"], OLD);
    assert_eq!(result["versions"][0]["after"], NEW);
    assert_eq!(result["versions"][0]["source_package"], "cinder");

    // The public comment: versions first, no absolute path of this machine.
    let lp = read("chap-report.launchpad");
    assert_eq!(lp.lines().nth(1).unwrap(), format!("Versions: cinder-volume {OLD} -> {NEW}"), "{lp}");
    assert!(!lp.contains(work().to_str().unwrap()) && !lp.contains(env!("CARGO_MANIFEST_DIR")), "{lp}");
    let md = read("chap-report.markdown");
    assert!(md.lines().take(4).any(|l| l.contains(&format!("cinder-volume {OLD} -> {NEW}"))), "{md}");

    // result.json (schema version 2) is valid against the published schema.
    verify_common::assert_valid_result(&out);
}

#[test]
fn the_pipelines_reports_give_versions_first_relative_paths_and_no_chap_secret() {
    let out = flagship();
    let lp = std::fs::read_to_string(out.join("report/launchpad.txt")).unwrap();
    assert_eq!(lp.lines().nth(1).unwrap(), format!("Versions: cinder-volume {OLD} -> {NEW}"), "{lp}");
    assert!(lp.contains("file:   ../build-after/cinder-volume_2014.1.5-0ubuntu2_all.deb"), "{lp}");
    assert!(!lp.contains(out.to_str().unwrap()), "{lp}");
    for f in ["report/launchpad.txt", "report/report.md", "report/result.json", "verify/result.json"] {
        let t = std::fs::read_to_string(out.join(f)).unwrap();
        // The target file's lines, not the `redactions` entries that name what was removed.
        let lines: Vec<&str> =
            t.lines().filter(|l| l.contains("incominguser ") && !l.contains("\"what\"")).collect();
        assert!(!lines.is_empty(), "{f}");
        assert!(lines.iter().all(|l| l.contains("incominguser <redacted> <redacted>")), "{f}: {lines:?}");
    }
}
