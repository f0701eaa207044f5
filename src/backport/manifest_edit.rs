//! Adds an exported patch to `patches/<name>/backport.toml`, keeping every comment and
//! layout choice of the user's file (toml_edit), or creates the manifest from what the
//! commit and the target tree tell when there is none. The schema (and its parser) is
//! `backport::manifest`'s; this file only writes the keys `srukit backport` knows.

use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::error::{BackportError, Result};
use super::trailers::Bugs;

/// What a new manifest is made of.
pub struct NewManifest<'a> {
    pub name: &'a str,
    pub summary: &'a str,
    /// Source package (from --tree's changelog), if known.
    pub source: Option<&'a str>,
    pub bugs: &'a Bugs,
    /// `(distro, series, version)` of the target tree, if known.
    pub target: Option<(String, String, String)>,
    pub repository: &'a str,
    pub commit: &'a str,
    pub bullet: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestChange {
    Created,
    PatchAdded,
    AlreadyListed,
}

/// Adds `[[patches]] file = <file>` (unless listed) to the manifest at `path`, creating the
/// manifest from `new` when it does not exist.
pub fn add_patch(path: &Path, file: &str, new: &NewManifest<'_>) -> Result<ManifestChange> {
    let bad = |msg: String| BackportError::Manifest { path: path.to_path_buf(), msg };
    let existing = crate::fsx::read_optional(path).map_err(|e| bad(e.to_string()))?;
    let (mut doc, created) = match existing {
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8".into()))?;
            (text.parse::<DocumentMut>().map_err(|e| bad(e.to_string()))?, false)
        }
        None => (create(new), true),
    };
    let patches = doc.entry("patches").or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    let patches =
        patches.as_array_of_tables_mut().ok_or_else(|| bad("`patches` is not [[patches]] tables".into()))?;
    let listed = patches.iter().any(|t| t.get("file").and_then(Item::as_str) == Some(file));
    if !listed {
        let mut t = Table::new();
        t.insert("file", value(file));
        patches.push(t);
    }
    crate::fsx::write_atomic(path, doc.to_string()).map_err(|e| bad(e.to_string()))?;
    Ok(if created {
        ManifestChange::Created
    } else if listed {
        ManifestChange::AlreadyListed
    } else {
        ManifestChange::PatchAdded
    })
}

fn numbers(ns: &[u64]) -> Array {
    ns.iter().map(|n| *n as i64).collect()
}

fn create(new: &NewManifest<'_>) -> DocumentMut {
    let mut doc = DocumentMut::new();
    doc.insert("name", value(new.name));
    doc.insert("summary", value(new.summary));
    if let Some(s) = new.source {
        doc.insert("source", value(s));
    }
    let mut bugs = Table::new();
    bugs.insert("launchpad", value(numbers(&new.bugs.launchpad)));
    bugs.insert("debian", value(numbers(&new.bugs.debian)));
    doc.insert("bugs", Item::Table(bugs));
    if let Some((distro, series, version)) = &new.target {
        let mut t = Table::new();
        t.insert("distro", value(distro.as_str()));
        t.insert("series", value(series.as_str()));
        t.insert("version", value(version.as_str()));
        doc.insert("target", Item::Table(t));
    }
    let mut up = Table::new();
    up.insert("repository", value(new.repository));
    up.insert("commit", value(new.commit));
    doc.insert("upstream", Item::Table(up));
    let mut cl = Table::new();
    let bullets: Array = [new.bullet.as_str()].into_iter().collect();
    cl.insert("bullets", value(bullets));
    doc.insert("changelog", Item::Table(cl));
    doc
}

/// Which distribution a changelog's first distribution belongs to, by distro-info-data's
/// series lists (`trusty-proposed` is `trusty`), or by an `ubuntu` version.
pub fn distro_of(series: &str, version: &str) -> Option<String> {
    let base = series.split('-').next().unwrap_or(series);
    let listed = |csv: &str| {
        crate::fsx::read_to_string(Path::new(csv))
            .map(|t| t.lines().skip(1).any(|l| l.split(',').nth(2) == Some(base)))
            .unwrap_or(false)
    };
    if version.contains("ubuntu") || listed("/usr/share/distro-info/ubuntu.csv") {
        Some("ubuntu".into())
    } else if matches!(base, "unstable" | "experimental" | "stable" | "testing" | "oldstable")
        || listed("/usr/share/distro-info/debian.csv")
    {
        Some("debian".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_comments_and_appends_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backport.toml");
        let original = "# my backport\nname = \"x\"  # inline\n\n[[patches]]\nfile = \"a.patch\"\n";
        crate::fsx::write(&path, original).unwrap();
        let bugs = Bugs::default();
        let new = NewManifest {
            name: "x",
            summary: "s",
            source: None,
            bugs: &bugs,
            target: None,
            repository: "r",
            commit: "c",
            bullet: "b".into(),
        };
        assert_eq!(add_patch(&path, "b.patch", &new).unwrap(), ManifestChange::PatchAdded);
        let text = crate::fsx::read_to_string(&path).unwrap();
        assert!(text.starts_with(original), "{text}");
        assert!(text.ends_with("\n[[patches]]\nfile = \"b.patch\"\n"), "{text}");
        assert_eq!(add_patch(&path, "b.patch", &new).unwrap(), ManifestChange::AlreadyListed);
        assert_eq!(crate::fsx::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn created_from_commit_and_tree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backport.toml");
        let bugs = Bugs { launchpad: vec![1336568], debian: vec![] };
        let new = NewManifest {
            name: "cinder-write-cache",
            summary: "Add write cache option",
            source: Some("cinder"),
            bugs: &bugs,
            target: Some(("ubuntu".into(), "trusty".into(), "1:2014.1.5-0ubuntu1".into())),
            repository: "https://opendev.org/openstack/cinder",
            commit: "abc",
            bullet: "Add write cache option (LP: #1336568)".into(),
        };
        assert_eq!(add_patch(&path, "p.patch", &new).unwrap(), ManifestChange::Created);
        let doc: toml::Value = toml::from_str(&crate::fsx::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["bugs"]["launchpad"][0].as_integer(), Some(1336568));
        assert_eq!(doc["target"]["series"].as_str(), Some("trusty"));
        assert_eq!(doc["patches"][0]["file"].as_str(), Some("p.patch"));
        assert_eq!(doc["changelog"]["bullets"][0].as_str(), Some("Add write cache option (LP: #1336568)"));
    }

    #[test]
    fn distros() {
        assert_eq!(distro_of("trusty-proposed", "1.0-0ubuntu1").as_deref(), Some("ubuntu"));
        assert_eq!(distro_of("unstable", "1.0-1").as_deref(), Some("debian"));
        assert_eq!(distro_of("UNRELEASED", "1.0-1"), None);
    }
}
