//! The real autopkgtest (5.28) runs the DEP-8 suites of six Debian 12 source packages of
//! different kinds, each pinned to its exact `bookworm` version, once through srukit's virt
//! server (`-- srukit DEF`) and once through `-- unshare -t IMAGE.tar` on the same image:
//! every test's result and autopkgtest's exit code must be the same both ways, and must be
//! what the package gives on a clean Debian 12 (observed by hand with `-- unshare`).

mod common;
mod dep8_common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use dep8_common::Run;

/// The image both servers start from: the build image already has build-essential, debhelper
/// and python3, so the C library's and the Perl module's test deps install in seconds.
const IMAGE: &str = "bookworm-dep8";
/// Where every source is pinned from (its exact version below; the point-release suite, as
/// the security pool answers 404 for many files here).
const SUITE: &str = "bookworm";
/// autopkgtest runs at once; the machine has 2 cores and every run installs packages.
const PARALLEL: usize = 3;

struct Suite {
    source: &'static str,
    version: &'static str,
    /// What this package stands for among the six (the list).
    kind: &'static str,
    /// Every test in the summary with its result word.
    expect: &'static [(&'static str, &'static str)],
    /// autopkgtest's exit code (`man autopkgtest`: 0 all passed, 8 no non-superficial test).
    exit: i32,
}

const SUITES: &[Suite] = &[
    // Compiles libyaml's upstream test programs against the installed libyaml-dev with
    // pkg-config and runs them: the C library.
    Suite {
        source: "libyaml",
        version: "0.2.5-1",
        kind: "C library",
        expect: &[("upstream-tests", "PASS")],
        exit: 0,
    },
    // `import brotli` round trip for every supported python3 (python3-brotli).
    Suite {
        source: "brotli",
        version: "1.0.9-2",
        kind: "Python module",
        expect: &[("python3", "PASS")],
        exit: 0,
    },
    // sed's own substitution test on the installed /bin/sed.
    Suite {
        source: "sed",
        version: "4.9-1+deb12u1",
        kind: "shell tool",
        expect: &[("sub", "PASS")],
        exit: 0,
    },
    // killall and fuser under shunit2: a tool that walks /proc, so the test sees the
    // testbed's own pid namespace through the exec prefix.
    Suite {
        source: "psmisc",
        version: "23.6-1",
        kind: "shell tool (processes)",
        expect: &[("version", "PASS"), ("fuser", "PASS"), ("killall", "PASS")],
        exit: 0,
    },
    // Both tests are needs-root (useradd, pam-auth-update --enable, su); pam-auth-update
    // also traces itself on stderr (set -x) and is allow-stderr: a PASS means both
    // restrictions were honoured (without root-on-testbed autopkgtest would SKIP them).
    Suite {
        source: "pam",
        version: "1.5.2-6+deb12u2",
        kind: "needs-root, allow-stderr",
        expect: &[("pam-auth-update", "PASS"), ("pam-test", "PASS")],
        exit: 0,
    },
    // Testsuite: autopkgtest-pkg-perl: autodep8 (on the host) writes the three stanzas, each
    // `Restrictions: skippable` (pkg-perl-autopkgtest's runner exits 77 when it finds
    // nothing to run); on this package all three find something and pass.
    Suite {
        source: "libclass-method-modifiers-perl",
        version: "2.14-1",
        kind: "skippable (autodep8 perl)",
        expect: &[
            ("autodep8-perl-build-deps", "PASS"),
            ("autodep8-perl", "PASS"),
            ("autodep8-perl-recommends", "PASS"),
        ],
        exit: 0,
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Server {
    Srukit,
    Unshare,
}

/// Each (source, server) run, or why it did not run.
type Runs = HashMap<(&'static str, Server), Result<Run, String>>;

/// Every (suite, server) run, made once for all the tests in this file, PARALLEL at a time.
/// A run that could not start is kept as its message, so one broken run fails its own test
/// and the others still report.
fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let started = std::time::Instant::now();
        let tarball = dep8_common::image_tarball(IMAGE);
        let bin = dep8_common::virt_bin_dir();
        // One fixed dir, emptied each time: the last run's outputs stay to read after a
        // failure, and runs do not pile up.
        let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dep8-suites");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        // Downloads first, one at a time: apt-get source runs are cheap and keep apt's lists
        // lock out of the parallel part.
        // By path: autopkgtest starts the server in the test's cwd, not in the checkout.
        let def = definition();
        let dscs: Vec<PathBuf> =
            SUITES.iter().map(|s| dep8_common::pinned_dsc(s.source, SUITE, s.version)).collect();
        let mut jobs: Vec<(usize, Server)> = Vec::new();
        for i in 0..SUITES.len() {
            jobs.push((i, Server::Srukit));
            jobs.push((i, Server::Unshare));
        }
        let queue = Mutex::new(jobs);
        let done = Mutex::new(HashMap::new());
        std::thread::scope(|s| {
            for _ in 0..PARALLEL {
                s.spawn(|| {
                    loop {
                        // Its own statement: a guard in the `while let` head would be held
                        // for the whole body and run the jobs one at a time.
                        let job = queue.lock().unwrap().pop();
                        let Some((i, server)) = job else { break };
                        let suite = &SUITES[i];
                        let out = work.join(format!("{}-{server:?}", suite.source));
                        let tar = tarball.to_str().unwrap();
                        let args: Vec<&str> = match server {
                            Server::Srukit => vec!["srukit", &def],
                            Server::Unshare => vec!["unshare", "-t", tar],
                        };
                        let run = std::panic::catch_unwind(|| {
                            dep8_common::autopkgtest(&dscs[i], &out, bin.path(), &args)
                        })
                        .map_err(|_| format!("autopkgtest did not run for {} {server:?}", suite.source));
                        if let Ok(r) = &run {
                            eprintln!(
                                "{} {server:?}: exit {} in {:.1} s: {:?}",
                                suite.source, r.code, r.secs, r.results
                            );
                        }
                        done.lock().unwrap().insert((suite.source, server), run);
                    }
                });
            }
        });
        eprintln!("all {} autopkgtest runs: {:.1} s", SUITES.len() * 2, started.elapsed().as_secs_f64());
        done.into_inner().unwrap()
    })
}

fn definition() -> String {
    format!("{}/testbeds/{IMAGE}.toml", env!("CARGO_MANIFEST_DIR"))
}

fn run_of(source: &str, server: Server) -> &'static Run {
    match &runs()[&(SUITES.iter().find(|s| s.source == source).unwrap().source, server)] {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// Both servers give the same result per test and the same exit code, and those are the
/// ones a clean Debian 12 gives; the summary names the pinned source version.
fn assert_suite(source: &str) {
    let suite = SUITES.iter().find(|s| s.source == source).unwrap();
    let srukit = run_of(source, Server::Srukit);
    let unshare = run_of(source, Server::Unshare);
    let expect: Vec<(String, String)> =
        suite.expect.iter().map(|(t, r)| (t.to_string(), r.to_string())).collect();
    let hint = |r: &Run| format!("see {} and {}", r.out.display(), r.out.with_extension("stderr").display());
    assert_eq!(srukit.results, unshare.results, "{source} ({}): -- srukit vs -- unshare", suite.kind);
    assert_eq!(srukit.code, unshare.code, "{source}: autopkgtest exit code, -- srukit vs -- unshare");
    assert_eq!(srukit.results, expect, "{source} ({}) on -- srukit: {}", suite.kind, hint(srukit));
    assert_eq!(srukit.code, suite.exit, "{source}: autopkgtest's exit code on -- srukit: {}", hint(srukit));
    for r in [srukit, unshare] {
        assert_eq!(
            r.file("testpkg-version").trim(),
            format!("{source} {}", suite.version),
            "{source}: the tests came from the pinned source"
        );
    }
    // The srukit run went through srukit's server, not a fallback.
    let info: serde_json::Value = serde_json::from_str(&srukit.file("testinfo.json")).unwrap();
    assert_eq!(
        info["virt_server"],
        format!("autopkgtest-virt-srukit {}", definition()),
        "{source}: testinfo.json"
    );
}

#[test]
fn c_library_libyaml() {
    assert_suite("libyaml");
}

#[test]
fn python_module_brotli() {
    assert_suite("brotli");
}

#[test]
fn shell_tool_sed() {
    assert_suite("sed");
}

#[test]
fn shell_tool_psmisc() {
    assert_suite("psmisc");
}

#[test]
fn needs_root_and_allow_stderr_pam() {
    let suite = SUITES.iter().find(|s| s.source == "pam").unwrap();
    assert_suite(suite.source);
    let tmp = tempfile::tempdir().unwrap();
    let src = dep8_common::unpack(&dep8_common::pinned_dsc(suite.source, SUITE, suite.version), tmp.path());
    let control = dep8_common::tests_control(&src);
    for (test, _) in suite.expect {
        assert!(dep8_common::restrictions_of(&control, test).contains(&"needs-root".to_string()), "{test}");
    }
    assert!(dep8_common::restrictions_of(&control, "pam-auth-update").contains(&"allow-stderr".to_string()));
    // allow-stderr mattered: the test did write to stderr, on both servers, and still passed.
    for server in [Server::Srukit, Server::Unshare] {
        let stderr = run_of("pam", server).file("pam-auth-update-stderr");
        assert!(stderr.contains("+ useradd"), "pam-auth-update's stderr on {server:?}: {stderr}");
    }
}

#[test]
fn skippable_perl_module() {
    let suite = SUITES.iter().find(|s| s.source == "libclass-method-modifiers-perl").unwrap();
    assert_suite(suite.source);
    // The stanzas autopkgtest ran are skippable ones (autodep8's, as autopkgtest generates them
    // for a source without its own debian/tests/control).
    let tmp = tempfile::tempdir().unwrap();
    let src = dep8_common::unpack(&dep8_common::pinned_dsc(suite.source, SUITE, suite.version), tmp.path());
    let control = dep8_common::tests_control(&src);
    for (test, _) in suite.expect {
        let r = dep8_common::restrictions_of(&control, test);
        assert!(r.iter().any(|r| r == "skippable"), "{test}: restrictions {r:?}");
    }
}
