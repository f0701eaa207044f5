//! Cached images: `ensure_image` builds a definition with mmdebstrap into
//! `$XDG_CACHE_HOME/srukit/images/<hash>/` (`image.tar`, the extracted `lower/`, `build.log`,
//! `meta.json`) through a temp dir renamed into place; `list`, `rm` and gc read that cache.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::definition::{self, Definition};
use super::{TestbedError, procfs, state};
use crate::fsx;
use crate::process::{self, Cmd};
use crate::reporter::Reporter;

/// Free space an image build needs in the cache (the tarball plus its extracted tree).
const NEED_MIB: u64 = 1024;

/// `${XDG_CACHE_HOME:-$HOME/.cache}/srukit`.
pub fn cache_root() -> PathBuf {
    let base =
        std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache"),
        );
    base.join("srukit")
}

fn images_dir() -> PathBuf {
    cache_root().join("images")
}

/// A built image, ready to open testbeds on.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub name: String,
    pub hash: String,
    pub dir: PathBuf,
    /// The extracted tree, the overlay's read-only lower layer.
    pub lower: PathBuf,
    /// mmdebstrap's tarball (what autopkgtest-virt-unshare takes).
    pub tarball: PathBuf,
    pub log: PathBuf,
    /// Set for a definition naming a virt server: then there is no image (the paths above
    /// are empty), and `testbed::open` spawns the server instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virt: Option<VirtSpec>,
}

/// The virt server a definition names, its argv resolved against the definition's folder.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VirtSpec {
    pub argv: Vec<String>,
    pub release: Option<String>,
}

impl Image {
    /// Does this "image" name a virt server (no tree on the host)?
    pub fn is_virt(&self) -> bool {
        self.virt.is_some()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    name: String,
    hash: String,
    created: String,
    mmdebstrap: String,
    arch: String,
    definition: Definition,
    source: PathBuf,
    build_seconds: f64,
}

impl Image {
    fn at(dir: PathBuf, meta: &Meta) -> Image {
        Image {
            name: meta.name.clone(),
            hash: meta.hash.clone(),
            lower: dir.join("lower"),
            tarball: dir.join("image.tar"),
            log: dir.join("build.log"),
            dir,
            virt: None,
        }
    }
}

/// The tool versions the key hashes, asked once per process.
fn tool_facts() -> Result<(String, String), TestbedError> {
    static FACTS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    if let Some(f) = FACTS.get() {
        return Ok(f.clone());
    }
    if process::which("mmdebstrap").is_none() {
        return Err(TestbedError::MissingTool {
            tool: "mmdebstrap".into(),
            hint: "install it with `apt-get install mmdebstrap` (scripts/setup.sh does)".into(),
        });
    }
    // `mmdebstrap --version` costs a second of perl start-up: remember it per binary
    // (path, size, mtime), so a warm `ensure_image` stays instant.
    let bin = process::which("mmdebstrap").expect("checked above");
    let stamp = std::fs::metadata(&bin)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            format!("{} {} {}", bin.display(), m.size(), m.mtime())
        })
        .unwrap_or_default();
    let memo = cache_root().join("tool-facts.json");
    let saved: Option<(String, String, String)> =
        std::fs::read(&memo).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let facts = match saved {
        Some((s, v, a)) if s == stamp => (v, a),
        _ => {
            let version = Cmd::new("mmdebstrap").arg("--version").read()?;
            let arch = Cmd::new("dpkg").arg("--print-architecture").read()?;
            let _ = fsx::create_dir_all(&cache_root());
            let _ =
                fsx::write_atomic(&memo, serde_json::to_vec(&(stamp, &version, &arch)).expect("serialises"));
            (version, arch)
        }
    };
    Ok(FACTS.get_or_init(|| facts).clone())
}

/// The cache key: the resolved definition, the contents of the files it copies in (`base`
/// is the definition's directory, which their paths are relative to), mmdebstrap's version
/// and the architecture.
pub fn key_of(def: &Definition, base: &Path) -> Result<String, TestbedError> {
    let (version, arch) = tool_facts()?;
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&def.resolved()).expect("definitions serialise"));
    for host in def.files.values() {
        // A missing file is reported by the build; here it only has to key differently.
        h.update(b"\0");
        h.update(std::fs::read(base.join(host)).unwrap_or_else(|_| b"\0missing".to_vec()));
    }
    h.update(b"\0");
    h.update(version.as_bytes());
    h.update(b"\0");
    h.update(arch.as_bytes());
    Ok(crate::digest::hex(&h.finalize()[..8]))
}

/// An image unused this long, and not what a known definition builds today, is garbage.
const UNUSED_FOR_GC: Duration = Duration::from_secs(24 * 3600);

/// Marks an image as used now (gc keeps images used within `UNUSED_FOR_GC`: other
/// checkouts on the same machine may build other versions of a definition).
fn touch_used(dir: &Path) {
    let _ = std::fs::write(dir.join("last-used"), b"");
}

fn unused_for(dir: &Path) -> Duration {
    let f = if dir.join("last-used").exists() { dir.join("last-used") } else { dir.join("meta.json") };
    std::fs::metadata(f).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).unwrap_or_default()
}

fn read_meta(dir: &Path) -> Option<Meta> {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).ok()?).ok()
}

/// The image for a definition (name in the testbeds dirs, or a path), built if not cached.
/// A definition naming a virt server builds nothing: its "image" only carries the server.
pub fn ensure_image(def_name_or_path: &str, rep: &dyn Reporter) -> Result<Image, TestbedError> {
    let loaded = match definition::load_any(def_name_or_path)? {
        definition::Any::Image(l) => l,
        definition::Any::Virt { name, path, def } => {
            let argv = def.argv_in(definition_dir(&path));
            let hash = crate::digest::hex(&Sha256::digest(argv.join("\0").as_bytes())[..8]);
            return Ok(Image {
                name,
                hash,
                dir: PathBuf::new(),
                lower: PathBuf::new(),
                tarball: PathBuf::new(),
                log: PathBuf::new(),
                virt: Some(VirtSpec { argv, release: def.release }),
            });
        }
    };
    let hash = key_of(&loaded.def, definition_dir(&loaded.path))?;
    let dir = images_dir().join(&hash);
    if let Some(meta) = read_meta(&dir) {
        touch_used(&dir);
        return Ok(Image::at(dir, &meta));
    }
    fsx::create_dir_all(&images_dir())?;
    // One build per key at a time; a second caller waits and then finds it built.
    let lock_path = images_dir().join(format!(".lock-{hash}"));
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| crate::fsx::FsError { op: "open", path: lock_path.clone(), source })?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| TestbedError::Sys { what: format!("lock {}", lock_path.display()), errno })?;
    if let Some(meta) = read_meta(&dir) {
        return Ok(Image::at(dir, &meta));
    }
    remove_stale_temps()?;
    build(&loaded, &hash, &dir, rep)
}

fn build(
    loaded: &definition::Loaded,
    hash: &str,
    dir: &Path,
    rep: &dyn Reporter,
) -> Result<Image, TestbedError> {
    let def = loaded.def.resolved();
    let mirror = def.mirror.clone().expect("resolved");
    check_space(&images_dir())?;
    check_mirror(&mirror)?;
    let me = std::process::id();
    let tmp = images_dir().join(format!(".tmp-{hash}-{me}-{}", procfs::start_time(me).unwrap_or(0)));
    fsx::remove_dir_all(&tmp)?;
    fsx::create_dir_all(&tmp.join("lower"))?;
    let logs = cache_root().join("logs");
    fsx::create_dir_all(&logs)?;
    let log = logs.join(format!("{}-{hash}.log", loaded.name));
    let started = std::time::Instant::now();
    let step = rep.step(&format!("building image {} ({hash})", loaded.name));
    let result = run_mmdebstrap(loaded, &def, &mirror, &tmp, &log).and_then(|()| {
        step.set_message("extracting");
        Cmd::new("tar")
            .args(["--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf"])
            .arg(tmp.join("image.tar"))
            .arg("-C")
            .arg(tmp.join("lower"))
            .run()
            .map(drop)
            .map_err(|e| classify(loaded, &log, format!("extracting the image failed: {e}")))
    });
    if let Err(e) = result {
        step.finish("failed");
        fsx::remove_dir_all(&tmp)?;
        return Err(e);
    }
    let (version, arch) = tool_facts()?;
    let meta = Meta {
        name: loaded.name.clone(),
        hash: hash.to_string(),
        created: chrono::Utc::now().to_rfc3339(),
        mmdebstrap: version,
        arch,
        definition: def,
        source: loaded.path.clone(),
        build_seconds: started.elapsed().as_secs_f64(),
    };
    fsx::copy(&log, &tmp.join("build.log"))?;
    fsx::write(&tmp.join("meta.json"), serde_json::to_string_pretty(&meta).expect("meta serialises"))?;
    fsx::rename(&tmp, dir)?;
    step.finish("built");
    Ok(Image::at(dir.to_path_buf(), &meta))
}

fn run_mmdebstrap(
    loaded: &definition::Loaded,
    def: &Definition,
    mirror: &str,
    tmp: &Path,
    log: &Path,
) -> Result<(), TestbedError> {
    let mut cmd = Cmd::new("mmdebstrap")
        .arg(format!("--variant={}", def.variant))
        // apt's lists stay, so `apt-get install` can resolve inside a testbed later.
        .arg("--skip=cleanup/apt/lists")
        .timeout(Duration::from_secs(3600))
        .output_to_file(log);
    if !def.packages.is_empty() {
        cmd = cmd.arg(format!("--include={}", def.packages.join(",")));
    }
    let base = definition_dir(&loaded.path);
    for (inside, host) in &def.files {
        let host = base.join(host);
        if !host.is_file() {
            return Err(TestbedError::Definition {
                path: loaded.path.clone(),
                line: None,
                msg: format!("files: {} does not exist", host.display()),
            });
        }
        let parent = Path::new(inside).parent().unwrap_or(Path::new("/"));
        cmd = cmd
            .arg(format!(
                "--customize-hook=mkdir -p \"$1\"{}",
                process::shell_quote(&parent.to_string_lossy())
            ))
            .arg(format!("--customize-hook=upload {} {}", host.display(), inside));
    }
    for s in &def.setup {
        cmd = cmd.arg(format!("--customize-hook=chroot \"$1\" sh -ec {}", process::shell_quote(s)));
    }
    cmd = cmd.arg(&def.suite).arg(tmp.join("image.tar")).arg(mirror).args(&def.sources);
    let out = cmd.output_unchecked().map_err(|e| classify(loaded, log, e.to_string()))?;
    if !out.status.success() {
        return Err(classify(loaded, log, format!("mmdebstrap {}", describe(&out.status))));
    }
    Ok(())
}

/// Where a definition's `files` paths are relative to.
fn definition_dir(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn describe(s: &std::process::ExitStatus) -> String {
    match s.code() {
        Some(c) => format!("exited with status {c}"),
        None => "was killed by a signal".into(),
    }
}

/// Names the cause from the log's tail: a full disk, an unreachable mirror, a package
/// that does not exist, or the plain exit status.
fn classify(loaded: &definition::Loaded, log: &Path, fallback: String) -> TestbedError {
    let text = std::fs::read(log).unwrap_or_default();
    let tail = process::tail(&text, 25);
    let all = String::from_utf8_lossy(&text);
    let cause = if all.contains("No space left on device") {
        "the disk is full (No space left on device)".to_string()
    } else if [
        "Could not resolve",
        "Failed to fetch",
        "Unable to connect",
        "Connection refused",
        "Release file",
    ]
    .iter()
    .any(|m| all.contains(m))
    {
        "the mirror could not be reached or has no such suite".to_string()
    } else if let Some(l) = all
        .lines()
        .find(|l| l.contains("Unable to locate package") || l.contains("has no installation candidate"))
    {
        format!("a package does not exist: {}", l.trim())
    } else {
        fallback
    };
    TestbedError::ImageBuild { name: loaded.name.clone(), cause, log: log.to_path_buf(), tail }
}

fn check_space(dir: &Path) -> Result<(), TestbedError> {
    let st = nix::sys::statvfs::statvfs(dir)
        .map_err(|errno| TestbedError::Sys { what: format!("statvfs {}", dir.display()), errno })?;
    let free_mib = st.blocks_available() * st.fragment_size() / (1024 * 1024);
    if free_mib < NEED_MIB {
        return Err(TestbedError::NoSpace { path: dir.to_path_buf(), free_mib, need_mib: NEED_MIB });
    }
    Ok(())
}

/// A TCP connect to an http(s) mirror, so "unreachable" is said before mmdebstrap starts.
/// Skipped behind a proxy (the proxy is what must be reachable then).
fn check_mirror(mirror: &str) -> Result<(), TestbedError> {
    use std::net::ToSocketAddrs;
    let (scheme, rest) = match mirror.split_once("://") {
        Some((s, r)) if s == "http" || s == "https" => (s, r),
        _ => return Ok(()),
    };
    if std::env::var_os("http_proxy").is_some() || std::env::var_os("https_proxy").is_some() {
        return Ok(());
    }
    let hostport = rest.split('/').next().unwrap_or_default();
    let default_port = if scheme == "https" { 443 } else { 80 };
    let target =
        if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:{default_port}") };
    let unreachable = |reason: String| TestbedError::MirrorUnreachable { mirror: mirror.to_string(), reason };
    let addrs: Vec<_> = target
        .to_socket_addrs()
        .map_err(|e| unreachable(format!("cannot resolve {hostport}: {e}")))?
        .collect();
    let mut last = None;
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(format!("{a}: {e}")),
        }
    }
    Err(unreachable(last.unwrap_or_else(|| format!("{hostport} has no address"))))
}

/// Temp dirs of builds whose srukit is gone (killed mid-build).
fn remove_stale_temps() -> Result<Vec<String>, TestbedError> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(images_dir()) else { return Ok(removed) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".tmp-") else { continue };
        let parts: Vec<&str> = rest.split('-').collect();
        let alive =
            match (parts.get(1).and_then(|p| p.parse().ok()), parts.get(2).and_then(|s| s.parse().ok())) {
                (Some(pid), Some(start)) => procfs::is_same(pid, start),
                _ => false,
            };
        if !alive {
            fsx::remove_dir_all(&e.path())?;
            removed.push(e.path().display().to_string());
        }
    }
    Ok(removed)
}

/// What `srukit testbed list` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub name: String,
    pub hash: String,
    pub size_bytes: u64,
    pub created: String,
    pub age_seconds: i64,
    pub in_use_by: Vec<String>,
    pub path: PathBuf,
}

pub fn list_images() -> Result<Vec<ImageInfo>, TestbedError> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(images_dir()) else { return Ok(out) };
    for e in rd.flatten() {
        let Some(meta) = read_meta(&e.path()) else { continue };
        let size = walkdir::WalkDir::new(e.path())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|f| f.file_type().is_file())
            .filter_map(|f| f.metadata().ok().map(|m| m.len()))
            .sum();
        let age = chrono::DateTime::parse_from_rfc3339(&meta.created)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0);
        out.push(ImageInfo {
            name: meta.name.clone(),
            hash: meta.hash.clone(),
            size_bytes: size,
            created: meta.created.clone(),
            age_seconds: age,
            in_use_by: state::users_of(&meta.hash),
            path: e.path(),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.created).cmp(&(&b.name, &b.created)));
    Ok(out)
}

/// Removes cached images by name (every hash of it) or by hash prefix; refuses one in use.
pub fn remove_image(name_or_hash: &str) -> Result<Vec<ImageInfo>, TestbedError> {
    let matching: Vec<ImageInfo> = list_images()?
        .into_iter()
        .filter(|i| i.name == name_or_hash || (name_or_hash.len() >= 4 && i.hash.starts_with(name_or_hash)))
        .collect();
    if matching.is_empty() {
        return Err(TestbedError::UnknownImage(name_or_hash.to_string()));
    }
    if let Some(i) = matching.iter().find(|i| !i.in_use_by.is_empty()) {
        return Err(TestbedError::ImageInUse { name: i.name.clone(), testbed: i.in_use_by.join(", ") });
    }
    for i in &matching {
        fsx::remove_dir_all(&i.path)?;
    }
    Ok(matching)
}

/// For gc: removes interrupted builds, and images that are not in use, not what any
/// definition in the testbeds dirs builds today (an old hash of a changed definition) and
/// not used for a day.
pub fn collect_garbage() -> Result<(Vec<String>, Vec<String>), TestbedError> {
    let temps = remove_stale_temps()?;
    let mut current = Vec::new();
    for d in definition::search_dirs() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml")
                && let Ok(l) = definition::load(&p.to_string_lossy())
                && let Ok(k) = key_of(&l.def, definition_dir(&l.path))
            {
                current.push(k);
            }
        }
    }
    let mut removed = Vec::new();
    for i in list_images()? {
        if i.in_use_by.is_empty() && !current.contains(&i.hash) && unused_for(&i.path) > UNUSED_FOR_GC {
            fsx::remove_dir_all(&i.path)?;
            removed.push(format!("{} {}", i.name, i.hash));
        }
    }
    Ok((removed, temps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_follows_the_definition() {
        let p = Path::new("t.toml");
        let a = Definition::parse("suite = \"bookworm\"\npackages = [\"tgt\"]\n", p).unwrap();
        let same = Definition::parse("# a comment\nsuite = \"bookworm\"\npackages = [\"tgt\"]\n", p).unwrap();
        let b = Definition::parse("suite = \"bookworm\"\npackages = [\"tgt\", \"procps\"]\n", p).unwrap();
        let c = Definition::parse(
            "suite = \"bookworm\"\npackages = [\"tgt\"]\nmirror = \"http://x/debian\"\n",
            p,
        )
        .unwrap();
        let key = |d: &Definition| key_of(d, Path::new(".")).unwrap();
        assert_eq!(key(&a), key(&same));
        assert_ne!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        let s = Definition::parse(
            "suite = \"bookworm\"\npackages = [\"tgt\"]\nsources = [\"deb http://x/s bookworm-security main\"]\n",
            p,
        )
        .unwrap();
        assert_ne!(key(&a), key(&s));
    }

    #[test]
    fn key_follows_the_contents_of_copied_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("motd"), "one").unwrap();
        let d = Definition::parse(
            "suite = \"bookworm\"\n[files]\n\"/etc/motd\" = \"motd\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        let before = key_of(&d, dir.path()).unwrap();
        assert_eq!(before, key_of(&d, dir.path()).unwrap());
        std::fs::write(dir.path().join("motd"), "two").unwrap();
        assert_ne!(before, key_of(&d, dir.path()).unwrap());
    }
}
