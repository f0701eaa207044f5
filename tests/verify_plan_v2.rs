//! Issue 15, plan format v2 through the real `srukit verify`: adversarial plans are refused
//! at load (exit 2, `file:line`, before any testbed), and a small plan using the command,
//! file, package, port (a `daemon` step) and log families over two phases with every edit
//! kind runs in real bookworm-tgt testbeds with the tgt the image carries, each outcome
//! asserted in result.json. Root needed (testbeds).

mod verify_common;

use std::path::{Path, PathBuf};

use verify_common::{root, run, srukit, text};

fn work() -> &'static Path {
    verify_common::work("srukit-verify-plan-v2")
}

/// A plan that loads: the tgt image, the after side only (what the image carries).
const BASE: &str = r#"name = "v2-families"
summary = "plan v2 families on bookworm-tgt"
testbed = "bookworm-tgt"
install = ["tgt"]
sides = ["after"]

[[phase]]
name = "default"

[[phase]]
name = "edited"
edits = [
  { set = "/etc/default/srukit-test", key = "ENABLED", value = "0" },
  { append = "/etc/srukit-test.conf", line = "answer = 42" },
  { write = "/etc/srukit-test.d/a.conf", content = "hello ${side}\n", mode = "0600" },
  { remove = "/etc/tgt/targets.conf" },
]

[[step]]
name = "serve"
daemon = { argv = ["python3", "-m", "http.server", "8080", "--bind", "127.0.0.1"], ready-port = 8080 }

[[step]]
name = "log"
sh = "echo \"warning: phase ${phase}\" >> /var/log/srukit-test.log; for f in /etc/srukit-test*; do echo \"$${f}\"; done"

[[check]]
id = "tgtadm"
command = { run = ["tgtadm", "--help"] }
outcomes.ok = { exit = 0, stdout = ["/^--lld <driver> --mode target/"] }
outcomes.broken = { exit = [1, 2, 22] }

[[check]]
id = "as-nobody"
command = { sh = "id -un; cat /etc/srukit-test.d/a.conf", user = "nobody" }
outcomes.denied = { exit = 1, stdout = ["nobody"], stderr = ["Permission denied"] }
outcomes.missing = { exit = 1, stderr = ["No such file", "!Permission denied"] }
outcomes.read = { exit = 0 }

[[check]]
id = "conf"
file = { path = "/etc/srukit-test.d/a.conf" }
outcomes.written = { exists = true, mode = "0600", owner = "root:root", contents = ["/^hello after$/"] }
outcomes.absent = { exists = false }

[[check]]
id = "default-file"
file = { path = "/etc/default/srukit-test" }
outcomes.disabled = { contents = ["/^ENABLED=0$/"] }
outcomes.absent = { exists = false }

[[check]]
id = "targets-conf"
file = { path = "/etc/tgt/targets.conf" }
outcomes.shipped = { exists = true }
outcomes.removed = { exists = false }

[[check]]
id = "pkg"
package = { name = "tgt" }
outcomes.side = { installed = true }
outcomes.gone = { installed = false }

[[check]]
id = "http"
port = { listen = "tcp:127.0.0.1:8080" }
outcomes.up = { listening = true }
outcomes.down = { listening = false }

[[check]]
id = "iscsi-port"
port = { listen = "tcp:3260" }
outcomes.up = { listening = true }
outcomes.down = { listening = false }

[[check]]
id = "log"
log = { file = "/var/log/srukit-test.log" }
outcomes.edited = { contains = ["/^warning: phase edited$/"] }
outcomes.other = { contains = ["!/^warning: phase edited$/"] }

# Expected nowhere: recorded as observed, counted for nothing.
[[check]]
id = "python"
command = { run = ["python3", "--version"] }
outcomes.three = { exit = 0, stdout = ["Python 3."] }
outcomes.other = { exit = 0, stdout = ["!Python 3."] }

[expect."*"."*"]
tgtadm = "ok"
pkg = "side"
http = "up"
iscsi-port = "down"

[expect.after.default]
as-nobody = "missing"
conf = "absent"
default-file = "absent"
targets-conf = "shipped"
log = "other"

[expect.after.edited]
as-nobody = "denied"
conf = "written"
default-file = "disabled"
targets-conf = "removed"
log = "edited"
"#;

fn write_plan(name: &str, text: &str) -> PathBuf {
    // Under the repository (CARGO_TARGET_TMPDIR), so `bookworm-tgt` resolves as a shipped
    // plan's does.
    let path = work().join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn line_of(text: &str, needle: &str) -> usize {
    text[..text.find(needle).unwrap_or_else(|| panic!("{needle:?} in plan"))].matches('\n').count() + 1
}

fn verify(plan: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    run(srukit()
        .arg("verify")
        .arg(plan)
        .args(["--after", "apt:tgt", "--only", "after"])
        .args(extra)
        .arg("--out")
        .arg(out))
}

/// The variant of BASE (`from` replaced by `to`) must be refused at load: exit 2, the plan's
/// path and the line of `at` (in the variant), `needle` in the message, nothing written.
fn refused(name: &str, from: &str, to: &str, at: &str, needle: &str) {
    assert!(BASE.contains(from), "{name}: {from:?} not in BASE");
    let text = BASE.replacen(from, to, 1);
    refused_text(name, &text, at, needle, &[]);
}

fn refused_text(name: &str, text: &str, at: &str, needle: &str, extra: &[&str]) {
    let plan = write_plan(name, text);
    let out = work().join(format!("out-{name}"));
    let o = verify(&plan, &out, extra);
    let err = text_of(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{name}: {err}");
    let want = format!("{}:{}:", plan.display(), line_of(text, at));
    assert!(err.contains(&want), "{name}: wants {want} in: {err}");
    assert!(err.contains(needle), "{name}: wants {needle:?} in: {err}");
    assert!(!out.exists(), "{name}: {} was written", out.display());
}

fn text_of(b: &[u8]) -> String {
    text(b)
}

#[test]
fn the_base_plan_loads() {
    let plan = srukit::verify::plan::Plan::load(&write_plan("base", BASE)).unwrap();
    assert_eq!(plan.checks.len(), 10);
    // The wildcard row reaches every pair; the explicit rows their own.
    use srukit::verify::plan::Side;
    assert_eq!(plan.expected(Side::After, "edited", "http"), Some("up"));
    assert_eq!(plan.expected(Side::After, "default", "conf"), Some("absent"));
}

#[test]
fn adversarial_plans_exit_2_at_load_with_file_and_line() {
    // Ambiguous outcomes: exit 0 is in both sets.
    let (ok, broken) = (line_of(BASE, "outcomes.ok"), line_of(BASE, "outcomes.broken"));
    refused(
        "ambiguous",
        "outcomes.broken = { exit = [1, 2, 22] }",
        "outcomes.broken = { exit = [0, 1] }",
        "outcomes.broken",
        &format!("outcomes `ok` (line {ok}) and `broken` (line {broken}) of check `tgtadm` can both match"),
    );
    // A pattern and its negation prove exclusivity; two unrelated patterns do not.
    refused(
        "ambiguous-log",
        "outcomes.other = { contains = [\"!/^warning: phase edited$/\"] }",
        "outcomes.other = { contains = [\"/warning/\"] }",
        "outcomes.other",
        "can both match; make them exclusive",
    );
    refused(
        "unknown-family",
        "port = { listen = \"tcp:3260\" }",
        "http = { url = \"x\" }",
        "http = {",
        "unknown field `http`",
    );
    refused(
        "two-families",
        "id = \"pkg\"\npackage = { name = \"tgt\" }",
        "id = \"pkg\"\npackage = { name = \"tgt\" }\nfile = { path = \"/x\" }",
        "file = { path = \"/x\" }",
        "names two families",
    );
    refused(
        "no-family",
        "id = \"pkg\"\npackage = { name = \"tgt\" }",
        "id = \"pkg\"",
        "id = \"pkg\"",
        "names no family",
    );
    refused(
        "unknown-outcome",
        "conf = \"written\"",
        "conf = \"writen\"",
        "conf = \"writen\"",
        "check `conf` has no outcome `writen`",
    );
    refused(
        "unknown-check",
        "log = \"edited\"",
        "logs = \"edited\"",
        "logs = \"edited\"",
        "expectation for `logs`",
    );
    refused(
        "wildcard-overlap",
        "[expect.after.edited]\n",
        "[expect.after.edited]\ntgtadm = \"ok\"\n",
        "tgtadm = \"ok\"\nas-nobody = \"denied\"",
        "check `tgtadm` is expected twice for after/edited",
    );
    refused(
        "iscsi-without-target",
        "[[check]]\nid = \"tgtadm\"",
        "[[check]]\nid = \"wce\"\niscsi = { wce = {} }\n\n[[check]]\nid = \"tgtadm\"",
        "id = \"wce\"",
        "check `wce` (iscsi) needs [target]",
    );
    refused(
        "service-without-init",
        "[[check]]\nid = \"tgtadm\"",
        "[[check]]\nid = \"unit\"\nservice = { name = \"tgt.service\" }\noutcomes.up = { active = true }\noutcomes.down = { active = false }\n\n[[check]]\nid = \"tgtadm\"",
        "id = \"unit\"",
        "needs = [\"init\"]",
    );
    refused(
        "needs-machine",
        "sides = [\"after\"]",
        "sides = [\"after\"]\nneeds = [\"machine\"]",
        "needs =",
        "run this plan in a VM lane",
    );
    refused(
        "needs-init-no-systemd",
        "sides = [\"after\"]",
        "sides = [\"after\"]\nneeds = [\"init\"]",
        "needs =",
        "has no init",
    );
    refused(
        "needs-unknown",
        "sides = [\"after\"]",
        "sides = [\"after\"]\nneeds = [\"vm\"]",
        "needs =",
        "unknown variant `vm`",
    );
    refused(
        "package-not-under-test",
        "package = { name = \"tgt\" }",
        "package = { name = \"dash\" }",
        "outcomes.side",
        "asserts the side's version of `dash`, which is not under test",
    );
    refused(
        "upgrade-one-side",
        "[[step]]\nname = \"serve\"",
        "[[step]]\nname = \"up\"\nupgrade = {}\n\n[[step]]\nname = \"serve\"",
        "name = \"up\"",
        "a plan with one side has nothing to upgrade from",
    );
    refused(
        "wrong-family-matcher",
        "outcomes.absent = { exists = false }\n\n[[check]]\nid = \"default-file\"",
        "outcomes.absent = { exit = 1 }\n\n[[check]]\nid = \"default-file\"",
        "outcomes.absent = { exit = 1 }",
        "`exit` is not a file matcher",
    );
    refused(
        "no-matcher",
        "outcomes.gone = { installed = false }",
        "outcomes.gone = {}",
        "outcomes.gone",
        "has no matcher",
    );
    refused(
        "bad-regex",
        "stdout = [\"/^--lld <driver> --mode target/\"]",
        "stdout = [\"/(/\"]",
        "outcomes.ok",
        "pattern `/(/`",
    );
    refused(
        "duplicate-id",
        "id = \"iscsi-port\"",
        "id = \"http\"",
        "id = \"http\"\nport = { listen = \"tcp:3260\" }",
        "check `http` is declared twice",
    );
    refused(
        "edit-two-kinds",
        "{ remove = \"/etc/tgt/targets.conf\" }",
        "{ remove = \"/etc/tgt/targets.conf\", append = \"/x\" }",
        "{ remove = \"/etc/tgt/targets.conf\", append",
        "exactly one of `ini`",
    );
    refused(
        "step-two-kinds",
        "name = \"log\"\nsh =",
        "name = \"log\"\nrun = [\"true\"]\nsh =",
        "name = \"log\"",
        "exactly one of `run`, `sh`",
    );
    refused(
        "unknown-var-in-check",
        "cat /etc/srukit-test.d/a.conf",
        "cat ${conf}",
        "cat ${conf}",
        "unknown variable `${conf}`",
    );
    refused(
        "bad-listen",
        "listen = \"tcp:3260\"",
        "listen = \"tcp:99999\"",
        "listen = \"tcp:99999\"",
        "want tcp:PORT",
    );
    refused(
        "bad-timeout",
        "user = \"nobody\" }",
        "user = \"nobody\", timeout = \"soon\" }",
        "timeout = \"soon\"",
        "duration `soon`",
    );
}

/// `needs = ["init"]` on a testbed whose image boots systemd loads; asking for a backend that
/// cannot boot it is refused before any testbed.
#[test]
fn a_backend_that_cannot_give_what_the_plan_needs_is_refused() {
    let repo = work().join("init-repo");
    std::fs::create_dir_all(repo.join("testbeds")).unwrap();
    std::fs::write(
        repo.join("testbeds/bookworm-init.toml"),
        "suite = \"bookworm\"\nvariant = \"apt\"\npackages = [\"systemd\", \"systemd-sysv\", \"dbus\"]\n",
    )
    .unwrap();
    let text = BASE.replace("testbed = \"bookworm-tgt\"", "testbed = \"bookworm-init\"\nneeds = [\"init\"]");
    let plan = repo.join("plan.toml");
    std::fs::write(&plan, &text).unwrap();
    let out = work().join("out-init-unshare");
    let o = verify(&plan, &out, &["--backend", "unshare"]);
    let err = text_of(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--backend unshare cannot boot one"), "{err}");
    assert!(!out.exists());
    let loaded = srukit::verify::plan::Plan::load(&plan).unwrap();
    let open = srukit::verify::engine::open_options(&loaded, None).unwrap();
    assert_eq!(open.backend, srukit::testbed::Backend::Nspawn { boot: true });
}

fn outcomes(doc: &serde_json::Value, phase: &str) -> Vec<String> {
    let run = doc["runs"].as_array().unwrap().iter().find(|r| r["phase"] == phase).unwrap();
    assert!(run.get("error").is_none(), "{phase}: {run:#}");
    run["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}:{}={}/{}",
                c["id"].as_str().unwrap(),
                c["family"].as_str().unwrap(),
                c["matched_outcome"].as_str().unwrap(),
                c["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_family_runs_in_a_real_testbed_over_two_phases() {
    let plan = write_plan("families", BASE);
    let out = work().join("out-families");
    let o = verify(&plan, &out, &[]);
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 3);
    assert_eq!(doc["verdict"], "verification-done", "{}", doc["reason"]);
    assert_eq!(
        outcomes(&doc, "default"),
        [
            "tgtadm:command=ok/pass",
            "as-nobody:command=missing/pass",
            "conf:file=absent/pass",
            "default-file:file=absent/pass",
            "targets-conf:file=shipped/pass",
            "pkg:package=side/pass",
            "http:port=up/pass",
            "iscsi-port:port=down/pass",
            "log:log=other/pass",
            "python:command=three/observed",
        ]
    );
    assert_eq!(
        outcomes(&doc, "edited"),
        [
            "tgtadm:command=ok/pass",
            "as-nobody:command=denied/pass",
            "conf:file=written/pass",
            "default-file:file=disabled/pass",
            "targets-conf:file=removed/pass",
            "pkg:package=side/pass",
            "http:port=up/pass",
            "iscsi-port:port=down/pass",
            "log:log=edited/pass",
            "python:command=three/observed",
        ]
    );
    let edited = doc["runs"].as_array().unwrap().iter().find(|r| r["phase"] == "edited").unwrap();
    let check =
        |id: &str| edited["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    // The evidence names the object: the executable and the package (under test) owning it.
    let tgtadm = check("tgtadm");
    assert_eq!(tgtadm["evidence"]["object"]["executable"], "/usr/sbin/tgtadm");
    assert_eq!(tgtadm["evidence"]["object"]["package"], "tgt");
    assert_eq!(tgtadm["evidence"]["under_test"]["version"], tgtadm["evidence"]["object"]["version"]);
    assert_eq!(tgtadm["expected_outcome"], "ok");
    assert!(tgtadm["why"].as_str().unwrap().contains("ok: exit 0 held"), "{tgtadm:#}");
    let conf = check("conf");
    assert_eq!(conf["evidence"]["mode"], "0600");
    assert_eq!(conf["evidence"]["contents"], "hello after\n");
    assert_eq!(conf["evidence"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(check("as-nobody")["evidence"]["user"], "nobody");
    // Only what the steps wrote: the phase began after the edits.
    assert_eq!(check("log")["evidence"]["new_lines"], "warning: phase edited\n");
    assert_eq!(check("http")["evidence"]["sockets"][0], "127.0.0.1:8080");
    // The edits as the result records them.
    let kinds: Vec<&str> =
        edited["config_edits"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["set", "append", "write", "remove"]);

    // The result is valid against the published schema (v3).
    verify_common::assert_valid_result(&out);

    // The reports render the generic checks: id, family, outcome names, why.
    let lp = run(srukit().arg("report").arg(&out).args(["--format", "launchpad"]));
    let lp = text(&lp.stdout);
    assert!(lp.contains("  tgtadm (command): command `tgtadm --help`"), "{lp}");
    assert!(lp.contains("PASS -> `denied`: exit status 1"), "{lp}");
    assert!(lp.contains("why: "), "{lp}");
    assert!(lp.contains("Steps (in every run):\n  serve: daemon python3 -m http.server 8080 --bind 127.0.0.1 (ready on port 8080)\n  log: sh echo"), "{lp}");
    assert!(lp.contains("  /etc/srukit-test.d/a.conf: write 12 bytes, mode 0600\n"), "{lp}");
    let md = text(&run(srukit().arg("report").arg(&out).args(["--format", "markdown"])).stdout);
    assert!(md.contains("(`conf`, file)"), "{md}");
    let junit = text(&run(srukit().arg("report").arg(&out).args(["--format", "junit"])).stdout);
    assert!(junit.contains("matched_outcome: written"), "{junit}");
    // An observed-only check is skipped (nothing asserted), and the XML stays valid for Jenkins.
    assert!(junit.contains("observed only: "), "{junit}");
    let xml = work().join("families.xml");
    std::fs::write(&xml, &junit).unwrap();
    let o = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("tests/data/junit-jenkins.xsd"))
        .arg(&xml)
        .output()
        .expect("xmllint runs (libxml2-utils, scripts/setup.sh)");
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// None of a check's outcomes matching is a failure (`unmatched`), never a pass; an outcome
/// other than the expected one is a failure; a failing step is an error, never an outcome.
#[test]
fn unmatched_is_a_failure_and_a_failing_step_an_error() {
    let text_plan = BASE.replace("\"No such file\", \"!Permission", "\"No such thing\", \"!Permission");
    let plan = write_plan("unmatched", &text_plan);
    let out = work().join("out-unmatched");
    let o = verify(&plan, &out, &[]);
    assert_eq!(o.status.code(), Some(1), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "verification-failed");
    let got = outcomes(&doc, "default");
    assert!(got.contains(&"as-nobody:command=unmatched/fail".to_string()), "{got:?}");
    assert!(
        doc["reason"].as_str().unwrap().contains("expected outcome `missing`, matched `unmatched`"),
        "{}",
        doc["reason"]
    );

    let text_plan = BASE.replace("sh = \"echo", "sh = \"false; echo");
    let plan = write_plan("failing-step", &text_plan);
    let out = work().join("out-failing-step");
    let o = verify(&plan, &out, &[]);
    assert_eq!(o.status.code(), Some(3), "{}{}", text(&o.stdout), text(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["verdict"], "error");
    assert!(doc["runs"][0]["error"].as_str().unwrap().contains("step `log` exited with status 1"), "{doc:#}");
}

/// The README's plan and each of its family examples load as written (with the `needs` the
/// service family asks for): the documentation is a plan, not a sketch.
#[test]
fn the_readme_plan_and_its_family_examples_load() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Writing a verification plan").unwrap()..];
    let blocks: Vec<&str> =
        section.split("```toml\n").skip(1).map(|b| &b[..b.find("```").unwrap()]).take(2).collect();
    let [plan, families] = blocks[..] else { panic!("two toml blocks in the README section") };
    let parse = |name: &str, text: &str| {
        srukit::verify::plan::Plan::parse(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let p = parse("readme.toml", plan);
    assert_eq!(p.check_ids(), ["crash", "smoke"]);
    let mut families_seen = Vec::new();
    for chunk in families.split("[[check]]").skip(1) {
        let check = format!("[[check]]{chunk}");
        if check.contains("iscsi = {") {
            continue; // needs [daemon] and [target] and an expectation in every pair: the flagship's
        }
        let mut text = plan.replace("[expect.before.tuned]", &format!("{check}\n[expect.before.tuned]"));
        if check.contains("service = {") {
            text = text.replace("needs = []", "needs = [\"init\"]");
        }
        let p = parse("readme-family.toml", &text);
        families_seen.push(p.checks[2].family());
    }
    assert_eq!(families_seen, ["command", "file", "package", "port", "log", "service"]);
}
