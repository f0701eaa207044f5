//! Packages from a Debian or Ubuntu archive by suite (`apt:NAME@bookworm-security`). Reads
//! the suite names distro-info-data knows; keeps one private apt per suite on the host
//! (`~/.cache/srukit/apt/<suite>/`: its own sources and lists, so the machine's apt
//! configuration stays as it is; the .debs in the shared cache, `crate::debcache`) that resolves a name to the version, source package and
//! sha256 the archive publishes and downloads that .deb; and gives a testbed the same apt
//! sources and lists the host resolved against, so `apt-cache policy` there names the suite.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::formats::version::Version;
use crate::process::Cmd;
use crate::verify::VerifyError;
use crate::verify::result::Origin;

mod source;
mod suite;

pub use source::SourceError;
pub use suite::{Distro, Suite};

/// One suite's private apt on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub suite: Suite,
    /// The suite's own URI (the security archive is apart from the main one in Debian).
    pub uri: String,
    /// `~/.cache/srukit/apt/<suite>`: sources.list, lists/, cache/, debs/.
    pub dir: PathBuf,
    /// The apt sources this archive uses: the suite, and its series for the dependencies an
    /// update pocket does not carry.
    sources: Vec<(String, String)>,
}

/// What the archive publishes for one binary package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub source_package: String,
    /// The source version (differs from `version` for a binNMU, `+b1`).
    pub source_version: String,
    /// The .deb's sha256 as the suite's Packages index lists it.
    pub sha256: String,
}

/// Suites whose lists this process fetched already: once per run is current enough, and
/// every resolution of a run then reads the same index.
static UPDATED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

impl Archive {
    /// The suite's private apt, its lists fetched (once per process; other processes wait on
    /// the suite's lock while one fetches).
    pub fn open(suite: &Suite) -> Result<Archive, VerifyError> {
        let dir = crate::testbed::cache_root().join("apt").join(&suite.name);
        for d in [
            "lists/partial",
            "cache/archives/partial",
            "etc/sources.list.d",
            "etc/apt.conf.d",
            "etc/preferences.d",
            "debs",
        ] {
            crate::fsx::create_dir_all(&dir.join(d))?;
        }
        let mut sources = vec![(uri_of(suite, &suite.name), suite.name.clone())];
        if suite.series != suite.name {
            sources.push((uri_of(suite, &suite.series), suite.series.clone()));
        }
        let archive = Archive { uri: sources[0].0.clone(), suite: suite.clone(), dir, sources };
        // Written only when they change: another srukit may be reading them.
        for (file, text) in [
            ("etc/apt.conf", archive.config()),
            ("etc/sources.list", archive.sources_list(suite.keyring())),
            ("status", String::new()),
        ] {
            let path = archive.dir.join(file);
            if crate::fsx::read_optional(&path)?.as_deref() != Some(text.as_bytes()) {
                crate::fsx::write_atomic(&path, text)?;
            }
        }
        let mut updated = UPDATED.lock().unwrap_or_else(|e| e.into_inner());
        if !updated.contains(&suite.name) {
            let _lock = archive.lock()?;
            let out = archive.apt("apt-get").args(["update", "-q"]).output_unchecked()?;
            let text =
                String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
            // A suite the archive does not have (a 404 for its Release file) is bad input,
            // found now; apt says so in its `E:` and `Err:` lines.
            if !out.status.success() || text.lines().any(|l| l.starts_with("E:")) {
                let errors: Vec<&str> = text
                    .lines()
                    .filter(|l| l.starts_with("E:") || l.starts_with("Err:") || l.starts_with("  "))
                    .collect();
                return Err(VerifyError::Packages(format!(
                    "suite `{}`: `apt-get update` from {} failed:\n{}",
                    suite.name,
                    archive.uri,
                    errors.join("\n")
                )));
            }
            updated.insert(suite.name.clone());
        }
        Ok(archive)
    }

    /// The suite's lock: held while its lists are fetched or copied into a testbed.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>, VerifyError> {
        let path = self.dir.join("srukit.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| crate::fsx::FsError { op: "open", path: path.clone(), source })?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| VerifyError::Packages(format!("lock {}: {e}", path.display())))
    }

    /// The lists apt fetched (InRelease and Packages, kept compressed): what a testbed gets.
    pub fn lists(&self) -> PathBuf {
        self.dir.join("lists")
    }

    /// `deb [signed-by=KEYRING] URI SUITE COMPONENTS` for the suite and its series.
    pub fn sources_list(&self, keyring: &str) -> String {
        self.sources
            .iter()
            .map(|(uri, suite)| {
                format!("deb [signed-by={keyring}] {uri} {suite} {}\n", self.suite.components())
            })
            .collect()
    }

    /// apt-get or apt-cache on this private apt only (`APT_CONFIG`: read before the host's
    /// configuration parts, which it replaces): its own sources, lists, cache (with its own
    /// pkgcache.bin), an empty dpkg status, and none of the host's parts (its pins, its
    /// appstream targets, a Docker image's clean-up hooks) but its proxy.
    fn apt(&self, program: &str) -> Cmd {
        Cmd::new(program).env("APT_CONFIG", self.dir.join("etc/apt.conf")).env("LC_ALL", "C.UTF-8")
    }

    /// The private apt's configuration file (what [`Archive::apt`] points `APT_CONFIG` at).
    fn config(&self) -> String {
        let d = |p: &str| self.dir.join(p).display().to_string();
        let mut items = vec![
            ("Dir::Etc::main", d("etc/apt.conf")),
            ("Dir::Etc::SourceList", d("etc/sources.list")),
            ("Dir::Etc::SourceParts", d("etc/sources.list.d")),
            ("Dir::Etc::Parts", d("etc/apt.conf.d")),
            ("Dir::Etc::Preferences", d("etc/preferences")),
            ("Dir::Etc::PreferencesParts", d("etc/preferences.d")),
            ("Dir::State::Lists", d("lists")),
            ("Dir::State::status", d("status")),
            ("Dir::Cache", d("cache")),
            // Lists kept compressed: a testbed gets a copy of them.
            ("Acquire::GzipIndexes", "true".into()),
            ("Acquire::Languages", "none".into()),
            // The cache is root's (under ~/.cache): apt's `_apt` user could not write it.
            ("APT::Sandbox::User", "root".into()),
        ];
        items.extend(host_proxies().iter().map(|(k, v)| (k.as_str(), v.clone())));
        items.iter().map(|(k, v)| format!("{k} \"{v}\";\n")).collect()
    }

    /// The version of `name` the suite has (`version` exactly when given, else its newest),
    /// with its source package and sha256. A name or version the suite does not have is bad
    /// input, named with what the suite does have.
    pub fn resolve(&self, name: &str, version: Option<&str>) -> Result<Resolved, VerifyError> {
        let offered = self.versions(name)?;
        let in_suite: Vec<&Version> =
            offered.iter().filter(|(_, s)| *s == self.suite.name).map(|(v, _)| v).collect();
        let chosen = match version {
            Some(want) => in_suite.iter().find(|v| v.to_string() == want).copied(),
            None => in_suite.iter().max().copied(),
        };
        let Some(chosen) = chosen else {
            let elsewhere: Vec<String> = offered.iter().map(|(v, s)| format!("{v} in {s}")).collect();
            let has = if elsewhere.is_empty() { "nothing".to_string() } else { elsewhere.join(", ") };
            let what = match version {
                Some(v) => format!("{name} {v}"),
                None => format!("package {name}"),
            };
            return Err(VerifyError::Packages(format!(
                "{} ({}) has no {what}; apt knows {has}",
                self.suite.name, self.uri
            )));
        };
        self.show(name, &chosen.to_string())
    }

    /// Every (version, suite) apt offers for `name` from this private apt (`apt-cache
    /// madison`: `name | version | URI SUITE/COMPONENT ARCH Packages`).
    fn versions(&self, name: &str) -> Result<Vec<(Version, String)>, VerifyError> {
        let out = self.apt("apt-cache").args(["madison", name]).output_unchecked()?;
        let mut found = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let fields: Vec<&str> = line.split('|').map(str::trim).collect();
            let [pkg, version, from] = fields[..] else { continue };
            if pkg != name || !from.ends_with("Packages") {
                continue;
            }
            let Some(suite) = from.split_whitespace().nth(1).and_then(|s| s.split('/').next()) else {
                continue;
            };
            if let Ok(v) = version.parse::<Version>() {
                found.push((v, suite.to_string()));
            }
        }
        Ok(found)
    }

    /// The Packages index record of `name` at `version` (`apt-cache show NAME=VERSION`).
    fn show(&self, name: &str, version: &str) -> Result<Resolved, VerifyError> {
        let text =
            self.apt("apt-cache").args(["show", "--no-all-versions", &format!("{name}={version}")]).read()?;
        let stanza = text.split("\n\n").next().unwrap_or_default();
        let field = |key: &str| {
            stanza.lines().find_map(|l| {
                l.strip_prefix(key).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_string())
            })
        };
        let (Some(architecture), Some(sha256)) = (field("Architecture"), field("SHA256")) else {
            return Err(VerifyError::Packages(format!(
                "{}: the index record of {name} {version} has no Architecture or SHA256",
                self.suite.name
            )));
        };
        // `Source: brotli (1.0.9-2)` for a binNMU; no Source field when the names agree.
        let (source_package, source_version) = match field("Source") {
            Some(s) => match s.split_once('(') {
                Some((n, v)) => (n.trim().to_string(), v.trim_end_matches(')').trim().to_string()),
                None => (s.trim().to_string(), version.to_string()),
            },
            None => (name.to_string(), version.to_string()),
        };
        Ok(Resolved {
            name: name.into(),
            version: version.into(),
            architecture,
            source_package,
            source_version,
            sha256,
        })
    }

    /// The version of binary `name` the suite has from `source` at `source_version` (the same
    /// upload as a package under test), if it has one.
    pub fn sibling(
        &self,
        name: &str,
        source: &str,
        source_version: &str,
    ) -> Result<Option<Resolved>, VerifyError> {
        let mut offered = self.versions(name)?;
        offered.retain(|(_, s)| *s == self.suite.name || *s == self.suite.series);
        offered.sort();
        for (v, _) in offered.iter().rev() {
            let r = self.show(name, &v.to_string())?;
            if r.source_package == source && r.source_version == source_version {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The .deb of a resolved package under apt's file name, from the shared .deb cache
    /// (`crate::debcache`, keyed by the index's sha256; downloaded with `apt-get download`,
    /// which checks it against the index, the first time any run or build needs it) and
    /// checked against the index's sha256 again on every use, so the file srukit records
    /// is the archive's.
    pub fn download(&self, r: &Resolved) -> Result<PathBuf, VerifyError> {
        // apt's own file naming (an epoch's colon as %3a), as in /var/cache/apt/archives.
        let file = format!("{}_{}_{}.deb", r.name, r.version.replace(':', "%3a"), r.architecture);
        let path = self.dir.join("debs").join(&file);
        let tmp = self.dir.join("debs").join(format!(".tmp-{}-{}", std::process::id(), r.name));
        crate::fsx::remove_dir_all(&tmp)?;
        crate::fsx::create_dir_all(&tmp)?;
        let entry = match crate::debcache::get(&r.sha256)? {
            crate::debcache::Lookup::Hit(entry) => entry,
            _ => {
                self.apt("apt-get")
                    .args(["download", "-q", &format!("{}={}", r.name, r.version)])
                    .cwd(&tmp)
                    .run()?;
                let got = crate::digest::sha256_file(&tmp.join(&file))?.1;
                if !crate::debcache::put(&tmp.join(&file), &r.sha256)? {
                    crate::fsx::remove_dir_all(&tmp)?;
                    return Err(mismatch(self, r, &tmp.join(&file), &got));
                }
                crate::debcache::dir().join(format!("{}.deb", r.sha256))
            }
        };
        // A copy under apt's name (the testbed's apt finds it by that name), renamed into
        // place whole: another run may be reading the previous one.
        crate::fsx::copy(&entry, &tmp.join("deb"))?;
        crate::fsx::rename(&tmp.join("deb"), &path)?;
        crate::fsx::remove_dir_all(&tmp)?;
        let got = crate::digest::sha256_file(&path)?.1;
        if got != r.sha256 {
            return Err(mismatch(self, r, &path, &got));
        }
        Ok(path)
    }

    pub fn origin(&self) -> Origin {
        Origin {
            provenance: self.suite.provenance,
            suite: self.suite.name.clone(),
            archive: self.uri.clone(),
        }
    }
}

fn mismatch(a: &Archive, r: &Resolved, path: &std::path::Path, got: &str) -> VerifyError {
    VerifyError::Packages(format!(
        "{}: sha256 {got}, but {} lists {} for {} {}",
        path.display(),
        a.suite.name,
        r.sha256,
        r.name,
        r.version
    ))
}

fn os_release(image: &crate::testbed::Image) -> std::path::PathBuf {
    image.lower.join("etc/os-release")
}

/// The testbed image's own release: `VERSION_CODENAME` of its os-release, if it names one.
pub fn image_codename(image: &crate::testbed::Image) -> Result<Option<String>, crate::fsx::FsError> {
    let text = crate::fsx::read_to_string(&os_release(image))?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string()))
}

/// Archive packages are installed into the testbed image's own release: a suite of another
/// series (or distribution) would mix two releases, which no user of the update runs.
pub fn check_image_release(
    packages: &[&crate::verify::packages::Package],
    image: &crate::testbed::Image,
) -> Result<(), VerifyError> {
    let codename = image_codename(image)?;
    check_release(packages, &image.name, codename.as_deref(), &os_release(image).display().to_string())
}

/// A virt-server testbed's release, from its /etc/os-release (no image on the host to read).
pub fn testbed_codename(tb: &mut dyn crate::testbed::Testbed) -> Result<Option<String>, VerifyError> {
    let out = tb.exec(&crate::testbed::ExecRequest::new(["cat", "/etc/os-release"]))?;
    if !out.success() {
        return Err(VerifyError::Usage(format!(
            "the testbed has no /etc/os-release: {}",
            out.stderr_str().trim()
        )));
    }
    Ok(out
        .stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim_matches('"').to_string()))
}

/// `check_image_release` given the release (`codename`) and where it was read.
pub fn check_release(
    packages: &[&crate::verify::packages::Package],
    image_name: &str,
    codename: Option<&str>,
    os_release: &str,
) -> Result<(), VerifyError> {
    let codename = codename.unwrap_or_default();
    for p in packages {
        let Some(a) = &p.archive else { continue };
        if a.suite.series != codename {
            return Err(VerifyError::Usage(format!(
                "{}: the suite `{}` is {}, but the testbed image {} is {} ({}): give a suite of {}",
                p.source,
                a.suite.name,
                a.suite.series,
                image_name,
                if codename.is_empty() { "of no known release" } else { codename },
                os_release,
                if codename.is_empty() { "its release" } else { codename },
            )));
        }
    }
    Ok(())
}

/// The URI apt on this machine uses for `suite` (its configured index targets), else the
/// distribution's own archive.
fn uri_of(s: &Suite, suite: &str) -> String {
    // Asked once: the host's apt reads every list it has to answer.
    static CONFIGURED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| {
        Cmd::new("apt-get")
            .args(["indextargets", "--format", "$(REPO_URI)|$(RELEASE)", "Created-By: Packages"])
            .read()
            .unwrap_or_default()
    });
    if let Some(uri) =
        configured.lines().find_map(|l| l.split_once('|').filter(|(_, r)| *r == suite).map(|(u, _)| u))
    {
        return uri.trim_end_matches('/').to_string();
    }
    let security = suite.ends_with("-security");
    match (s.distro, security) {
        (Distro::Debian, true) => "http://deb.debian.org/debian-security",
        (Distro::Debian, false) => "http://deb.debian.org/debian",
        (Distro::Ubuntu, true) => "http://security.ubuntu.com/ubuntu",
        (Distro::Ubuntu, false) => "http://archive.ubuntu.com/ubuntu",
    }
    .to_string()
}

/// The host apt's proxy settings, the one part of its configuration a private apt needs
/// (read once: every apt call of a run would ask again).
fn host_proxies() -> &'static [(String, String)] {
    static PROXIES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    PROXIES.get_or_init(|| {
        let mut out = Vec::new();
        for key in ["Acquire::http::Proxy", "Acquire::https::Proxy"] {
            let value = Cmd::new("apt-config")
                .args(["dump", "--no-empty", "--format", "%v%n", key])
                .read()
                .unwrap_or_default();
            let value = value.trim();
            if !value.is_empty() {
                out.push((key.to_string(), value.to_string()));
            }
        }
        out
    })
}
