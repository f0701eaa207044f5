//! The virt-server backend (`virt-server = [...]` definitions, `testbed::virt_client`): the
//! backend-independent conformance suite (tests/testbed_common/conformance.rs) through
//! `autopkgtest-virt-unshare -t IMAGE.tar` (a srukit image's tarball) and through
//! `autopkgtest-virt-srukit` (srukit's own server: both directions of the protocol in one
//! loop); what a virt server cannot give is a typed missing-capability error; definitions
//! and plan needs are checked. Needs root and autopkgtest.

mod testbed_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use srukit::reporter::Quiet;
use srukit::testbed::{self, Image, Isolation, OpenOptions, Testbed, TestbedError};
use testbed_common::conformance::{self, Subject};

const BIN: &str = env!("CARGO_BIN_EXE_srukit");

/// A dir (kept for the whole test binary) holding the virt-server definitions.
fn defs_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The bookworm-tgt image's mmdebstrap tarball (built once, cached).
fn tarball() -> &'static PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| testbed::ensure_image("bookworm-tgt", &Quiet).expect("bookworm-tgt builds").tarball)
}

fn write_def(name: &str, text: &str) -> PathBuf {
    let p = defs_dir().join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// `autopkgtest-virt-unshare -t` the bookworm-tgt tarball.
fn unshare_def() -> PathBuf {
    write_def(
        "virt-unshare",
        &format!(
            "virt-server = [\"autopkgtest-virt-unshare\", \"-t\", {:?}]\nrelease = \"bookworm\"\n",
            tarball().display().to_string()
        ),
    )
}

/// `autopkgtest-virt-srukit bookworm-tgt`: the server is this srukit, by its argv0 name.
fn srukit_def() -> PathBuf {
    let link = defs_dir().join("autopkgtest-virt-srukit");
    if !link.exists() {
        std::os::unix::fs::symlink(BIN, &link).unwrap();
    }
    let def = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbeds/bookworm-tgt.toml");
    write_def(
        "virt-srukit",
        &format!(
            "virt-server = [\"./autopkgtest-virt-srukit\", {:?}]\nrelease = \"bookworm\"\n",
            def.display().to_string()
        ),
    )
}

fn image_of(def: &Path) -> Image {
    let image = testbed::ensure_image(&def.display().to_string(), &Quiet).unwrap();
    assert!(image.virt.is_some(), "{} names a virt server", def.display());
    image
}

fn opener(image: &Image) -> impl Fn() -> Box<dyn Testbed> + '_ {
    move || testbed::open(image, &OpenOptions::default()).expect("virt testbed opens")
}

/// What the host cannot do through a virt server: typed errors naming server and capability.
fn assert_missing_capabilities(tb: &mut dyn Testbed, server: &str) {
    let missing = |e: TestbedError, want: &str| match e {
        TestbedError::MissingCapability { server: s, capability } => {
            assert_eq!((s.as_str(), capability.as_str()), (server, want))
        }
        other => panic!("{want}: not a missing capability: {other}"),
    };
    missing(tb.connect_tcp("127.0.0.1:3260".parse().unwrap()).unwrap_err(), "connect_tcp");
    missing(tb.memory_cgroup("daemon").unwrap_err(), "memory_cgroup");
    missing(tb.host_pid(1).unwrap_err(), "host_pid");
    missing(tb.host_pids_named("sh").unwrap_err(), "host_pids_named");
    missing(tb.data_dir().unwrap_err(), "data_dir");
    assert_eq!(tb.init_pid(), None);
    assert_eq!(tb.backend_name(), format!("virt:{server}"));
}

fn conformance_through(def: PathBuf, server: &str, caps: &[&str]) {
    let image = image_of(&def);
    let open = opener(&image);
    conformance::all(&Subject { open: &open, probe: "/usr/sbin/tgtadm", release: "bookworm" });
    let mut tb = open();
    assert_missing_capabilities(tb.as_mut(), server);
    let info = tb.virt_info().expect("a virt testbed records its server");
    assert!(info.argv[0].ends_with(server), "{info:?}");
    for c in caps {
        assert!(info.capabilities.iter().any(|x| x == c), "{server} lacks {c}: {info:?}");
    }
    tb.close().unwrap();
}

#[test]
fn conformance_through_autopkgtest_virt_unshare() {
    conformance_through(unshare_def(), "autopkgtest-virt-unshare", &["revert", "root-on-testbed"]);
}

#[test]
fn conformance_through_autopkgtest_virt_srukit() {
    conformance_through(srukit_def(), "autopkgtest-virt-srukit", &["revert", "root-on-testbed"]);
}

#[test]
fn isolation_and_release_are_checked_at_open() {
    let image = image_of(&unshare_def());
    // virt-unshare claims no isolation-container (plans.md §1.2): needs = ["init"] is refused.
    for (iso, cap) in
        [(Isolation::Container, "isolation-container"), (Isolation::Machine, "isolation-machine")]
    {
        let opts = OpenOptions { isolation: Some(iso), ..Default::default() };
        match testbed::open(&image, &opts) {
            Err(TestbedError::MissingCapability { server, capability }) => {
                assert_eq!((server.as_str(), capability.as_str()), ("autopkgtest-virt-unshare", cap))
            }
            Err(e) => panic!("{cap}: {e}"),
            Ok(_) => panic!("{cap}: opened without it"),
        }
    }
    let wrong = write_def(
        "virt-wrong-release",
        &format!(
            "virt-server = [\"autopkgtest-virt-unshare\", \"-t\", {:?}]\nrelease = \"trixie\"\n",
            tarball()
        ),
    );
    let err = testbed::open(&image_of(&wrong), &OpenOptions::default()).err().expect("release is checked");
    assert!(err.to_string().contains("\"bookworm\"") && err.to_string().contains("\"trixie\""), "{err}");
}

#[test]
fn testbed_exec_cli_runs_through_the_server() {
    let def = unshare_def();
    let out = Command::new(BIN)
        .args([
            "--json",
            "testbed",
            "exec",
            &def.display().to_string(),
            "--",
            "sh",
            "-c",
            "cat /etc/debian_version; exit 4",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json");
    assert_eq!(doc["status"], 4, "{doc}");
    assert!(doc["stdout"].as_str().unwrap().starts_with("12."), "{doc}");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // A definition mixing a server with image keys: bad input at file:line, exit 2.
    let bad = write_def("virt-mixed", "virt-server = [\"autopkgtest-virt-null\"]\npackages = [\"tgt\"]\n");
    let out = Command::new(BIN)
        .args(["testbed", "exec", &bad.display().to_string(), "--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:", bad.display())), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
}

/// A plan folder whose `testbeds/virt-lanes.toml` is virt-unshare over the bookworm-lanes
/// image (the zip lane's testbed), and the zip lane's plan pointed at it.
fn virt_lane(needs: &str) -> PathBuf {
    let tar = testbed::ensure_image("bookworm-lanes", &Quiet).expect("bookworm-lanes builds").tarball;
    let dir = defs_dir().join(format!("lane{}", needs.len()));
    std::fs::create_dir_all(dir.join("testbeds")).unwrap();
    std::fs::write(
        dir.join("testbeds/virt-lanes.toml"),
        format!("virt-server = [\"autopkgtest-virt-unshare\", \"-t\", {:?}]\nrelease = \"bookworm\"\n", tar),
    )
    .unwrap();
    let plan = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testbeds/plans/deb-1143866-zip.toml"),
    )
    .unwrap()
    .replacen("testbed = \"bookworm-lanes\"", &format!("testbed = \"virt-lanes\"\n{needs}"), 1);
    let path = dir.join("zip.toml");
    std::fs::write(&path, plan).unwrap();
    path
}

fn verify(plan: &Path, out: &Path) -> (Option<i32>, serde_json::Value, String) {
    let o = Command::new(BIN)
        .args(["verify", &plan.display().to_string(), "--out", &out.display().to_string()])
        .args(["--before", "apt:zip=3.0-13@bookworm", "--after", "apt:zip=3.0-13+deb12u1@bookworm-security"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let doc = std::fs::read(out.join("result.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    (o.status.code(), doc.unwrap_or(serde_json::Value::Null), err)
}

/// (side, phase, check, outcome) of every run: what a verdict is made of.
fn outcomes(doc: &serde_json::Value) -> Vec<String> {
    let mut rows: Vec<String> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["checks"].as_array().unwrap().iter().map(move |c| {
                format!("{} {} {} {} {}", r["side"], r["phase"], c["id"], c["outcome"], c["matched_outcome"])
            })
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn verify_through_virt_unshare_gives_the_default_backends_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbeds/plans/deb-1143866-zip.toml");
    let (code, default, err) = verify(&plan, &dir.path().join("default"));
    assert_eq!(code, Some(0), "{err}");
    let (code, virt, err) = verify(&virt_lane(""), &dir.path().join("virt"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(virt["verdict"], default["verdict"]);
    assert_eq!(virt["verdict"], "verification-done");
    assert_eq!(outcomes(&virt), outcomes(&default));
    assert!(
        outcomes(&virt).contains(&r#""before" "default" "injection" "pass" "injected""#.to_string()),
        "{:?}",
        outcomes(&virt)
    );
    for run in virt["runs"].as_array().unwrap() {
        let tb = &run["testbed"];
        assert_eq!(tb["backend"], "virt:autopkgtest-virt-unshare", "{tb}");
        assert_eq!(tb["virt_server"]["argv"][0], "autopkgtest-virt-unshare", "{tb}");
        assert!(tb["virt_server"]["capabilities"].as_array().unwrap().iter().any(|c| c == "revert"), "{tb}");
    }
    for run in default["runs"].as_array().unwrap() {
        assert_eq!(run["testbed"]["backend"], "unshare");
        assert!(run["testbed"].get("virt_server").is_none());
    }
}

#[test]
fn needs_machine_is_a_virt_server_with_isolation_machine() {
    // Accepted at load for a virt-server testbed; virt-unshare lacks isolation-machine, so
    // the run cannot happen: an error (exit 3) naming the capability, never a verdict.
    let plan = virt_lane("needs = [\"machine\"]");
    srukit::verify::plan::Plan::load(&plan).expect("a virt-server testbed may be a machine");
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = verify(&plan, &dir.path().join("out"));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("autopkgtest-virt-unshare") && err.contains("isolation-machine"), "{err}");
    // Refused at file:line for srukit's own testbeds.
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("testbed = \"virt-lanes\"", "testbed = \"bookworm-lanes\"");
    let own = plan.with_file_name("own.toml");
    std::fs::write(&own, &text).unwrap();
    let line = text.lines().position(|l| l.starts_with("needs =")).unwrap() + 1;
    let (code, _, err) = verify(&own, &dir.path().join("own"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("{}:{line}:", own.display())) && err.contains("VM lane"), "{err}");
}
