//! Shared by the patch engine's end-to-end tests: real Debian 12 source packages, downloaded
//! once (`apt-get source --download-only`) and extracted once (`dpkg-source -x` with and
//! without `--skip-patches`) under `${XDG_CACHE_HOME:-$HOME/.cache}/srukit/`, and tree
//! snapshots (bytes, executable bits, every entry) to compare trees with.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use srukit::process::Cmd;

pub const PACKAGES: &[&str] =
    &["tgt", "sed", "coreutils", "tmux", "bash", "nginx", "lvm2", "tar", "procps", "hello"];

pub fn cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache"));
    base.join("srukit")
}

/// The package's .dsc, downloaded on first use.
/// The .dsc a download dir holds, if any.
fn dsc_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "dsc"))
}

/// A bare name comes from Debian 12's point release (`PKG/bookworm`), so an archive update or
/// another machine's deb-src entries never change the trees these tests compare.
pub fn dsc(pkg: &str) -> PathBuf {
    let spec = if pkg.contains(['=', '/']) { pkg.to_string() } else { format!("{pkg}/bookworm") };
    let pkg = spec.as_str();
    let dir = cache().join("sources").join(pkg.replace('/', "@"));
    let find = || dsc_in(&dir);
    if let Some(d) = find() {
        return d;
    }
    std::fs::create_dir_all(&dir).unwrap();
    Cmd::new("apt-get").args(["source", "--download-only", "-qq", pkg]).cwd(&dir).run().unwrap();
    find().unwrap_or_else(|| panic!("apt-get source {pkg} gave no .dsc"))
}

/// (unpatched tree, reference tree), extracted once per package version.
pub fn extracted(pkg: &str) -> (PathBuf, PathBuf) {
    extracted_dsc(&dsc(pkg))
}

/// The apt options of a private apt: its own source list (deb-src for bookworm and
/// bookworm-security, where Debian 12's security updates are), lists and cache under the
/// srukit cache, so the machine's apt configuration and `apt-get source PKG` stay as they are.
fn pinned_apt() -> Vec<String> {
    let dir = cache().join("apt-bookworm-src");
    let list = dir.join("sources.list");
    for d in ["lists/partial", "cache/archives/partial", "sources.list.d"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    let key = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let text = format!(
        "deb-src [signed-by={key}] http://deb.debian.org/debian bookworm main\n\
         deb-src [signed-by={key}] http://deb.debian.org/debian bookworm-updates main\n\
         deb-src [signed-by={key}] http://deb.debian.org/debian-security bookworm-security main\n"
    );
    if std::fs::read_to_string(&list).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&list, text).unwrap();
    }
    let opt = |k: &str, v: &Path| format!("-oDir::{k}={}", v.display());
    vec![
        opt("Etc::SourceList", &list),
        opt("Etc::SourceParts", &dir.join("sources.list.d")),
        opt("State::Lists", &dir.join("lists")),
        opt("Cache", &dir.join("cache")),
    ]
}

/// The .dsc of `pkg` at exactly `version` (from bookworm or bookworm-security), downloaded
/// once into its own folder; the private apt's lists are fetched when they lack the version.
pub fn dsc_pinned(pkg: &str, version: &str) -> PathBuf {
    static APT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = cache().join("sources-pinned").join(format!("{pkg}_{version}"));
    let find = || dsc_in(&dir);
    if let Some(d) = find() {
        return d;
    }
    let _one_apt_at_a_time = APT.lock().unwrap_or_else(|e| e.into_inner());
    let opts = pinned_apt();
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let get = || {
        Cmd::new("apt-get")
            .args(&opts)
            .args(["source", "--download-only", "-qq", &format!("{pkg}={version}")])
            .cwd(&tmp)
            .output_unchecked()
            .unwrap()
            .status
            .success()
    };
    if !get() {
        Cmd::new("apt-get").args(&opts).args(["update", "-qq"]).run().unwrap();
        assert!(get(), "apt-get source {pkg}={version}: not in bookworm nor bookworm-security (any more?)");
    }
    std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
    std::fs::rename(&tmp, &dir).unwrap();
    find().unwrap_or_else(|| panic!("apt-get source {pkg}={version} gave no .dsc"))
}

/// (unpatched tree, reference tree) of a .dsc, extracted once.
pub fn extracted_dsc(dsc: &Path) -> (PathBuf, PathBuf) {
    let stem = dsc.file_stem().unwrap().to_string_lossy().into_owned();
    let base = cache().join("extracted").join(stem);
    let (un, re) = (base.join("unpatched"), base.join("reference"));
    for (dir, skip) in [(&un, true), (&re, false)] {
        if dir.is_dir() {
            continue;
        }
        // Extract beside, then rename: parallel tests never see half a tree.
        let tmp = base.join(format!("tmp-{}-{:?}", std::process::id(), std::thread::current().id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&base).unwrap();
        let mut c = Cmd::new("dpkg-source").arg("-q").arg("-x");
        if skip {
            c = c.arg("--skip-patches");
        }
        c.arg(dsc).arg(&tmp).env("DEB_BUILD_OPTIONS", "").run().unwrap();
        if std::fs::rename(&tmp, dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    (un, re)
}

/// Every entry below `root` (the top-level `.pc` optional): kind, executable bits, size,
/// and contents (for every file, or only for the `focus` set when one is given).
pub type Snapshot = BTreeMap<PathBuf, (char, bool, u64, Vec<u8>)>;

pub fn snapshot(root: &Path, with_pc: bool) -> Snapshot {
    snapshot_focused(root, with_pc, None)
}

/// The paths whose entries differ between two snapshots: what a patch series touches.
pub fn touched(a: &Snapshot, b: &Snapshot) -> std::collections::BTreeSet<PathBuf> {
    let mut out: std::collections::BTreeSet<PathBuf> =
        a.iter().filter(|(k, v)| b.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    out.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    out
}

/// Reads contents only below `.pc` and for `focus` (when given); other files by size: cheap
/// enough to run many times on coreutils-sized trees.
pub fn snapshot_focused(
    root: &Path,
    with_pc: bool,
    focus: Option<&std::collections::BTreeSet<PathBuf>>,
) -> Snapshot {
    let mut out = BTreeMap::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| with_pc || e.depth() != 1 || e.file_name() != ".pc");
    for e in walk {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let exec = md.permissions().mode() & 0o111 != 0;
        let v = if md.file_type().is_symlink() {
            ('l', false, 0, std::fs::read_link(e.path()).unwrap().into_os_string().into_encoded_bytes())
        } else if md.is_dir() {
            ('d', false, 0, Vec::new())
        } else if focus.is_none_or(|f| f.contains(&rel) || rel.starts_with(".pc")) {
            ('f', exec, md.len(), std::fs::read(e.path()).unwrap())
        } else {
            ('f', exec, md.len(), Vec::new())
        };
        out.insert(rel, v);
    }
    out
}

/// The first few differences between two snapshots, for a readable failure.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("only in first: {}", k.display())),
            Some(w) if w != v => {
                out.push(format!("differs: {} ({}{} vs {}{})", k.display(), v.0, v.1, w.0, w.1))
            }
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("only in second: {}", k.display()));
        }
    }
    out.truncate(10);
    out
}

/// A fresh copy of a cached tree in a temporary directory, named like dpkg-source names it.
/// In /dev/shm when there is one: these trees are written and read many times.
pub fn copy_of(src: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    let dest = tmp.path().join(name);
    Cmd::new("cp").arg("-a").arg(src).arg(&dest).run().unwrap();
    (tmp, dest)
}

pub fn srukit(args: &[&str], tree: &Path) -> std::process::Output {
    Cmd::new(env!("CARGO_BIN_EXE_srukit")).args(args).arg("--tree").arg(tree).output_unchecked().unwrap()
}

pub fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
