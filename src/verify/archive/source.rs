//! Source packages from a suite (the dep8 gate's tests come from the side's own source):
//! `apt-get source --download-only NAME=VERSION` through the suite's private apt, with
//! deb-src entries and lists of their own (`~/.cache/srukit/apt/<suite>/src/`), so the
//! binary lists a testbed gets stay exactly what the host resolved against. Writes the
//! source files into `~/.cache/srukit/apt/<suite>/sources/NAME_VERSION/`, once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Archive;
use crate::verify::VerifyError;

/// Suites whose deb-src lists this process fetched already.
static UPDATED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// What went wrong fetching a source: bad input is never the case here (the binaries were
/// resolved already), so every failure is one the gate reports as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError(pub String);

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<VerifyError> for SourceError {
    fn from(e: VerifyError) -> Self {
        SourceError(e.to_string())
    }
}

impl From<crate::fsx::FsError> for SourceError {
    fn from(e: crate::fsx::FsError) -> Self {
        SourceError(e.to_string())
    }
}

impl Archive {
    /// The .dsc of source `name` at `version` (`None`: the newest the suite's deb-src
    /// lists offer), downloaded once. A version the archive no longer serves (a 404 in the
    /// pool, common for security uploads) is an error naming each URL that failed.
    pub fn source(&self, name: &str, version: Option<&str>) -> Result<PathBuf, SourceError> {
        let src = self.dir.join("src");
        for d in ["lists/partial", "cache/archives/partial", "sources.list.d", "apt.conf.d"] {
            crate::fsx::create_dir_all(&src.join(d))?;
        }
        let keyring = self.suite.keyring();
        let list: String = self
            .sources
            .iter()
            .map(|(uri, suite)| {
                format!("deb-src [signed-by={keyring}] {uri} {suite} {}\n", self.suite.components())
            })
            .collect();
        for (file, text) in [("sources.list", list), ("apt.conf", source_config(&src))] {
            let path = src.join(file);
            if crate::fsx::read_optional(&path)?.as_deref() != Some(text.as_bytes()) {
                crate::fsx::write_atomic(&path, text)?;
            }
        }
        let apt = |program: &str| {
            crate::process::Cmd::new(program).env("APT_CONFIG", src.join("apt.conf")).env("LC_ALL", "C.UTF-8")
        };
        {
            let mut updated = UPDATED.lock().unwrap_or_else(|e| e.into_inner());
            if !updated.contains(&self.suite.name) {
                let _lock = self.lock()?;
                let out =
                    apt("apt-get").args(["update", "-q"]).output_unchecked().map_err(VerifyError::from)?;
                let text =
                    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
                if !out.status.success() || text.lines().any(|l| l.starts_with("E:")) {
                    return Err(SourceError(format!(
                        "suite `{}`: `apt-get update` of its deb-src lists failed: {}",
                        self.suite.name,
                        apt_errors(&text)
                    )));
                }
                updated.insert(self.suite.name.clone());
            }
        }
        let version = match version {
            Some(v) => v.to_string(),
            None => {
                newest(&apt("apt-cache").args(["showsrc", "--only-source", name]).read().map_err(|e| {
                    SourceError(format!("suite `{}` has no source package `{name}`: {e}", self.suite.name))
                })?)
                .ok_or_else(|| {
                    SourceError(format!("suite `{}` has no source package `{name}`", self.suite.name))
                })?
            }
        };
        let dir = self.dir.join("sources").join(format!("{name}_{version}"));
        if let Some(dsc) = dsc_in(&dir, name, &version)? {
            return Ok(dsc);
        }
        let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
        crate::fsx::remove_dir_all(&tmp)?;
        crate::fsx::create_dir_all(&tmp)?;
        let out = apt("apt-get")
            .args(["source", "--download-only", "-q", &format!("{name}={version}")])
            .cwd(&tmp)
            .output_unchecked()
            .map_err(VerifyError::from)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            crate::fsx::remove_dir_all(&tmp)?;
            return Err(SourceError(format!(
                "`apt-get source {name}={version}` from {} ({}): {}",
                self.suite.name,
                self.uri,
                apt_errors(&text)
            )));
        }
        // Renamed whole, so the dir is complete or absent; another srukit that got there
        // first (the dir exists: the rename fails) made the same download, which may be in
        // use by its autopkgtest: keep it.
        if crate::fsx::rename(&tmp, &dir).is_err() {
            crate::fsx::remove_dir_all(&tmp)?;
        }
        dsc_in(&dir, name, &version)?.ok_or_else(|| {
            SourceError(format!("`apt-get source {name}={version}` left no .dsc in {}", dir.display()))
        })
    }
}

/// The private apt configuration for source fetches, rooted at `src`.
fn source_config(src: &Path) -> String {
    let d = |p: &str| src.join(p).display().to_string();
    let items = [
        ("Dir::Etc::main", d("apt.conf")),
        ("Dir::Etc::SourceList", d("sources.list")),
        ("Dir::Etc::SourceParts", d("sources.list.d")),
        ("Dir::Etc::Parts", d("apt.conf.d")),
        ("Dir::State::Lists", d("lists")),
        ("Dir::State::status", "/dev/null".into()),
        ("Dir::Cache", d("cache")),
        ("Acquire::Languages", "none".into()),
        ("APT::Sandbox::User", "root".into()),
    ];
    let mut text: String = items.iter().map(|(k, v)| format!("{k} \"{v}\";\n")).collect();
    for (k, v) in super::host_proxies() {
        text.push_str(&format!("{k} \"{v}\";\n"));
    }
    text
}

/// The `.dsc` of `name_version` in `dir` (apt names it without the epoch).
fn dsc_in(dir: &Path, name: &str, version: &str) -> Result<Option<PathBuf>, SourceError> {
    let upstream = version.split_once(':').map(|(_, v)| v).unwrap_or(version);
    let path = dir.join(format!("{name}_{upstream}.dsc"));
    Ok(path.exists().then_some(path))
}

/// The highest `Version:` of `apt-cache showsrc` output.
fn newest(showsrc: &str) -> Option<String> {
    showsrc
        .lines()
        .filter_map(|l| l.strip_prefix("Version: "))
        .filter_map(|v| v.trim().parse::<crate::formats::version::Version>().ok().map(|p| (p, v.trim())))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v.to_string())
}

/// apt's own error lines (`E:`, `Err:` and the 404s they quote), one line.
fn apt_errors(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("Err:") || l.contains(" 404 "))
        .map(str::trim)
        .collect();
    if lines.is_empty() { crate::process::tail(text.as_bytes(), 5) } else { lines.join("; ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_of_showsrc() {
        let text = "Package: jq\nVersion: 1.6-2.1+deb12u1\n\nPackage: jq\nVersion: 1.6-2.1+deb12u3\n\nPackage: jq\nVersion: 1.6-2.1\n";
        assert_eq!(newest(text).as_deref(), Some("1.6-2.1+deb12u3"));
        assert_eq!(newest("nothing"), None);
    }

    #[test]
    fn errors_name_the_404() {
        let text = "Get:1 http://x/pool/a.dsc\nErr:2 http://x/pool/a.debian.tar.xz\n  404  Not Found [IP: 1.2.3.4 80]\nE: Failed to fetch http://x/pool/a.debian.tar.xz  404  Not Found\n";
        let e = apt_errors(text);
        assert!(e.contains("Err:2 http://x/pool/a.debian.tar.xz"), "{e}");
        assert!(e.contains("E: Failed to fetch http://x/pool/a.debian.tar.xz  404"), "{e}");
        assert!(!e.contains("Get:1"), "{e}");
    }
}
