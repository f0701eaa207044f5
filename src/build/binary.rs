//! Binary packages, built in a fresh testbed through the `Testbed` trait only: the source
//! package goes in, Build-Depends are checked (and, if the image lacks some, installed with
//! apt in a host-network testbed), `dpkg-buildpackage -b -us -uc -rfakeroot` runs as an
//! unprivileged user, and the .deb/.buildinfo/.changes come out. The host is never touched.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layer;
use super::log::Log;
use super::manifest::TestbedInfo;
use super::source::{self, SourcePackage};
use super::{BuildError, Request};
use crate::process::shell_quote;
use crate::reporter::Reporter;
use crate::testbed::{self, Bind, ExecOutput, ExecRequest, Image, OpenOptions, Testbed};

/// Where the build happens inside the testbed; the build user's home.
const BUILD_DIR: &str = "/build";
/// The unprivileged build user, created on the fly (uid/gid 1000 are free in a
/// mmdebstrap image, and editing /etc/passwd needs no `passwd` package, which the apt
/// variant does not carry).
const BUILD_USER: &str = "srukit-build";
const BUILD_UID: u32 = 1000;
/// Where `--cache DIR` appears in the build testbed, and the variable that names it for the
/// package's rules (as ccache's CCACHE_DIR would be set by a builder).
const CACHE_INSIDE: &str = "/var/cache/srukit-build";
const CACHE_VAR: &str = "SRUKIT_BUILD_CACHE";
/// An upper bound for one package build, so a hung build does not hang srukit.
const BUILD_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

pub struct BinaryResult {
    /// Files copied out, in the staging directory.
    pub files: Vec<PathBuf>,
    pub testbed: TestbedInfo,
    /// From the binary .changes `Architecture:` field (`amd64`, `all`).
    pub architectures: Vec<String>,
}

pub fn build(
    req: &Request,
    src: &SourcePackage,
    dest: &Path,
    log: &mut Log,
    rep: &dyn Reporter,
) -> Result<BinaryResult, BuildError> {
    let image = testbed::ensure_image(&req.testbed, rep).map_err(BuildError::testbed)?;
    log.append(format!("srukit: testbed image {} ({})\n", image.name, image.hash).as_bytes())?;
    let srcfiles = source::dsc_files(&src.work, &src.dsc)?;
    let binds = match &req.cache {
        Some(dir) => {
            // The build user writes it: owned by that uid on the host too (no user namespace).
            crate::fsx::create_dir_all(dir)?;
            let dir = &crate::fsx::canonicalize(dir)?;
            crate::fsx::chown(dir, BUILD_UID, BUILD_UID)?;
            log.append(
                format!("srukit: build cache {} at ${CACHE_VAR}={CACHE_INSIDE}\n", dir.display()).as_bytes(),
            )?;
            vec![Bind { host: dir.clone(), inside: CACHE_INSIDE.into() }]
        }
        None => Vec::new(),
    };

    // What apt would install (cached per image and debian/control), then, if anything, the
    // layer with it installed (made once per image and package set). The build itself runs
    // in an isolated testbed: no network, the layer read-only under its own overlay.
    let plan = layer::plan(&image, &src.tree, log)?;
    if !plan.is_empty() {
        rep.note(&format!(
            "build-deps missing from image {}: {}; installing with apt",
            image.name,
            plan.unmet.join(" ")
        ));
    }
    // A virt server stacks no layers: there apt installs into the build's own testbed.
    let direct = !plan.is_empty() && image.virt.is_some();
    let layer = if plan.is_empty() || direct { None } else { Some(layer::ensure(&image, &plan, log)?) };
    let layers: Vec<PathBuf> = layer.iter().map(|l| l.tree.clone()).collect();
    let mut tb = open_with(&image, direct, false, &layers, &binds, log)?;
    let steps = (|| {
        if direct {
            prepare(tb.as_mut(), src, &srcfiles, log)?;
            install_build_deps(tb.as_mut(), log)?;
        } else {
            // The image (and layer) must now have every Build-Depends: the plan's check.
            let unmet = unmet_build_deps(tb.as_mut(), &src.tree, log)?;
            if !unmet.is_empty() {
                let what =
                    layer.as_ref().map_or("the image".to_string(), |l| format!("build-deps layer {}", l.key));
                let detail = format!("{what} lacks {}", unmet.join(" "));
                return Err(log.failure("dpkg-checkbuilddeps", "dpkg-checkbuilddeps", &detail));
            }
            prepare(tb.as_mut(), src, &srcfiles, log)?;
        }
        build_and_copy_out(tb.as_mut(), !binds.is_empty(), dest, log)
    })();
    let files = match steps {
        Ok(f) => f,
        Err(e) => return Err(close_after(tb, log, e)),
    };
    close(tb, log)?;

    let mut architectures = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "changes")) {
        if let Some(a) = source::field(f, "Architecture")? {
            architectures.extend(a.split_whitespace().filter(|a| *a != "source").map(str::to_string));
        }
    }
    Ok(BinaryResult {
        files,
        testbed: TestbedInfo {
            name: image.name.clone(),
            image_hash: image.hash.clone(),
            build_deps: if plan.is_empty() { "image" } else { "apt" }.into(),
            installed: plan.unmet.clone(),
            layer: layer.map(|l| l.key),
        },
        architectures,
    })
}

pub(super) fn open(
    image: &Image,
    host_network: bool,
    layers: &[PathBuf],
    log: &mut Log,
) -> Result<Box<dyn Testbed>, BuildError> {
    open_with(image, host_network, false, layers, &[], log)
}

/// A fresh testbed; `upper_on_disk` when its writes are to be copied out (a layer); `binds`
/// only for the build itself (a build cache), never for a layer's install.
pub(super) fn open_with(
    image: &Image,
    host_network: bool,
    upper_on_disk: bool,
    layers: &[PathBuf],
    binds: &[Bind],
    log: &mut Log,
) -> Result<Box<dyn Testbed>, BuildError> {
    let opts = OpenOptions {
        host_network,
        upper_on_disk,
        layers: layers.to_vec(),
        binds: binds.to_vec(),
        ..Default::default()
    };
    let tb = testbed::open(image, &opts).map_err(BuildError::testbed)?;
    let net = if host_network { "host network" } else { "isolated" };
    let over = if layers.is_empty() {
        String::new()
    } else {
        format!(", layers {}", layers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(":"))
    };
    log.append(format!("srukit: opened testbed {} ({net}{over})\n", tb.id()).as_bytes())?;
    Ok(tb)
}

pub(super) fn close(tb: Box<dyn Testbed>, log: &mut Log) -> Result<(), BuildError> {
    let id = tb.id().to_string();
    tb.close().map_err(BuildError::testbed)?;
    log.append(format!("srukit: closed testbed {id}\n").as_bytes())
}

/// Closes a testbed after an error; the first error is the one reported.
pub(super) fn close_after(tb: Box<dyn Testbed>, log: &mut Log, err: BuildError) -> BuildError {
    if let Err(e) = close(tb, log) {
        let _ = log
            .append(format!("srukit: closing the testbed after the failure also failed: {e}\n").as_bytes());
    }
    err
}

/// The build user, the source package copied in and unpacked as that user.
fn prepare(
    tb: &mut dyn Testbed,
    src: &SourcePackage,
    files: &[String],
    log: &mut Log,
) -> Result<(), BuildError> {
    let home = BUILD_DIR;
    let script = format!(
        "set -e; mkdir -p {home}; \
         grep -q '^{BUILD_USER}:' /etc/passwd || echo '{BUILD_USER}:x:{BUILD_UID}:{BUILD_UID}::{home}:/bin/sh' >> /etc/passwd; \
         grep -q '^{BUILD_USER}:' /etc/group || echo '{BUILD_USER}:x:{BUILD_UID}:' >> /etc/group; \
         chown {BUILD_UID}:{BUILD_UID} {home}"
    );
    exec(tb, log, "create the build user", &ExecRequest::shell(&script))?;
    for f in files {
        tb.copy_in(&src.work.join(f), &Path::new(home).join(f)).map_err(BuildError::testbed)?;
    }
    exec(
        tb,
        log,
        "unpack the source",
        &as_build_user(&format!("dpkg-source --no-check -x {} pkg", shell_quote(&files[0]))),
    )?;
    Ok(())
}

/// `dpkg-checkbuilddeps`: the unmet Build-Depends (and Build-Conflicts), empty when the
/// image has them all. It exits 1 and names them on stderr.
pub(super) fn unmet_build_deps(
    tb: &mut dyn Testbed,
    tree: &Path,
    log: &mut Log,
) -> Result<Vec<String>, BuildError> {
    let check = super::layer::CHECK_DIR;
    tb.copy_in(&tree.join("debian/control"), &Path::new(check).join("debian/control"))
        .map_err(BuildError::testbed)?;
    let req = ExecRequest::new(["dpkg-checkbuilddeps"]).cwd(check);
    let out = exec_unchecked(tb, log, &req)?;
    if out.success() {
        return Ok(Vec::new());
    }
    let stderr = out.stderr_str();
    let unmet: Vec<String> = stderr
        .lines()
        .filter_map(|l| {
            l.split_once("Unmet build dependencies: ").or_else(|| l.split_once("Build conflicts: "))
        })
        .flat_map(|(_, deps)| split_deps(deps))
        .collect();
    if unmet.is_empty() {
        let cmd = "dpkg-checkbuilddeps".to_string();
        return Err(log.failure("dpkg-checkbuilddeps", &cmd, &format!("exited with status {}", out.status)));
    }
    Ok(unmet)
}

/// `help2man texinfo (>= 6.0) | foo` -> ["help2man", "texinfo (>= 6.0) | foo"]: the
/// relations as dpkg-checkbuilddeps prints them, space-separated outside parentheses.
fn split_deps(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    let mut after_bar = false;
    for word in s.split_whitespace() {
        let opens = word.matches('(').count() + word.matches('[').count();
        let closes = word.matches(')').count() + word.matches(']').count();
        let continues =
            depth > 0 || after_bar || word == "|" || word.starts_with('(') || word.starts_with('[');
        if continues && !cur.is_empty() {
            cur.push(' ');
            cur.push_str(word);
        } else {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push_str(word);
        }
        after_bar = word == "|";
        depth = (depth + opens).saturating_sub(closes);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `apt-get build-dep` on the unpacked tree, in a host-network testbed (a virt server's,
/// which stacks no layer): the .debs come from the shared cache where it has them, and those
/// apt fetched go into it. apt's lists are in the image; `apt-get update` only when they are not.
fn install_build_deps(tb: &mut dyn Testbed, log: &mut Log) -> Result<(), BuildError> {
    // A throwaway testbed needs neither dpkg's fsyncs nor man-db's index (its trigger takes
    // seconds after every package with man pages): both only cost time here.
    let prepare = "set -e; rm -f /var/lib/man-db/auto-update; \
         ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || apt-get update -q";
    exec(tb, log, "apt lists", &ExecRequest::shell(&format!("{{ {prepare}; }} 2>&1")))?;
    let args = format!("build-dep -y -q --no-install-recommends {BUILD_DIR}/pkg");
    let seeded = crate::debcache::seed(tb, &args).map_err(|e| match e {
        crate::debcache::CacheError::Fs(e) => BuildError::Fs(e),
        crate::debcache::CacheError::Testbed(e) => BuildError::Testbed(e),
        crate::debcache::CacheError::Apt { cmd, status, .. } => {
            log.failure("apt-get --print-uris", &cmd, &format!("exited with status {status}"))
        }
    })?;
    log.append(format!("{}\n", seeded.summary()).as_bytes())?;
    let script =
        format!("apt-get --download-only {args} && apt-get -o Dpkg::Options::=--force-unsafe-io {args}");
    let req = ExecRequest::shell(&format!("{{ {script}; }} 2>&1")).env("DEBIAN_FRONTEND", "noninteractive");
    exec(tb, log, "apt-get build-dep", &req)?;
    if let Ok(stored) = crate::debcache::harvest(tb, &seeded.missing) {
        log.append(format!("srukit: deb cache: stored {stored} downloaded .debs\n").as_bytes())?;
    }
    Ok(())
}

/// dpkg-buildpackage as the build user, then the results copied out to `dest`.
fn build_and_copy_out(
    tb: &mut dyn Testbed,
    cache: bool,
    dest: &Path,
    log: &mut Log,
) -> Result<Vec<PathBuf>, BuildError> {
    let mut build = as_build_user(&format!(
        "id && cd {BUILD_DIR}/pkg && DEB_BUILD_OPTIONS=\"parallel=$(nproc) $DEB_BUILD_OPTIONS\" \
         dpkg-buildpackage -b -us -uc -rfakeroot"
    ))
    .timeout(BUILD_TIMEOUT);
    if cache {
        build = build.env(CACHE_VAR, CACHE_INSIDE);
    }
    exec(tb, log, "dpkg-buildpackage -b", &build)?;
    let list = exec(
        tb,
        log,
        "list the build results",
        &ExecRequest::new([
            "find",
            BUILD_DIR,
            "-maxdepth",
            "1",
            "-type",
            "f",
            "(",
            "-name",
            "*.deb",
            "-o",
            "-name",
            "*.udeb",
            "-o",
            "-name",
            "*.ddeb",
            "-o",
            "-name",
            "*.buildinfo",
            "-o",
            "-name",
            "*.changes",
            ")",
            "-printf",
            "%f\\n",
        ]),
    )?;
    let mut names: Vec<String> = list.stdout_str().lines().map(str::to_string).collect();
    names.sort();
    let mut files = Vec::new();
    crate::fsx::create_dir_all(dest)?;
    for name in names {
        let host = dest.join(&name);
        tb.copy_out(&Path::new(BUILD_DIR).join(&name), &host).map_err(BuildError::testbed)?;
        files.push(host);
    }
    Ok(files)
}

/// A shell command run as the build user, stderr merged into stdout so the log reads in
/// order. `setpriv` (util-linux, essential) needs no PAM, unlike su and runuser.
fn as_build_user(script: &str) -> ExecRequest {
    ExecRequest::new([
        "setpriv".to_string(),
        format!("--reuid={BUILD_UID}"),
        format!("--regid={BUILD_UID}"),
        "--clear-groups".into(),
        "sh".into(),
        "-c".into(),
        format!("{{ {script}; }} 2>&1"),
    ])
    .env("HOME", BUILD_DIR)
    .env("USER", BUILD_USER)
    .env("LOGNAME", BUILD_USER)
    .cwd(BUILD_DIR)
}

fn display(req: &ExecRequest) -> String {
    req.argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

pub(super) fn exec_unchecked(
    tb: &mut dyn Testbed,
    log: &mut Log,
    req: &ExecRequest,
) -> Result<ExecOutput, BuildError> {
    log.append(format!("$ [testbed] {}\n", display(req)).as_bytes())?;
    let out = tb.exec(req).map_err(BuildError::testbed)?;
    log.append(&out.stdout)?;
    log.append(&out.stderr)?;
    log.append(
        format!("srukit: status {} after {:.1}s\n", out.status, out.duration.as_secs_f64()).as_bytes(),
    )?;
    Ok(out)
}

/// Runs a command in the testbed; a non-zero exit is the step's failure, quoting the log.
pub(super) fn exec(
    tb: &mut dyn Testbed,
    log: &mut Log,
    step: &str,
    req: &ExecRequest,
) -> Result<ExecOutput, BuildError> {
    let out = exec_unchecked(tb, log, req)?;
    if out.success() {
        Ok(out)
    } else {
        let status = format!("exited with status {}", out.status);
        log.append(format!("srukit: {step} failed: {status}\n").as_bytes())?;
        Err(log.failure(step, &display(req), &status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dpkg_checkbuilddeps_relations() {
        assert_eq!(split_deps("help2man texinfo"), ["help2man", "texinfo"]);
        assert_eq!(
            split_deps("debhelper-compat (= 13) texinfo (>= 6.0) foo | bar baz"),
            ["debhelper-compat (= 13)", "texinfo (>= 6.0)", "foo | bar", "baz"]
        );
        assert_eq!(split_deps("libc6-dev [amd64] make"), ["libc6-dev [amd64]", "make"]);
    }
}
