//! Build-dependencies as a reusable, content-addressed overlay layer. Reads the image and the
//! tree's debian/control; writes under `$XDG_CACHE_HOME/srukit/build-deps/`:
//! `plans/<key>.json` (what apt would install: keyed by the image hash and debian/control's
//! bytes, which determine apt's resolution exactly, as the image holds apt's lists, status
//! and configuration) and `layers/<key>/` (the files those packages put on the image: keyed
//! by the image hash and the exact `name:arch=version` set, so a changed archive or image
//! yields a new key).
//!
//! The first build of a set makes its layer in a host-network testbed (the .debs from the
//! shared cache, `crate::debcache`), copies the overlay's upper dir out and renames it into
//! place whole; every later build stacks it read-only over the image in an isolated testbed,
//! and `dpkg-checkbuilddeps` confirms it there. A layer is never written after it is made.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::BuildError;
use super::binary::{self, exec, exec_unchecked};
use super::log::Log;
use crate::debcache;
use crate::fsx;
use crate::process::{Cmd, shell_quote};
use crate::testbed::{ExecRequest, Image, Testbed};

/// Bumped when how a plan is resolved or a layer made changes: old keys are then unused.
const RECIPE: &str = "srukit build-deps v1: apt-get --no-install-recommends, dpkg --force-unsafe-io";

/// Where debian/control goes for dpkg-checkbuilddeps and apt (a tmpfs: never in a layer).
pub(super) const CHECK_DIR: &str = "/tmp/srukit-checkbuilddeps";

/// What apt installs and removes for a tree's build-dependencies on an image.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    /// `dpkg-checkbuilddeps`' unmet relations, as it names them.
    pub unmet: Vec<String>,
    /// `name:arch=version`, sorted.
    pub install: Vec<String>,
    /// Names removed (a Build-Conflicts), sorted.
    pub remove: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.remove.is_empty()
    }

    /// The layer's key: the image and exactly what goes on it.
    pub fn layer_key(&self, image_hash: &str) -> String {
        let mut text = format!("{RECIPE}\nimage {image_hash}\n");
        for i in &self.install {
            text.push_str(&format!("install {i}\n"));
        }
        for r in &self.remove {
            text.push_str(&format!("remove {r}\n"));
        }
        crate::digest::hex(&sha256(text.as_bytes()))[..24].to_string()
    }

    /// apt-get's arguments that install exactly this plan.
    fn apt_args(&self) -> String {
        let mut args = String::from("install -y -q --no-install-recommends --allow-downgrades");
        for i in &self.install {
            args.push(' ');
            args.push_str(&shell_quote(i));
        }
        for r in &self.remove {
            args.push(' ');
            args.push_str(&shell_quote(&format!("{r}-")));
        }
        args
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn root() -> PathBuf {
    crate::testbed::cache_root().join("build-deps")
}

/// `apt-get -s` lines: `Inst NAME [OLD] (VERSION RELEASE... [ARCH])`, `Remv NAME [VERSION]`.
pub fn parse_simulation(text: &str) -> (Vec<String>, Vec<String>) {
    let mut install = Vec::new();
    let mut remove = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Inst ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            let Some((_, paren)) = rest.split_once('(') else { continue };
            let inner = paren.split_once(')').map_or(paren, |(a, _)| a);
            let version = inner.split_whitespace().next().unwrap_or_default();
            let arch = inner.split_whitespace().last().unwrap_or_default().trim_matches(['[', ']']);
            install.push(format!("{name}:{arch}={version}"));
        } else if let Some(rest) = line.strip_prefix("Remv ") {
            remove.push(rest.split_whitespace().next().unwrap_or_default().to_string());
        }
    }
    install.sort();
    remove.sort();
    (install, remove)
}

/// The tree's plan: from the plan cache, else resolved in an isolated testbed on the image
/// (`dpkg-checkbuilddeps`, then `apt-get build-dep -s` on the image's own lists) and cached.
/// A virt-server testbed has no image on the host to key by: resolved every time.
pub fn plan(image: &Image, tree: &Path, log: &mut Log) -> Result<Plan, BuildError> {
    let control = fsx::read(&tree.join("debian/control"))?;
    let mut key_text = format!("{RECIPE}\nimage {}\n", image.hash).into_bytes();
    key_text.extend_from_slice(&control);
    let key = crate::digest::hex(&sha256(&key_text))[..24].to_string();
    let path = root().join("plans").join(format!("{key}.json"));
    let cacheable = image.virt.is_none();
    // An unreadable plan (a srukit that wrote another shape) is resolved again.
    if cacheable
        && let Some(bytes) = fsx::read_optional(&path)?
        && let Ok(plan) = serde_json::from_slice::<Plan>(&bytes)
    {
        log.append(format!("srukit: build-deps plan {} (cached)\n", path.display()).as_bytes())?;
        return Ok(plan);
    }
    let mut tb = binary::open(image, false, &[], log)?;
    let plan = match resolve(tb.as_mut(), tree, log) {
        Ok(p) => p,
        Err(e) => return Err(binary::close_after(tb, log, e)),
    };
    binary::close(tb, log)?;
    if cacheable {
        fsx::create_dir_all(&root().join("plans"))?;
        let json = serde_json::to_string_pretty(&plan).expect("a plan serializes");
        fsx::write_atomic(&path, format!("{json}\n"))?;
        log.append(format!("srukit: build-deps plan {} (resolved)\n", path.display()).as_bytes())?;
    }
    Ok(plan)
}

fn resolve(tb: &mut dyn Testbed, tree: &Path, log: &mut Log) -> Result<Plan, BuildError> {
    let unmet = binary::unmet_build_deps(tb, tree, log)?;
    if unmet.is_empty() {
        return Ok(Plan::default());
    }
    // The image's own lists, offline: what the key (the image's hash) stands for.
    let sim = format!(
        "ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || {{ echo 'the image has no apt lists' >&2; exit 100; }}; \
         apt-get build-dep -s -q --no-install-recommends {CHECK_DIR}"
    );
    let out = exec(tb, log, "apt-get build-dep -s", &ExecRequest::shell(&sim))?;
    let (install, remove) = parse_simulation(&out.stdout_str());
    Ok(Plan { unmet, install, remove })
}

/// A made layer: its key and its tree (the overlay lower dir).
pub struct Layer {
    pub key: String,
    pub tree: PathBuf,
}

/// The plan's layer for the image: reused when it exists, else made (one maker per key at a
/// time: the others wait on its lock, then reuse it).
pub fn ensure(image: &Image, plan: &Plan, log: &mut Log) -> Result<Layer, BuildError> {
    let key = plan.layer_key(&image.hash);
    let layers = root().join("layers");
    let dir = layers.join(&key);
    let layer = Layer { key: key.clone(), tree: dir.join("tree") };
    if dir.join("layer.json").is_file() {
        log.append(format!("srukit: build-deps layer {key} reused ({})\n", dir.display()).as_bytes())?;
        return Ok(layer);
    }
    fsx::create_dir_all(&layers)?;
    let _lock = lock(&layers.join(format!("{key}.lock")))?;
    if dir.join("layer.json").is_file() {
        log.append(format!("srukit: build-deps layer {key} reused ({})\n", dir.display()).as_bytes())?;
        return Ok(layer);
    }
    log.append(format!("srukit: build-deps layer {key}: making it ({})\n", dir.display()).as_bytes())?;
    let tmp = layers.join(format!(".tmp-{}-{key}", std::process::id()));
    fsx::remove_dir_all(&tmp)?;
    fsx::create_dir_all(&tmp)?;
    let mut tb = binary::open_with(image, true, true, &[], &[], log)?;
    if let Err(e) = make(tb.as_mut(), plan, &tmp, log) {
        let _ = fsx::remove_dir_all(&tmp);
        return Err(binary::close_after(tb, log, e));
    }
    binary::close(tb, log)?;
    let meta = serde_json::json!({ "key": key, "image": image.hash, "image_name": image.name, "plan": plan, "recipe": RECIPE });
    fsx::write(&tmp.join("layer.json"), format!("{meta:#}\n"))?;
    fsx::rename(&tmp, &dir)?;
    log.append(format!("srukit: build-deps layer {key} made\n").as_bytes())?;
    Ok(layer)
}

/// For `srukit testbed gc`: removes layers made on an image that is no longer cached (no
/// build can stack them again: a rebuilt image has a new hash, so a new key) with their
/// locks, and layers being made by a srukit that is gone. `images`: the hashes cached now.
/// A layer in use is on an image in use, which gc keeps. Returns the paths removed.
pub fn collect_garbage(images: &[String]) -> Result<Vec<PathBuf>, BuildError> {
    let layers = root().join("layers");
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(&layers) else { return Ok(removed) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let stale = if let Some(pid) = crate::process::tmp_owner(&name) {
            !crate::process::pid_alive(pid)
        } else if name.ends_with(".lock") {
            false
        } else {
            // A layer without a readable layer.json names no image: no build can reuse it.
            let image = fsx::read_optional(&path.join("layer.json"))?
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|m| m.get("image").and_then(|i| i.as_str()).map(str::to_string));
            image.is_none_or(|h| !images.contains(&h))
        };
        if stale {
            fsx::remove_dir_all(&path)?;
            fsx::remove_file_if_exists(&layers.join(format!("{name}.lock")))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

fn lock(path: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, BuildError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| fsx::FsError { op: "open", path: path.to_path_buf(), source })?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| {
        BuildError::from(fsx::FsError { op: "lock", path: path.to_path_buf(), source: e.into() })
    })
}

/// Installs the plan in `tb` (the .debs from the shared cache, the new ones stored there),
/// checks dpkg has exactly the plan's versions, and copies the overlay's upper dir to
/// `tmp/tree`, less what the testbed itself writes at start.
fn make(tb: &mut dyn Testbed, plan: &Plan, tmp: &Path, log: &mut Log) -> Result<(), BuildError> {
    // A throwaway layer needs neither man-db's index (its trigger takes seconds after every
    // package with man pages) nor dpkg's fsyncs.
    exec(tb, log, "disable man-db's trigger", &ExecRequest::shell("rm -f /var/lib/man-db/auto-update"))?;
    let args = plan.apt_args();
    let seeded = debcache::seed(tb, &args).map_err(|e| cache_failure(log, e))?;
    log.append(format!("{}\n", seeded.summary()).as_bytes())?;
    if !seeded.missing.is_empty() {
        let fetch = ExecRequest::shell(&format!("apt-get --download-only {args} 2>&1"))
            .env("DEBIAN_FRONTEND", "noninteractive");
        exec(tb, log, "apt-get --download-only", &fetch)?;
        let stored = debcache::harvest(tb, &seeded.missing).map_err(|e| cache_failure(log, e))?;
        log.append(format!("srukit: deb cache: stored {stored} downloaded .debs\n").as_bytes())?;
    }
    let install = ExecRequest::shell(&format!(
        "apt-get -o Dpkg::Options::=--force-unsafe-io {args} 2>&1 && rm -f {}/*.deb /var/cache/apt/*.bin",
        debcache::APT_ARCHIVES
    ))
    .env("DEBIAN_FRONTEND", "noninteractive");
    exec(tb, log, "apt-get install (build-deps layer)", &install)?;
    check_installed(tb, plan, log)?;
    let upper = tb.upper_dir().ok_or_else(|| {
        log.failure("copy the layer out", "upper_dir", "the testbed has no upper dir on disk")
    })?;
    let tree = tmp.join("tree");
    // cp -a keeps overlayfs' whiteouts (0:0 character devices) and opaque-directory xattrs,
    // which the layer needs to hide what dpkg removed from the image.
    log.run("copy the layer out", &Cmd::new("cp").arg("-a").arg(&upper).arg(&tree))?;
    // Written by the testbed at start (plan.rs), not by the packages: not the layer's.
    for p in ["etc/hostname", "etc/resolv.conf", "srv"] {
        let path = tree.join(p);
        if path.is_dir() {
            fsx::remove_dir_all(&path)?;
        } else {
            fsx::remove_file_if_exists(&path)?;
        }
    }
    Ok(())
}

/// dpkg in the layer's testbed has every package of the plan at the plan's version, and
/// none it removes: else the layer is not what its key says, and is not kept.
fn check_installed(tb: &mut dyn Testbed, plan: &Plan, log: &mut Log) -> Result<(), BuildError> {
    let req = ExecRequest::new([
        "dpkg-query",
        "-W",
        "-f=${db:Status-Abbrev}\t${Package}:${Architecture}=${Version}\n",
    ]);
    let out = exec_unchecked(tb, log, &req)?;
    let text = out.stdout_str();
    let installed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(s, _)| s.as_bytes().get(1) == Some(&b'i'))
        .map(|(_, p)| p)
        .collect();
    let missing: Vec<&String> = plan.install.iter().filter(|i| !installed.contains(&i.as_str())).collect();
    let kept: Vec<&String> = plan
        .remove
        .iter()
        .filter(|r| installed.iter().any(|p| p.split(':').next() == Some(r.as_str())))
        .collect();
    if missing.is_empty() && kept.is_empty() {
        return Ok(());
    }
    let detail = format!("not installed as planned: {missing:?}; not removed: {kept:?}");
    log.append(format!("srukit: {detail}\n").as_bytes())?;
    Err(log.failure("check the build-deps layer", "dpkg-query -W", &detail))
}

fn cache_failure(log: &Log, e: debcache::CacheError) -> BuildError {
    match e {
        debcache::CacheError::Fs(e) => BuildError::Fs(e),
        debcache::CacheError::Testbed(e) => BuildError::Testbed(e),
        debcache::CacheError::Apt { cmd, status, .. } => {
            log.failure("apt-get --print-uris", &cmd, &format!("exited with status {status}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulation_lines_give_the_exact_set() {
        let text = "NOTE: This is only a simulation!\n\
            Inst libtext-unidecode-perl (1.30-3 Debian:12.12/stable [all])\n\
            Inst texinfo (6.8-6+b1 Debian:12.12/stable, Debian-Security:12/stable-security [amd64])\n\
            Inst libfoo1 [1.0-1] (1.0-2 Debian:12.12/stable [amd64]) []\n\
            Remv bar [2.0-1]\n\
            Conf texinfo (6.8-6+b1 Debian:12.12/stable [amd64])\n";
        let (install, remove) = parse_simulation(text);
        assert_eq!(
            install,
            ["libfoo1:amd64=1.0-2", "libtext-unidecode-perl:all=1.30-3", "texinfo:amd64=6.8-6+b1"]
        );
        assert_eq!(remove, ["bar"]);
    }

    #[test]
    fn the_layer_key_changes_with_the_image_or_any_version() {
        let plan = Plan { unmet: vec![], install: vec!["texinfo:amd64=6.8-6+b1".into()], remove: vec![] };
        let mut newer = plan.clone();
        newer.install[0] = "texinfo:amd64=6.8-6+b2".into();
        assert_eq!(plan.layer_key("aaa"), plan.layer_key("aaa"));
        assert_ne!(plan.layer_key("aaa"), plan.layer_key("bbb"));
        assert_ne!(plan.layer_key("aaa"), newer.layer_key("aaa"));
    }
}
