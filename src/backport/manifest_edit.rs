//! Adds an exported patch to `patches/<name>/backport.toml`, keeping every comment and
//! layout choice of the user's file (toml_edit), or creates the manifest from what the
//! commit and the target tree tell when there is none. The schema (and its parser) is
//! `backport::manifest`'s; this file only writes the keys `srukit backport` knows.

use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::error::{BackportError, Result};
use super::trailers::Bugs;

/// The manifest's file name in a backport folder.
pub const MANIFEST: &str = "backport.toml";

/// The target tree as its debian/changelog tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFacts {
    pub source: String,
    /// The version the tree is at (the top entry's).
    pub version: String,
    pub distro: String,
    pub series: String,
}

impl TreeFacts {
    /// Reads `<tree>/debian/changelog`: package and version of the top entry, the series
    /// of the newest entry whose distribution is known (an `UNRELEASED` top entry says
    /// nothing about the target).
    pub fn read(tree: &Path) -> Result<TreeFacts> {
        let changelog = tree.join("debian/changelog");
        let entries = super::upstream::changelog_entries(&changelog)?;
        let (source, version) = (entries[0].0.clone(), entries[0].1.to_string());
        for (_, _, dist) in &entries {
            let Some(dist) = dist else { continue };
            if let Some((distro, series)) = distro_of(dist) {
                return Ok(TreeFacts { source, version, distro: distro.to_string(), series });
            }
        }
        Err(BackportError::Changelog {
            changelog,
            msg: "no entry names a Debian or Ubuntu series (distro-info-data), so the target is unknown"
                .into(),
        })
    }

    /// The SRU version scheme a new manifest starts with (the manifest's `[version]`).
    pub fn scheme(&self) -> &'static str {
        if self.distro == "ubuntu" { "ubuntu-sru" } else { "debian-stable" }
    }
}

/// What a new manifest is made of.
pub struct NewManifest<'a> {
    pub name: &'a str,
    pub summary: &'a str,
    pub bugs: &'a Bugs,
    /// What --tree's changelog says about the target.
    pub tree: &'a TreeFacts,
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
    doc.insert("source", value(new.tree.source.as_str()));
    let mut bugs = Table::new();
    bugs.insert("launchpad", value(numbers(&new.bugs.launchpad)));
    bugs.insert("debian", value(numbers(&new.bugs.debian)));
    doc.insert("bugs", Item::Table(bugs));
    let mut t = Table::new();
    t.insert("distro", value(new.tree.distro.as_str()));
    t.insert("series", value(new.tree.series.as_str()));
    t.insert("version", value(new.tree.version.as_str()));
    doc.insert("target", Item::Table(t));
    let mut v = Table::new();
    v.insert("scheme", value(new.tree.scheme()));
    doc.insert("version", Item::Table(v));
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

/// Which distribution a changelog distribution belongs to (formats::distro_info's).
pub use crate::formats::distro_info::distro_of;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::distro_info::Distro;

    #[test]
    fn keeps_comments_and_appends_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("backport.toml");
        let original = "# my backport\nname = \"x\"  # inline\n\n[[patches]]\nfile = \"a.patch\"\n";
        crate::fsx::write(&path, original).unwrap();
        let bugs = Bugs::default();
        let tree = TreeFacts {
            source: "p".into(),
            version: "1.0-1".into(),
            distro: "debian".into(),
            series: "bookworm".into(),
        };
        let new = NewManifest {
            name: "x",
            summary: "s",
            bugs: &bugs,
            tree: &tree,
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
        let bugs = Bugs { launchpad: vec![1336568], ..Bugs::default() };
        let tree = TreeFacts {
            source: "cinder".into(),
            version: "1:2014.1.5-0ubuntu1".into(),
            distro: "ubuntu".into(),
            series: "trusty".into(),
        };
        let new = NewManifest {
            name: "cinder-write-cache",
            summary: "Add write cache option",
            bugs: &bugs,
            tree: &tree,
            repository: "https://opendev.org/openstack/cinder",
            commit: "abc",
            bullet: "Add write cache option (LP: #1336568)".into(),
        };
        assert_eq!(add_patch(&path, "p.patch", &new).unwrap(), ManifestChange::Created);
        let doc: toml::Value = toml::from_str(&crate::fsx::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["bugs"]["launchpad"][0].as_integer(), Some(1336568));
        assert_eq!(doc["target"]["series"].as_str(), Some("trusty"));
        assert_eq!(doc["version"]["scheme"].as_str(), Some("ubuntu-sru"));
        assert_eq!(doc["source"].as_str(), Some("cinder"));
        assert_eq!(doc["patches"][0]["file"].as_str(), Some("p.patch"));
        assert_eq!(doc["changelog"]["bullets"][0].as_str(), Some("Add write cache option (LP: #1336568)"));
        // The schema's own parser (deny_unknown_fields, scheme and distro enums) accepts it.
        let text = crate::fsx::read_to_string(&path).unwrap();
        let parsed: crate::backport::manifest::RawManifest = toml::from_str(&text).unwrap();
        assert_eq!(parsed.source.get_ref(), "cinder");
    }

    #[test]
    fn tree_facts_skip_unreleased() {
        let dir = tempfile::tempdir().unwrap();
        crate::fsx::create_dir_all(&dir.path().join("debian")).unwrap();
        let entry = |v: &str, d: &str| {
            format!(
                "tgt ({v}) {d}; urgency=medium\n\n  * x\n\n -- M <m@e.org>  Mon, 01 Jan 2024 00:00:00 +0000\n\n"
            )
        };
        let text = entry("1:1.0.85-1ubuntu1", "UNRELEASED") + &entry("1:1.0.85-1", "jammy-proposed");
        crate::fsx::write(&dir.path().join("debian/changelog"), text).unwrap();
        let f = TreeFacts::read(dir.path()).unwrap();
        assert_eq!(
            f,
            TreeFacts {
                source: "tgt".into(),
                version: "1:1.0.85-1ubuntu1".into(),
                distro: "ubuntu".into(),
                series: "jammy".into()
            }
        );
    }

    #[test]
    fn distros() {
        assert_eq!(distro_of("trusty-proposed"), Some((Distro::Ubuntu, "trusty".into())));
        assert_eq!(distro_of("bookworm-security"), Some((Distro::Debian, "bookworm".into())));
        assert_eq!(distro_of("unstable"), Some((Distro::Debian, "unstable".into())));
        assert_eq!(distro_of("UNRELEASED"), None);
    }
}
