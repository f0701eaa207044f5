//! What the build needs from debian/changelog, read through `dpkg-parsechangelog` (the parser
//! dpkg-source and dpkg-genchanges themselves use, so srukit and the upload agree).

use std::path::Path;

use super::BuildError;
use crate::process::Cmd;

/// One changelog entry, newest first in `Changelog::entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub version: String,
    pub distribution: String,
    pub timestamp: i64,
}

#[derive(Debug, Clone)]
pub struct Changelog {
    pub source: String,
    pub entries: Vec<Entry>,
}

impl Changelog {
    pub fn read(tree: &Path) -> Result<Changelog, BuildError> {
        let path = tree.join("debian/changelog");
        if !path.is_file() {
            return Err(BuildError::NotATree {
                path: tree.to_path_buf(),
                what: "no debian/changelog".into(),
            });
        }
        let out = Cmd::new("dpkg-parsechangelog")
            .arg("-l")
            .arg(&path)
            .args(["--all", "--format", "rfc822"])
            .output_unchecked()
            .map_err(|source| BuildError::Tool { step: "read changelog".into(), source: Box::new(source) })?;
        if !out.status.success() {
            return Err(BuildError::Changelog {
                path,
                detail: crate::process::tail(&out.stderr, 5).trim().to_string(),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        parse(&text).map_err(|detail| BuildError::Changelog { path, detail })
    }

    pub fn newest(&self) -> &Entry {
        &self.entries[0]
    }

    /// The version of the entry before the newest: by SRU convention the last published
    /// version, so `dpkg-genchanges -v` covers exactly the new entry.
    pub fn previous_version(&self) -> Option<&str> {
        self.entries.get(1).map(|e| e.version.as_str())
    }

    /// When the current upstream version first appeared: the mtime a created orig tarball
    /// gets, so it stays byte-identical across later Debian revisions (an archive refuses a
    /// second, different orig of the same name).
    pub fn upstream_epoch(&self) -> i64 {
        let up = upstream_version(&self.newest().version);
        self.entries
            .iter()
            .filter(|e| upstream_version(&e.version) == up)
            .map(|e| e.timestamp)
            .min()
            .unwrap_or(0)
    }
}

/// Parses `dpkg-parsechangelog --all --format rfc822`: one paragraph per entry.
fn parse(text: &str) -> Result<Changelog, String> {
    let mut source = None;
    let mut entries = Vec::new();
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let field = |name: &str| {
            para.lines().find_map(|l| {
                l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().to_string())
            })
        };
        if source.is_none() {
            source = field("Source");
        }
        let version = field("Version").ok_or("an entry has no version")?;
        entries.push(Entry {
            version,
            distribution: field("Distribution").unwrap_or_default(),
            timestamp: field("Timestamp").and_then(|t| t.parse().ok()).unwrap_or(0),
        });
    }
    let source = source.ok_or("no source package name")?;
    if entries.is_empty() {
        return Err("no entries".into());
    }
    Ok(Changelog { source, entries })
}

/// The version without epoch, as in file names (`1:2014.1.5-0ubuntu1` -> `2014.1.5-0ubuntu1`).
pub fn without_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

/// The upstream part: no epoch, no Debian revision (dpkg: the revision follows the last '-').
pub fn upstream_version(version: &str) -> &str {
    let v = without_epoch(version);
    v.rsplit_once('-').map_or(v, |(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parts() {
        for (v, noepoch, up) in [
            ("1:2014.1.5-0ubuntu1", "2014.1.5-0ubuntu1", "2014.1.5"),
            ("2.10-3", "2.10-3", "2.10"),
            ("1.0", "1.0", "1.0"),
            ("2:1.2-3-4", "1.2-3-4", "1.2-3"),
        ] {
            assert_eq!(without_epoch(v), noepoch);
            assert_eq!(upstream_version(v), up);
        }
    }

    #[test]
    fn parses_entries_and_previous() {
        let text = "Source: cinder\nVersion: 1:2014.1.5-0ubuntu2\nDistribution: trusty\nTimestamp: 200\n\n\
                    Source: cinder\nVersion: 1:2014.1.5-0ubuntu1\nDistribution: trusty\nTimestamp: 100\n\n\
                    Source: cinder\nVersion: 1:2014.1.4-0ubuntu1\nDistribution: trusty\nTimestamp: 50\n";
        let c = parse(text).unwrap();
        assert_eq!(c.source, "cinder");
        assert_eq!(c.newest().version, "1:2014.1.5-0ubuntu2");
        assert_eq!(c.previous_version(), Some("1:2014.1.5-0ubuntu1"));
        assert_eq!(c.upstream_epoch(), 100);
    }
}
