//! srukit's own Debian package, built by srukit the way the README says (`make deb`): crates
//! vendored into debian/vendor, `srukit build --tree <checkout> --lintian` (source package
//! from the checkout minus debian/source/options' tar-ignore, binaries in a fresh
//! bookworm-build testbed with cargo-web from bookworm-security), then the .deb installed
//! with apt in another fresh testbed, where `srukit --version`, `man srukit` and the bash
//! completion must work. lintian must report no errors.
//!
//! What is reused across runs, and why it proves no less: `srukit build --cache` keeps the
//! compiled crates of srukit's dependencies in `${XDG_CACHE_HOME:-~/.cache}/srukit/
//! build-cache/srukit-package/` (debian/rules keys them by the testbed's cargo and rustc, the
//! Cargo.lock and the cargo flags, and cargo's fingerprints still check each crate against
//! the vendored source). Those crates are the vendored ones, byte for byte what Cargo.lock
//! pins, and this test is not about them. Everything it proves still happens in every run:
//! the source package is made from the checkout, unpacked in a fresh testbed over the
//! build-deps layer (its Build-Depends as apt installed them from the mirror, in this run or
//! an earlier one for the same image and package set; `dpkg-checkbuilddeps` confirms them in
//! the testbed), `dpkg-buildpackage` run, srukit itself compiled from
//! that source (rules removes srukit's own artifacts from the cache first; the log must say
//! `Compiling srukit`), and the .deb installed and run in another fresh testbed. A first run
//! (an empty cache) builds every crate, as before.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

use srukit::reporter::Quiet;
use srukit::testbed::{self, ExecRequest, OpenOptions};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `dpkg-parsechangelog -S Version` of the checkout: what the package must say it is.
fn version() -> String {
    let out = Command::new("dpkg-parsechangelog")
        .args(["-l", "debian/changelog", "-S", "Version"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success());
    text(&out.stdout).trim().to_string()
}

#[test]
fn srukit_builds_its_own_package_and_it_installs_in_a_fresh_testbed() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let vendor = Command::new(cargo)
        .args(["vendor", "--locked", "--quiet", "debian/vendor"])
        .current_dir(repo())
        .output();
    let vendor = vendor.expect("cargo runs");
    assert!(vendor.status.success(), "cargo vendor: {}", text(&vendor.stderr));

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let cache = testbed::cache_root().join("build-cache/srukit-package");
    let r = srukit(&[
        "build",
        "--tree",
        repo().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--lintian",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "srukit build --tree .:\n{}\n{}", text(&r.stdout), text(&r.stderr));

    let v = version();
    let upstream = v.split('-').next().unwrap().to_string();
    let m = manifest(&out);
    assert_eq!(m["source"], "srukit");
    assert_eq!(m["version"], v.as_str());
    assert_eq!(m["architectures"], serde_json::json!(["source", "amd64"]));
    let names: Vec<&str> =
        m["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    let deb_name = format!("srukit_{v}_amd64.deb");
    for want in [format!("srukit_{v}.dsc"), format!("srukit_{v}.tar.xz"), deb_name.clone()] {
        assert!(names.contains(&want.as_str()), "{want} not in {names:?}");
    }
    // The toolchain came from the mirror into the build testbed, never from the host.
    let tb = &m["testbed"];
    assert_eq!(tb["name"], "bookworm-build");
    assert_eq!(tb["build_deps"], "apt");
    let installed = tb["installed"].to_string();
    assert!(installed.contains("cargo-web") && installed.contains("rustc-web"), "{installed}");
    let log = std::fs::read_to_string(out.join("logs/binary.log")).unwrap();
    // Through the build-deps layer: made by apt in this build, or reused from an earlier one
    // whose layer.json names the same exact set, and confirmed by dpkg-checkbuilddeps.
    let key = tb["layer"].as_str().expect("a build-deps layer");
    let made =
        log.contains(&format!("build-deps layer {key}: making it")) && log.contains("Unpacking cargo-web");
    let reused = log.contains(&format!("build-deps layer {key} reused"));
    assert!(made || reused, "cargo-web installed by apt in a layer:\n{log}");
    let meta =
        std::fs::read_to_string(testbed::cache_root().join("build-deps/layers").join(key).join("layer.json"))
            .unwrap();
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert!(
        meta["plan"]["install"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("cargo-web:")),
        "{meta:#}"
    );
    assert!(log.contains("$ [testbed] dpkg-checkbuilddeps\nsrukit: status 0"), "{log}");
    assert!(log.contains("--offline --locked"), "the cargo build is offline");
    // The cache was the target dir, and srukit itself was compiled from the source package
    // whatever the cache held (only its dependencies may be reused).
    assert!(log.contains(&format!("srukit: build cache {}", cache.display())), "the build cache is bound");
    assert!(log.contains("/var/cache/srukit-build/cargo-target/"), "rules used the build cache");
    assert!(log.contains(&format!("Compiling srukit v{upstream}")), "srukit compiled in this build");

    // The virt server: a symlink to srukit and its man page.
    let contents = Command::new("dpkg-deb").arg("-c").arg(out.join(&deb_name)).output().unwrap();
    assert!(contents.status.success());
    let listing = text(&contents.stdout);
    assert!(
        listing.lines().any(|l| l.ends_with(" ./usr/bin/autopkgtest-virt-srukit -> srukit")),
        "{listing}"
    );
    assert!(listing.contains(" ./usr/share/man/man1/autopkgtest-virt-srukit.1.gz\n"), "{listing}");

    // The source package: the vendored crates in, the checkout's build outputs and git out.
    let list = Command::new("tar").arg("-tJf").arg(out.join(format!("srukit_{v}.tar.xz"))).output().unwrap();
    assert!(list.status.success());
    let members = text(&list.stdout);
    let has =
        |p: &str| members.lines().any(|l| l.split_once('/').is_some_and(|(_, rest)| rest.starts_with(p)));
    assert!(
        has("debian/vendor/libgit2-sys/") && has("debian/vendor/cc/src/target/"),
        "vendored crates packed"
    );
    assert!(has("src/main.rs") && has("debian/rules"));
    for absent in [".git/", "target/release/", "target/debug/", "srukit-out/", "debian/cargo-target/"] {
        assert!(!has(absent), "{absent} must not be in the source package");
    }

    // lintian: parsed, and no errors.
    let lintian = &m["lintian"];
    assert!(lintian["counts"].is_object(), "{lintian}");
    assert_eq!(lintian["counts"]["E"].as_u64().unwrap_or(0), 0, "lintian errors: {lintian}");

    // A fresh testbed: the .deb installs with apt (its Depends from the mirror), and works.
    let image = testbed::ensure_image("bookworm-build", &Quiet).expect("bookworm-build image");
    let mut tb = testbed::open(&image, &OpenOptions { host_network: true, ..Default::default() }).unwrap();
    let inside = Path::new("/tmp").join(&deb_name);
    tb.copy_in(&out.join(&deb_name), &inside).unwrap();
    let run = |tb: &mut Box<dyn testbed::Testbed>, script: &str| {
        let o = tb
            .exec(
                &ExecRequest::shell(&format!("{{ {script}; }} 2>&1"))
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )
            .unwrap();
        assert!(o.success(), "{script}:\n{}", o.stdout_str());
        o.stdout_str()
    };
    run(&mut tb, &format!("apt-get install -y -q --no-install-recommends {} man-db", inside.display()));
    let status = run(&mut tb, "dpkg-query -W -f '${Status} ${Version}' srukit");
    assert_eq!(status, format!("install ok installed {v}"));
    assert_eq!(run(&mut tb, "srukit --version").trim(), format!("srukit {upstream}"));
    let page = run(&mut tb, "MANWIDTH=80 man srukit | cat");
    assert!(
        page.lines().any(|l| {
            // man justifies the NAME line: compare words.
            l.split_whitespace().collect::<Vec<_>>().join(" ").starts_with("srukit - Stable release updates")
        }),
        "man srukit:\n{page}"
    );
    assert!(run(&mut tb, "man -w srukit-run").contains("/usr/share/man/man1/srukit-run.1.gz"));
    // autopkgtest's virt server: srukit under that name, with its own page.
    assert_eq!(run(&mut tb, "readlink /usr/bin/autopkgtest-virt-srukit").trim(), "srukit");
    let page = run(&mut tb, "MANWIDTH=200 man autopkgtest-virt-srukit | cat");
    assert!(page.contains("autopkgtest virtualisation server using srukit testbeds"), "{page}");
    let help = run(&mut tb, "autopkgtest-virt-srukit --help");
    assert!(help.contains("Usage: srukit testbed virt-server"), "{help}");
    let completion =
        run(&mut tb, "bash -c '. /usr/share/bash-completion/completions/srukit && complete -p srukit'");
    assert!(completion.contains("srukit"), "{completion}");
    for f in ["/usr/share/zsh/vendor-completions/_srukit", "/usr/share/fish/vendor_completions.d/srukit.fish"]
    {
        run(&mut tb, &format!("test -s {f}"));
    }
    // debci's backend `srukit`, executable where debci looks for backends.
    for f in ["test-package", "create-testbed"] {
        run(&mut tb, &format!("test -x /usr/share/debci/backends/srukit/{f}"));
    }
    // The installed tool does real work: the flagship patch's DEP-3 header, checked there.
    let patch = repo().join("patches/lp1336568-iscsi-write-cache/tgtadmin-iscsi-write-cache-config.patch");
    tb.copy_in(&patch, Path::new("/tmp/flagship.patch")).unwrap();
    let dep3 = run(&mut tb, "srukit dep3 check /tmp/flagship.patch");
    assert!(dep3.contains("DEP-3 headers OK"), "{dep3}");
    tb.close().unwrap();
}
