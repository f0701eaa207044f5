//! The backport folder `patches/<name>/` and its manifest `backport.toml`: what the backport
//! is, which tree it targets, how the version is made, which patches go where, and the
//! changelog bullets. Reads the folder; writes nothing.
//!
//! Every error names `file:line:col` (toml's spans) and, for an unknown key, the key.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::exit::{Exit, ExitCodeOf};
use crate::formats::changelog::{self, Urgency};
use crate::formats::dep3;
use crate::formats::distro_info::Distro;
use crate::formats::version::{Scheme, Version};
use crate::fsx::{self, FsError};

mod targets;
pub use targets::{TargetEntry, TargetForm, TargetSpec};

pub const MANIFEST: &str = "backport.toml";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, col: usize, message: String },
    #[error("{}:{line}: DEP-3: {message}", patch.display())]
    Dep3 { patch: PathBuf, line: usize, message: String, more: usize },
    #[error("{}: no [[target]] with series `{series}`; the manifest's series: {known}", path.display())]
    NoSuchTarget { path: PathBuf, series: String, known: String },
    #[error("{}: the manifest has several [[target]]s: choose one with --target SERIES ({known})", path.display())]
    TargetNeeded { path: PathBuf, known: String },
    #[error(transparent)]
    Io(#[from] FsError),
}

impl ExitCodeOf for ManifestError {
    fn exit(&self) -> Exit {
        match self {
            ManifestError::Io(e) => e.exit(),
            _ => Exit::BadInput,
        }
    }
}

/// The manifest as read: `target` is a `[target]` table or an array of `[[target]]`s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    name: Spanned<String>,
    summary: String,
    pub(crate) source: Spanned<String>,
    plan: Option<String>,
    #[serde(default)]
    bugs: Bugs,
    target: TargetForm,
    version: VersionSpec,
    upstream: Option<Upstream>,
    changelog: ChangelogSpec,
    patches: Spanned<Vec<PatchSpec>>,
}

/// The manifest, as one target sees it: with `[[target]]`s, `target`, `version.scheme`,
/// `changelog.distribution` and the patches are the chosen target's (`Backport::for_target`).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: Spanned<String>,
    pub summary: String,
    /// The source package name the tree must be.
    pub source: Spanned<String>,
    /// The verification plan, relative to the backport folder (used by `verify`).
    pub plan: Option<String>,
    pub bugs: Bugs,
    pub target: Target,
    pub version: VersionSpec,
    pub upstream: Option<Upstream>,
    pub changelog: ChangelogSpec,
    pub patches: Spanned<Vec<PatchSpec>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bugs {
    #[serde(default)]
    pub launchpad: Vec<u64>,
    #[serde(default)]
    pub debian: Vec<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub distro: Distro,
    pub series: String,
    /// The version the tree must be at.
    pub version: Spanned<String>,
    /// The next series' version: the new version must sort below it.
    pub below: Option<Spanned<String>>,
    /// The default tree for `srukit run`, relative to the repository root.
    pub fixture: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    pub scheme: Scheme,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub repository: String,
    pub commit: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangelogSpec {
    pub bullets: Spanned<Vec<String>>,
    /// `Full Name <email>`; DEBFULLNAME/DEBEMAIL win when set.
    pub maintainer: Option<String>,
    /// The entry's `urgency=`: medium unless said (security uploads: high).
    #[serde(default)]
    pub urgency: Urgency,
    /// The entry's distribution, when it is not the target series itself
    /// (`bookworm-security`, `trusty-proposed`, `UNRELEASED`).
    #[serde(default, deserialize_with = "distribution")]
    pub distribution: Option<String>,
}

pub(crate) fn distribution<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if !changelog::is_distribution(&s) {
        return Err(serde::de::Error::custom(format!(
            "distribution `{s}` is not one word of letters, digits, `-`, `+` and `.`"
        )));
    }
    Ok(Some(s))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSpec {
    /// A path below the backport folder; the same relative path under debian/patches.
    pub file: Spanned<String>,
    /// The series entry to insert after; default: the end.
    pub after: Option<String>,
    /// How a flawed DEP-3 header is taken: an error (the release engineer's own patches),
    /// or a warning (a patch imported as published, e.g. from Debian's own update).
    #[serde(default)]
    pub dep3: Dep3Mode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dep3Mode {
    #[default]
    Strict,
    Warn,
}

/// A DEP-3 problem of a `dep3 = "warn"` patch: applied anyway, and said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dep3Warning {
    pub patch: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Dep3Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: DEP-3: {}", self.patch.display(), self.line, self.message)
    }
}

/// A backport folder, read and checked: versions valid, patch files present with a clean
/// DEP-3 header.
#[derive(Debug, Clone)]
pub struct Backport {
    pub dir: PathBuf,
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub target_version: Version,
    pub below: Option<Version>,
    /// The patches in manifest order: (file name, bytes, series position).
    pub patches: Vec<BackportPatch>,
    /// Every `[[target]]`, in manifest order; empty for the single `[target]` form.
    pub targets: Vec<TargetSpec>,
    /// The `[[target]]` this view is of (`for_target`); `None` before one is chosen and for
    /// the single form.
    pub chosen: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BackportPatch {
    /// The relative path, in debian/patches and in the series (`CVE-1/01-fix.patch`).
    pub name: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub after: Option<String>,
    /// DEP-3 problems of a `dep3 = "warn"` patch.
    pub warnings: Vec<Dep3Warning>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

impl Backport {
    /// Reads `<dir>/backport.toml` and the patches it names.
    pub fn load(dir: &Path) -> Result<Backport, ManifestError> {
        let manifest_path = dir.join(MANIFEST);
        let text = fsx::read_to_string(&manifest_path)?;
        let invalid = |span: Range<usize>, message: String| {
            let (line, col) = line_col(&text, span.start);
            ManifestError::Invalid { path: manifest_path.clone(), line, col, message }
        };
        let raw: RawManifest = toml::from_str(&text)
            .map_err(|e| invalid(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;
        let version_at = |s: &Spanned<String>, key: &str| {
            s.get_ref().parse::<Version>().map_err(|e| invalid(s.span(), format!("{key}: {e}")))
        };
        let names: Vec<&str> = raw.patches.get_ref().iter().map(|p| p.file.get_ref().as_str()).collect();
        let targets = targets::check(&raw.target, raw.source.get_ref(), &names, &version_at, &invalid)?;
        let manifest = Manifest {
            name: raw.name,
            summary: raw.summary,
            source: raw.source,
            plan: raw.plan,
            bugs: raw.bugs,
            // Until a `[[target]]` is chosen, the view is the first one's.
            target: match raw.target {
                TargetForm::One(t) => t,
                TargetForm::Many(_) => targets[0].target.clone(),
            },
            version: raw.version,
            upstream: raw.upstream,
            changelog: raw.changelog,
            patches: raw.patches,
        };
        let target_version = version_at(&manifest.target.version, "target.version")?;
        let below = manifest.target.below.as_ref().map(|b| version_at(b, "target.below")).transpose()?;
        if !is_package_name(manifest.source.get_ref()) {
            return Err(invalid(
                manifest.source.span(),
                format!("source: `{}` is not a source package name", manifest.source.get_ref()),
            ));
        }
        if manifest.name.get_ref().is_empty() || manifest.name.get_ref().contains('/') {
            return Err(invalid(manifest.name.span(), "name: must be a non-empty folder name".into()));
        }
        let bullets = manifest.changelog.bullets.get_ref();
        if bullets.is_empty() || bullets.iter().any(|b| b.trim().is_empty()) {
            return Err(invalid(
                manifest.changelog.bullets.span(),
                "changelog.bullets: give at least one, none empty".into(),
            ));
        }
        if manifest.patches.get_ref().is_empty() {
            return Err(invalid(
                manifest.patches.span(),
                "patches: a backport carries at least one patch".into(),
            ));
        }
        let mut patches = Vec::new();
        for spec in manifest.patches.get_ref() {
            let name = spec.file.get_ref();
            if let Err(why) = check_patch_path(dir, name) {
                return Err(invalid(spec.file.span(), format!("patches.file: `{name}` {why}")));
            }
            if patches.iter().any(|p: &BackportPatch| &p.name == name) {
                return Err(invalid(spec.file.span(), format!("patches.file: `{name}` is listed twice")));
            }
            let path = dir.join(name);
            let bytes = fsx::read_optional(&path)?.ok_or_else(|| {
                invalid(spec.file.span(), format!("patches.file: {} does not exist", path.display()))
            })?;
            let problems = dep3::check(&bytes);
            let mut warnings = Vec::new();
            match (spec.dep3, problems.first()) {
                (_, None) => {}
                (Dep3Mode::Strict, Some(first)) => {
                    return Err(ManifestError::Dep3 {
                        patch: path,
                        line: first.line,
                        message: first.message.clone(),
                        more: problems.len() - 1,
                    });
                }
                (Dep3Mode::Warn, Some(_)) => {
                    warnings = problems
                        .into_iter()
                        .map(|p| Dep3Warning { patch: path.clone(), line: p.line, message: p.message })
                        .collect();
                }
            }
            patches.push(BackportPatch {
                name: name.clone(),
                path,
                bytes,
                after: spec.after.clone(),
                warnings,
            });
        }
        Ok(Backport {
            dir: dir.to_path_buf(),
            manifest_path,
            manifest,
            target_version,
            below,
            patches,
            targets,
            chosen: None,
        })
    }

    /// Whether the manifest has `[[target]]`s (one or more) rather than one `[target]`.
    pub fn is_multi(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The series of the `[[target]]`s, in manifest order.
    pub fn series(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.target.series.as_str()).collect()
    }

    /// The backport as target `series` sees it: its tree version, `below`, version scheme,
    /// changelog distribution and patch list. An unknown series is bad input, naming the
    /// manifest's series.
    pub fn for_target(&self, series: &str) -> Result<Backport, ManifestError> {
        let Some(t) = self.targets.iter().find(|t| t.target.series == series) else {
            return Err(ManifestError::NoSuchTarget {
                path: self.manifest_path.clone(),
                series: series.to_string(),
                known: self.series().join(", "),
            });
        };
        let mut view = self.clone();
        view.manifest.target = t.target.clone();
        view.manifest.version.scheme = t.scheme.unwrap_or(self.manifest.version.scheme);
        if let Some(d) = &t.distribution {
            view.manifest.changelog.distribution = Some(d.clone());
        }
        if let Some(files) = &t.patches {
            view.patches.retain(|p| files.contains(&p.name));
        }
        view.target_version = t.version.clone();
        view.below = t.below.clone();
        view.chosen = Some(series.to_string());
        Ok(view)
    }

    /// The chosen `[[target]]`'s spec, when this is a target's view.
    pub fn target_spec(&self) -> Option<&TargetSpec> {
        let chosen = self.chosen.as_deref()?;
        self.targets.iter().find(|t| t.target.series == chosen)
    }

    pub fn name(&self) -> &str {
        self.manifest.name.get_ref()
    }

    /// The DEP-3 problems of the `dep3 = "warn"` patches, in manifest order.
    pub fn warnings(&self) -> Vec<Dep3Warning> {
        self.patches.iter().flat_map(|p| p.warnings.iter().cloned()).collect()
    }

    pub fn source(&self) -> &str {
        self.manifest.source.get_ref()
    }

    /// The new changelog entry's distribution: `[changelog] distribution`, else the target
    /// series.
    pub fn distribution(&self) -> &str {
        self.manifest.changelog.distribution.as_deref().unwrap_or(&self.manifest.target.series)
    }

    /// Where `run --archive` takes the after packages from: the target's `pocket`, else the
    /// distribution when it names a pocket of the series, else the distro's proposed pocket.
    pub fn pocket(&self) -> String {
        if let Some(p) = self.target_spec().and_then(|t| t.pocket.clone()) {
            return p;
        }
        let t = &self.manifest.target;
        targets::default_pocket(t.distro, &t.series, self.distribution())
    }

    /// The plan's testbed for this target, when its `[[target]]` overrides the plan's.
    pub fn testbed_override(&self) -> Option<&str> {
        self.target_spec().and_then(|t| t.testbed.as_deref())
    }

    /// The changelog bullets, with every listed bug referenced: a bug no bullet mentions is
    /// appended to the first bullet as ` (LP: #N)` / ` (Closes: #N)`, the forms
    /// dpkg-parsechangelog turns into Launchpad-Bugs-Fixed and Closes.
    pub fn bullets(&self) -> Vec<String> {
        let mut bullets = self.manifest.changelog.bullets.get_ref().clone();
        let all = bullets.join("\n");
        let lp_missing: Vec<u64> =
            self.manifest.bugs.launchpad.iter().copied().filter(|b| !referenced(&all, "lp:", *b)).collect();
        let deb_missing: Vec<u64> =
            self.manifest.bugs.debian.iter().copied().filter(|b| !referenced(&all, "closes:", *b)).collect();
        let list = |bugs: &[u64]| bugs.iter().map(|b| format!("#{b}")).collect::<Vec<_>>().join(", ");
        if !lp_missing.is_empty() {
            bullets[0].push_str(&format!(" (LP: {})", list(&lp_missing)));
        }
        if !deb_missing.is_empty() {
            bullets[0].push_str(&format!(" (Closes: {})", list(&deb_missing)));
        }
        bullets
    }
}

/// A patch's path: relative, below the backport folder, no `..` (nor `.`), no symlink on the
/// way (the same path is written below debian/patches, which it must not leave); `series` is
/// quilt's own file. The reason when it is refused.
fn check_patch_path(dir: &Path, name: &str) -> Result<(), String> {
    use std::path::Component;
    let rel = Path::new(name);
    if name.is_empty() || name.ends_with('/') {
        return Err("is not a file path".into());
    }
    if rel.is_absolute() {
        return Err("is an absolute path: give a path relative to the backport folder".into());
    }
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err("has a `..` or `.` component: give a path below the backport folder".into());
    }
    // The series names the patch as written here: `a//b.patch` would not be `a/b.patch`.
    let normal: Vec<String> =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if normal.join("/") != name {
        return Err(format!("is not a plain relative path: write it `{}`", normal.join("/")));
    }
    if name == "series" {
        return Err("is quilt's own file name in debian/patches: name the patch otherwise".into());
    }
    let mut at = dir.to_path_buf();
    for c in rel.components() {
        at.push(c);
        if fsx::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!("goes through the symlink {}: give the file itself", at.display()));
        }
    }
    Ok(())
}

/// Debian policy 5.6.1: lower case letters, digits, `+ - .`, at least two characters,
/// starting with an alphanumeric.
fn is_package_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Is bug `n` in a `LP: #1, #2` / `Closes: #1, 2` list? The list grammar is dpkg's
/// (Dpkg::Changelog::Entry::Debian and Dpkg::Vendor::Ubuntu): the keyword, then
/// comma-separated `#N` (optionally `bug#N`).
fn referenced(text: &str, keyword: &str, n: u64) -> bool {
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find(keyword) {
        rest = &rest[i + keyword.len()..];
        let mut items = rest.trim_start();
        loop {
            let item = items.strip_prefix("bug").unwrap_or(items);
            let item = item.strip_prefix('#').unwrap_or(item).trim_start();
            let digits: String = item.chars().take_while(char::is_ascii_digit).collect();
            if digits.is_empty() {
                break;
            }
            if digits.parse::<u64>().ok() == Some(n) {
                return true;
            }
            items = item[digits.len()..].trim_start();
            match items.strip_prefix(',') {
                Some(r) => items = r.trim_start(),
                None => break,
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "Description: x\nOrigin: upstream, https://example.org/c/1\nLast-Update: 2014-10-02\n---\n\
        --- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

    fn manifest(extra: &str) -> String {
        format!(
            "name = \"lp1\"\nsummary = \"s\"\nsource = \"cinder\"\n[bugs]\nlaunchpad = [1336568]\n[target]\n\
             distro = \"ubuntu\"\nseries = \"trusty\"\nversion = \"1:2014.1.5-0ubuntu1\"\n{extra}[version]\n\
             scheme = \"ubuntu-sru\"\n[changelog]\nbullets = [\"Enable it\"]\n[[patches]]\nfile = \"a.patch\"\n"
        )
    }

    fn load(toml: &str, patch: &str) -> Result<Backport, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        fsx::write(&dir.path().join(MANIFEST), toml).unwrap();
        fsx::write(&dir.path().join("a.patch"), patch).unwrap();
        Backport::load(dir.path())
    }

    #[test]
    fn a_good_manifest_loads() {
        let b = load(&manifest("below = \"1:2014.2-0ubuntu1\"\n"), PATCH).unwrap();
        assert_eq!(b.source(), "cinder");
        assert_eq!(b.target_version.as_str(), "1:2014.1.5-0ubuntu1");
        assert_eq!(b.below.as_ref().unwrap().as_str(), "1:2014.2-0ubuntu1");
        assert_eq!(b.manifest.version.scheme, Scheme::UbuntuSru);
        assert_eq!(b.bullets(), vec!["Enable it (LP: #1336568)"]);
    }

    #[test]
    fn changelog_urgency_and_distribution() {
        let b = load(&manifest(""), PATCH).unwrap();
        assert_eq!((b.manifest.changelog.urgency, b.distribution()), (Urgency::Medium, "trusty"));
        let with = |extra: &str| manifest("").replace("[changelog]\n", &format!("[changelog]\n{extra}"));
        let b = load(&with("urgency = \"high\"\ndistribution = \"trusty-security\"\n"), PATCH).unwrap();
        assert_eq!((b.manifest.changelog.urgency, b.distribution()), (Urgency::High, "trusty-security"));
        for (extra, at, msg) in [
            ("urgency = \"urgent\"\n", ":13:11: ", "unknown variant `urgent`"),
            ("distribution = \"trusty security\"\n", ":13:16: ", "is not one word"),
        ] {
            let err = load(&with(extra), PATCH).unwrap_err().to_string();
            assert!(err.contains(&format!("{MANIFEST}{at}")) && err.contains(msg), "{err}");
        }
    }

    #[test]
    fn errors_name_file_line_col_and_key() {
        let table: &[(String, &str, &str)] = &[
            (manifest("colour = \"red\"\n"), ":10:1: ", "unknown field `colour`"),
            (manifest("below = \"1.0-\"\n"), ":10:9: ", "revision number is empty"),
            (
                manifest("").replace("ubuntu-sru", "ubuntu-fancy"),
                ":11:10: ",
                "unknown variant `ubuntu-fancy`",
            ),
            (manifest("").replace("\"a.patch\"", "\"../a.patch\""), ":15:8: ", "`..`"),
            (manifest("").replace("\"a.patch\"", "\"/tmp/a.patch\""), ":15:8: ", "absolute path"),
            (manifest("").replace("\"a.patch\"", "\"sub/../a.patch\""), ":15:8: ", "`..`"),
            (manifest("").replace("\"a.patch\"", "\"series\""), ":15:8: ", "quilt's own"),
            (manifest("").replace("\"a.patch\"", "\"sub//a.patch\""), ":15:8: ", "write it `sub/a.patch`"),
            (
                manifest("").replace("\"a.patch\"", "\"a.patch\"\ndep3 = \"lax\""),
                ":16:8: ",
                "unknown variant `lax`",
            ),
            (manifest("").replace("\"a.patch\"", "\"b.patch\""), ":15:8: ", "does not exist"),
            (manifest("").replace("source = \"cinder\"\n", ""), ":1:1: ", "missing field `source`"),
        ];
        for (toml, at, msg) in table {
            let err = load(toml, PATCH).unwrap_err().to_string();
            assert!(err.contains(&format!("{MANIFEST}{at}")), "{err}");
            assert!(err.contains(msg), "{err}");
        }
    }

    #[test]
    fn bad_dep3_names_the_patch_line() {
        let bad = PATCH.replace("Last-Update: 2014-10-02", "Last-Update: yesterday");
        let err = load(&manifest(""), &bad).unwrap_err();
        assert!(err.to_string().contains("a.patch:3: DEP-3: Last-Update `yesterday`"), "{err}");
        assert_eq!(err.exit(), Exit::BadInput);
    }

    #[test]
    fn patches_in_subdirectories_load_and_symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let toml = manifest("").replace("\"a.patch\"", "\"CVE-2026-1/01-fix.patch\"");
        fsx::write(&dir.path().join(MANIFEST), &toml).unwrap();
        fsx::create_dir_all(&dir.path().join("CVE-2026-1")).unwrap();
        fsx::write(&dir.path().join("CVE-2026-1/01-fix.patch"), PATCH).unwrap();
        let b = Backport::load(dir.path()).unwrap();
        assert_eq!(b.patches[0].name, "CVE-2026-1/01-fix.patch");
        std::os::unix::fs::symlink(dir.path().join("CVE-2026-1"), dir.path().join("link")).unwrap();
        fsx::write(&dir.path().join(MANIFEST), toml.replace("CVE-2026-1/", "link/")).unwrap();
        let err = Backport::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(":15:8: ") && err.contains("goes through the symlink"), "{err}");
    }

    #[test]
    fn dep3_warn_turns_problems_into_warnings() {
        let bad =
            PATCH.replace("Last-Update: 2014-10-02", "Last-Update: yesterday").replace("Origin", "Origen");
        let toml = manifest("").replace("\"a.patch\"", "\"a.patch\"\ndep3 = \"warn\"");
        let b = load(&toml, &bad).unwrap();
        let warnings: Vec<String> = b.warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].ends_with("a.patch:1: DEP-3: missing Origin (or Author for a vendor patch)"),
            "{warnings:?}"
        );
        assert!(warnings[1].ends_with("a.patch:3: DEP-3: Last-Update `yesterday` is not a date YYYY-MM-DD"));
        // Strict (the default) still refuses a wrong value, e.g. an unknown Origin category.
        let wrong = PATCH.replace("upstream, ", "sideways, ");
        let err = load(&manifest(""), &wrong).unwrap_err().to_string();
        assert!(err.contains("a.patch:2: DEP-3: Origin category `sideways`"), "{err}");
    }

    #[test]
    fn bugs_already_referenced_are_not_repeated() {
        let all = "Fix (LP: #1, #1336568) (Closes: bug#99)";
        assert!(referenced(all, "lp:", 1336568));
        assert!(referenced(all, "lp:", 1));
        assert!(referenced(all, "closes:", 99));
        assert!(!referenced(all, "closes:", 1));
        let mut b = load(&manifest(""), PATCH).unwrap();
        b.manifest.bugs.debian = vec![42];
        b.manifest.changelog.bullets = Spanned::new(0..0, vec!["A (LP: #1336568)".into(), "B".into()]);
        assert_eq!(b.bullets(), vec!["A (LP: #1336568) (Closes: #42)", "B"]);
    }
}
