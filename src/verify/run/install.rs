//! A side's packages into a testbed, confirmed before any check: local .debs with dpkg,
//! archive packages with apt from their suite (the testbed gets the suite's apt sources and
//! the very lists the host resolved against, and the .debs the host downloaded), every other
//! installed binary of the same source pinned to the same upload; then what dpkg and apt say
//! of each package under test (`dpkg-query` status and version, `apt-cache policy`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::{Fallible, exec_ok};
use crate::testbed::{ExecRequest, Testbed};
use crate::verify::archive::Archive;
use crate::verify::packages::Package;
use crate::verify::result::InstalledPackage;

/// apt may fetch dependencies the image lacks: slower than a step, never unbounded.
const APT_TIMEOUT: Duration = Duration::from_secs(900);

/// Where the host's archive keyring is put inside the testbed, apart from the image's own.
const KEYRING_INSIDE: &str = "/etc/apt/keyrings/srukit-archive.gpg";

/// How a side's packages go in: onto the image (a run's start), or over another side's
/// (a plan's `upgrade` step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Install,
    /// As an admin's unattended upgrade does it: dpkg's default for a conffile the admin did
    /// not touch, the admin's version kept for one they did (`--force-confdef
    /// --force-confold`, unattended-upgrades' choice), and the same version reinstalled
    /// rather than skipped, so the before run's before -> before path runs the maintainer
    /// scripts as the after run's before -> after does.
    Upgrade,
}

pub(crate) fn install(tb: &mut dyn Testbed, packages: &[Package]) -> Fallible<()> {
    put(tb, packages, Mode::Install)
}

/// The run's side over the packages already installed (a plan's `upgrade` step).
pub(crate) fn upgrade(tb: &mut dyn Testbed, packages: &[Package]) -> Fallible<()> {
    put(tb, packages, Mode::Upgrade)
}

fn put(tb: &mut dyn Testbed, packages: &[Package], mode: Mode) -> Fallible<()> {
    let local: Vec<&Package> = packages.iter().filter(|p| p.deb.is_some() && p.archive.is_none()).collect();
    let archive: Vec<&Package> = packages.iter().filter(|p| p.archive.is_some()).collect();
    if local.is_empty() && archive.is_empty() {
        return Ok(());
    }
    // Where no init runs, keep maintainer scripts from trying to start services; where
    // systemd is pid 1 (`/run/systemd/system`, as deb-systemd-invoke tests it) they start and
    // restart them as on a real system, an upgrade's restart included.
    exec_ok(
        tb,
        ExecRequest::shell(
            "mkdir -p /tmp/srukit-debs && { [ -d /run/systemd/system ] || { printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; }; }",
        ),
    )?;
    if !local.is_empty() {
        let mut argv = vec!["dpkg".to_string(), "-i".into()];
        if mode == Mode::Upgrade {
            argv.push("--force-confdef".into());
        }
        argv.push("--force-confold".into());
        for p in local {
            let deb = p.deb.as_ref().expect("filtered on deb");
            let inside = Path::new("/tmp/srukit-debs").join(deb.file_name().unwrap_or_default());
            tb.copy_in(deb, &inside).map_err(|e| format!("copy {} in: {e}", deb.display()))?;
            argv.push(inside.display().to_string());
        }
        exec_ok(tb, ExecRequest::new(argv).env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    if !archive.is_empty() {
        install_from_archive(tb, &archive, mode)?;
    }
    Ok(())
}

/// What a verifier does by hand (`apt install -t SUITE PKG`, Ubuntu's SRU verification
/// procedure), with the versions pinned to the ones the host resolved, so what is tested
/// is what the result names even if the archive moves meanwhile.
fn install_from_archive(tb: &mut dyn Testbed, packages: &[&Package], mode: Mode) -> Fallible<()> {
    let mut archives: Vec<&Archive> = Vec::new();
    for a in packages.iter().filter_map(|p| p.archive.as_ref()) {
        if !archives.iter().any(|b| b.suite == a.suite) {
            archives.push(a);
        }
    }
    give_sources(tb, &archives)?;
    let mut pins: BTreeMap<String, String> = BTreeMap::new();
    for p in packages {
        let deb = p.deb.as_ref().expect("an archive package is downloaded on the host");
        // apt takes a file in its cache whose hash matches the index instead of fetching it.
        let inside = Path::new("/var/cache/apt/archives").join(deb.file_name().unwrap_or_default());
        tb.copy_in(deb, &inside).map_err(|e| format!("copy {} in: {e}", deb.display()))?;
        pins.insert(p.name.clone(), p.version.clone().unwrap_or_default());
    }
    // Two rounds at most: the image's binaries of the same source first, then those the
    // first install pulled in at another upload's version.
    let mut pending = off_upload(tb, packages, &pins)?;
    pins.extend(pending.drain(..));
    for round in 0..2 {
        apt_install(tb, &pins, mode == Mode::Upgrade && round == 0)?;
        let off = off_upload(tb, packages, &pins)?;
        if off.is_empty() {
            return Ok(());
        }
        if round == 1 {
            let names: Vec<String> = off.iter().map(|(n, v)| format!("{n} (wanted {v})")).collect();
            return Err(format!(
                "apt left binaries of the source under test at another version: {}",
                names.join(", ")
            ));
        }
        pins.extend(off);
    }
    Ok(())
}

/// The testbed's apt sees exactly the host's private apt: its sources (the image's own are
/// set aside for the run), its lists (no `apt-get update` in the testbed, so the index is the
/// one the versions were resolved in) and the keyring that signed them.
fn give_sources(tb: &mut dyn Testbed, archives: &[&Archive]) -> Fallible<()> {
    exec_ok(
        tb,
        ExecRequest::shell(
            "mkdir -p /etc/apt/keyrings /var/cache/apt/archives/partial && \
             rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources && \
             rm -rf /var/lib/apt/lists",
        ),
    )?;
    let mut list = String::new();
    for a in archives {
        let keyring = Path::new(a.suite.keyring());
        tb.copy_in(keyring, Path::new(KEYRING_INSIDE))
            .map_err(|e| format!("copy {} in: {e}", keyring.display()))?;
        list.push_str(&a.sources_list(KEYRING_INSIDE));
        // The suite's lock: no other srukit fetches these lists while they are copied.
        let _lock = a.lock().map_err(|e| e.to_string())?;
        tb.copy_in(&a.lists(), Path::new("/var/lib/apt/lists"))
            .map_err(|e| format!("copy {} in: {e}", a.lists().display()))?;
    }
    exec_ok(tb, ExecRequest::new(["sh", "-c", "cat > /etc/apt/sources.list"]).stdin(list))?;
    Ok(())
}

fn apt_install(tb: &mut dyn Testbed, pins: &BTreeMap<String, String>, reinstall: bool) -> Fallible<()> {
    let mut argv: Vec<String> = [
        "apt-get",
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        // The side's version is the point, even below what the image has.
        "--allow-downgrades",
        // A conffile only the package changed is replaced (dpkg's default)...
        "-oDpkg::Options::=--force-confdef",
        // ...one the admin changed too keeps the admin's, without a prompt,
        // as `apt upgrade`'s default answer and unattended-upgrades keep it.
        "-oDpkg::Options::=--force-confold",
    ]
    .map(String::from)
    .to_vec();
    if reinstall {
        argv.push("--reinstall".into());
    }
    argv.extend(pins.iter().map(|(n, v)| format!("{n}={v}")));
    exec_ok(tb, ExecRequest::new(argv).env("DEBIAN_FRONTEND", "noninteractive").timeout(APT_TIMEOUT))?;
    Ok(())
}

/// Installed binaries of a source under test that are not at its upload's version, with
/// the version of theirs that is (from the package's archive): a tool and its library from
/// one source must be one upload (plans.md section 7).
fn off_upload(
    tb: &mut dyn Testbed,
    packages: &[&Package],
    pins: &BTreeMap<String, String>,
) -> Fallible<Vec<(String, String)>> {
    let installed = installed_by_source(tb)?;
    let mut off = Vec::new();
    for p in packages {
        let (Some(src), Some(sv), Some(archive)) = (&p.source_package, &p.source_version, &p.archive) else {
            continue;
        };
        for (name, (isrc, isv, version)) in &installed {
            if isrc != src || isv == sv || pins.get(name).is_some_and(|v| v == version) {
                continue;
            }
            if off.iter().any(|(n, _)| n == name) {
                continue;
            }
            let r = archive.sibling(name, src, sv).map_err(|e| e.to_string())?.ok_or_else(|| {
                format!(
                    "{name} {version} (source {src} {isv}) is installed, and {} has no {name} from {src} {sv} \
                     to pin it to the upload under test",
                    archive.suite.name
                )
            })?;
            off.push((name.clone(), r.version));
        }
    }
    Ok(off)
}

/// Every installed package: name -> (source package, source version, version).
fn installed_by_source(tb: &mut dyn Testbed) -> Fallible<BTreeMap<String, (String, String, String)>> {
    let out = exec_ok(
        tb,
        ExecRequest::new([
            "dpkg-query",
            "-W",
            "-f=${db:Status-Abbrev}\t${Package}\t${source:Package}\t${source:Version}\t${Version}\n",
        ]),
    )?;
    let mut all = BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [status, name, src, sv, v] = f[..] else { continue };
        // `ii`, `hi`: unpacked and configured; anything else is not installed.
        if status.as_bytes().get(1) == Some(&b'i') {
            all.insert(name.to_string(), (src.to_string(), sv.to_string(), v.to_string()));
        }
    }
    Ok(all)
}

/// A verifier who tests another version than the one in -proposed has verified nothing:
/// dpkg inside the testbed must report exactly the packages under test, and their files
/// must be the ones the .debs carry. Records each one's dpkg status and `apt-cache policy`
/// (the SRU verification procedure asks for that output), and for archive packages the other
/// installed binaries of their source, pinned to the same upload.
pub(crate) fn confirm_installed(
    tb: &mut dyn Testbed,
    packages: &[Package],
) -> Fallible<Vec<InstalledPackage>> {
    let mut installed = Vec::new();
    for p in packages {
        let out = exec_ok(
            tb,
            ExecRequest::new(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Version}", &p.name]),
        )
        .map_err(|e| format!("package {} is not installed in the testbed: {e}", p.name))?;
        let (status, version) = out.split_once('\t').unwrap_or(("", ""));
        if status.trim() != "ii" {
            return Err(format!("package {} is in dpkg state `{}`, not installed", p.name, status.trim()));
        }
        if let Some(want) = &p.version
            && want != version
        {
            return Err(format!(
                "package {} is installed at {version}, but the version under test is {want}",
                p.name
            ));
        }
        if p.deb.is_some() {
            let changed = exec_ok(tb, ExecRequest::new(["dpkg", "--verify", &p.name]))?;
            if !changed.trim().is_empty() {
                return Err(format!(
                    "installed files of {} differ from the package: {}",
                    p.name,
                    changed.trim()
                ));
            }
        }
        if let (Some(_), Some(deb), Some(want)) = (&p.archive, &p.deb, &p.sha256) {
            // The file apt installed from its cache (it fetches one only when the hash it
            // finds there is not the index's): the one srukit downloaded and recorded.
            let inside = Path::new("/var/cache/apt/archives").join(deb.file_name().unwrap_or_default());
            let inside = inside.display().to_string();
            let sum = exec_ok(
                tb,
                ExecRequest::shell(&format!(
                    "! test -e {0} || sha256sum {0}",
                    crate::process::shell_quote(&inside)
                )),
            )?;
            if let Some(got) = sum.split_whitespace().next().filter(|got| got != want) {
                return Err(format!("{inside} in the testbed has sha256 {got}, not the archive's {want}"));
            }
        }
        let policy = exec_ok(tb, ExecRequest::new(["apt-cache", "policy", &p.name]))?;
        let mut i = InstalledPackage::new(p.name.clone(), version.to_string());
        i.status = format!("{} {version}", status.trim_end());
        i.policy = policy.trim_end().to_string();
        installed.push(i);
    }
    let by_source = installed_by_source(tb)?;
    for p in packages.iter().filter(|p| p.archive.is_some()) {
        let (Some(src), Some(sv)) = (&p.source_package, &p.source_version) else { continue };
        for (name, (isrc, isv, version)) in &by_source {
            if isrc != src || installed.iter().any(|i| &i.name == name) {
                continue;
            }
            if isv != sv {
                return Err(format!(
                    "{name} {version} is from {src} {isv}, not the upload under test ({src} {sv})"
                ));
            }
            installed.push(InstalledPackage::new(name.clone(), version.clone()));
        }
    }
    Ok(installed)
}
