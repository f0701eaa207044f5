//! `manifest.json`: what a build made. Written last and atomically into `--out`, so a
//! manifest always describes a complete build (the next stage, verify, reads it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BuildError;
use crate::fsx;

pub const FILE_NAME: &str = "manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// File name, relative to the `--out` directory.
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// dsc, orig, debian-tarball, source-changes, deb, udeb, buildinfo, changes.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestbedInfo {
    pub name: String,
    pub image_hash: String,
    /// `image` (the testbed image had them all) or `apt` (installed with apt-get build-dep
    /// in a host-network testbed).
    pub build_deps: String,
    /// Packages apt installed for the build, empty when the image had them.
    pub installed: Vec<String>,
    /// The key of the read-only "build-deps installed" layer the build ran over
    /// (`$XDG_CACHE_HOME/srukit/build-deps/layers/<key>`), when apt had anything to install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub source: String,
    pub version: String,
    pub distribution: String,
    /// `source` for the source upload, then the binary architectures (`amd64`, `all`).
    pub architectures: Vec<String>,
    /// The -v version given to dpkg-genchanges: the .changes covers every entry after it.
    pub since: Option<String>,
    pub files: Vec<FileEntry>,
    /// How the orig tarball was obtained; null for a native package or a binary-only build.
    pub orig: Option<super::orig::Orig>,
    pub testbed: Option<TestbedInfo>,
    /// Build logs by phase (`source`, `binary`, `lintian`), relative to `--out`.
    pub logs: BTreeMap<String, String>,
    /// Seconds per phase, and `total`.
    pub timings: BTreeMap<String, f64>,
    pub lintian: Option<super::lintian::LintianResult>,
    pub signed: bool,
}

impl Manifest {
    pub fn read(out: &Path) -> Result<Manifest, BuildError> {
        let path = out.join(FILE_NAME);
        let text = fsx::read_to_string(&path)?;
        serde_json::from_str(&text).map_err(|e| BuildError::Manifest { path, detail: e.to_string() })
    }

    pub fn file(&self, kind: &str) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(move |f| f.kind == kind)
    }
}

/// Size and sha256 of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String), BuildError> {
    Ok(crate::digest::sha256_file(path)?)
}

/// The kind of an artifact, from its name (dpkg's naming rules).
pub fn kind_of(name: &str) -> &'static str {
    if name.ends_with(".dsc") {
        "dsc"
    } else if name.ends_with("_source.changes") {
        "source-changes"
    } else if name.ends_with(".changes") {
        "changes"
    } else if name.ends_with(".buildinfo") {
        "buildinfo"
    } else if name.ends_with(".udeb") {
        "udeb"
    } else if name.ends_with(".deb") || name.ends_with(".ddeb") {
        "deb"
    } else if name.contains(".orig.tar.") || name.contains(".orig-") {
        "orig"
    } else if name.contains(".debian.tar.") || name.ends_with(".diff.gz") {
        "debian-tarball"
    } else {
        "native-tarball"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        for (n, k) in [
            ("hello_2.10-3.dsc", "dsc"),
            ("hello_2.10-3_source.changes", "source-changes"),
            ("hello_2.10-3_amd64.changes", "changes"),
            ("hello_2.10-3_amd64.buildinfo", "buildinfo"),
            ("hello_2.10-3_amd64.deb", "deb"),
            ("hello_2.10.orig.tar.gz", "orig"),
            ("hello_2.10.orig.tar.gz.asc", "orig"),
            ("hello_2.10-3.debian.tar.xz", "debian-tarball"),
            ("foo_1.0.tar.xz", "native-tarball"),
        ] {
            assert_eq!(kind_of(n), k, "{n}");
        }
    }

    #[test]
    fn hashes_like_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fsx::write(&p, b"abc").unwrap();
        let (size, h) = hash_file(&p).unwrap();
        assert_eq!(size, 3);
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
