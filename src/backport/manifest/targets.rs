//! The manifest's targets: one `[target]` table (one release), or `[[target]]`s (one backport
//! folder for several releases, each with its own tree, version scheme, patch list,
//! changelog distribution, testbed and archive pocket). Reads the parsed manifest; checks
//! every `[[target]]` against the manifest and names the key's `file:line:col` when one is
//! wrong.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{ManifestError, Target};
use crate::formats::distro_info::Distro;
use crate::formats::version::{Scheme, Version};

/// `target` as written: a table, or an array of tables.
#[derive(Debug, Clone)]
pub enum TargetForm {
    One(Target),
    Many(Vec<Spanned<TargetEntry>>),
}

impl<'de> Deserialize<'de> for TargetForm {
    /// A visitor rather than `#[serde(untagged)]`: an untagged enum buffers the value and
    /// loses toml's spans, so an unknown key inside a `[[target]]` could not be placed.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = TargetForm;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [target] table or [[target]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TargetForm, A::Error> {
                Target::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(TargetForm::One)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<TargetForm, A::Error> {
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(TargetForm::Many)
            }
        }
        d.deserialize_any(Form)
    }
}

/// One `[[target]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    pub distro: Distro,
    pub series: Spanned<String>,
    pub version: Spanned<String>,
    pub below: Option<Spanned<String>>,
    pub fixture: Option<Spanned<String>>,
    /// `PKG=VERSION`: the tree from `apt-get source`.
    pub source: Option<Spanned<String>>,
    pub scheme: Option<Scheme>,
    pub patches: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default, deserialize_with = "super::distribution")]
    pub distribution: Option<String>,
    pub testbed: Option<String>,
    pub pocket: Option<Spanned<String>>,
}

/// One `[[target]]`, checked: versions parsed, patch names known, series unique.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The `[target]`-shaped view (distro, series, version, below, fixture).
    pub target: Target,
    pub version: Version,
    pub below: Option<Version>,
    /// `apt-get source` this (`PKG=VERSION`) for the target's tree.
    pub source: Option<String>,
    pub scheme: Option<Scheme>,
    /// The `[[patches]]` files this target carries; `None`: all of them.
    pub patches: Option<Vec<String>>,
    pub distribution: Option<String>,
    /// The plan's testbed for this target, overriding the plan's `testbed =`.
    pub testbed: Option<String>,
    /// Where `run --archive` takes the after packages from; `None`: the default
    /// (`Backport::pocket`).
    pub pocket: Option<String>,
}

/// Parses a version at a span (`key` names it in the error).
pub(super) type VersionAt<'a> = dyn Fn(&Spanned<String>, &str) -> Result<Version, ManifestError> + 'a;

/// Checks the `[[target]]`s (nothing to check beyond serde for one `[target]`, which yields
/// no specs). `invalid` places a message at a span of the manifest.
pub(super) fn check(
    form: &TargetForm,
    source: &str,
    patch_files: &[&str],
    version_at: &VersionAt,
    invalid: &dyn Fn(Range<usize>, String) -> ManifestError,
) -> Result<Vec<TargetSpec>, ManifestError> {
    let entries = match form {
        TargetForm::One(_) => return Ok(Vec::new()),
        TargetForm::Many(entries) => entries,
    };
    let mut specs: Vec<TargetSpec> = Vec::new();
    for spanned in entries {
        let e = spanned.get_ref();
        let series = e.series.get_ref();
        if series.is_empty() || !series.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return Err(invalid(e.series.span(), format!("target.series: `{series}` is not a series name")));
        }
        if specs.iter().any(|s| &s.target.series == series) {
            return Err(invalid(
                e.series.span(),
                format!("target.series: `{series}` is already a [[target]]; series are unique"),
            ));
        }
        let version = version_at(&e.version, "target.version")?;
        let below = e.below.as_ref().map(|b| version_at(b, "target.below")).transpose()?;
        if let (Some(f), Some(_)) = (&e.fixture, &e.source) {
            return Err(invalid(f.span(), "target: give `fixture` or `source`, not both".into()));
        }
        if let Some(s) = &e.source {
            let text = s.get_ref();
            let want = format!("{source}={}", e.version.get_ref());
            if text != &want {
                return Err(invalid(
                    s.span(),
                    format!(
                        "target.source: `{text}` must be PKG=VERSION of the manifest's source and this \
                         target's version: `{want}`"
                    ),
                ));
            }
        }
        let patches = match &e.patches {
            None => None,
            Some(list) => {
                if list.get_ref().is_empty() {
                    return Err(invalid(
                        list.span(),
                        "target.patches: a target carries at least one patch".into(),
                    ));
                }
                let mut names: Vec<String> = Vec::new();
                for name in list.get_ref() {
                    let n = name.get_ref();
                    if !patch_files.contains(&n.as_str()) {
                        return Err(invalid(
                            name.span(),
                            format!(
                                "target.patches: `{n}` is not a [[patches]] file ({})",
                                patch_files.join(", ")
                            ),
                        ));
                    }
                    if names.contains(n) {
                        return Err(invalid(name.span(), format!("target.patches: `{n}` is listed twice")));
                    }
                    names.push(n.clone());
                }
                // The series order is the manifest's `[[patches]]` order, so a target's
                // list must keep it: a different order would be a different series.
                let order: Vec<&str> =
                    patch_files.iter().copied().filter(|f| names.iter().any(|n| n == f)).collect();
                if order != names.iter().map(String::as_str).collect::<Vec<_>>() {
                    return Err(invalid(
                        list.span(),
                        format!("target.patches: list them in [[patches]] order: {}", order.join(", ")),
                    ));
                }
                Some(names)
            }
        };
        let pocket = match &e.pocket {
            None => None,
            Some(p) => {
                let text = p.get_ref();
                let ok = text
                    .strip_prefix(series.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|pocket| POCKETS.contains(&pocket));
                if !ok {
                    return Err(invalid(
                        p.span(),
                        format!(
                            "target.pocket: `{text}` is not a pocket of {series} ({})",
                            POCKETS.iter().map(|k| format!("{series}-{k}")).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                Some(text.clone())
            }
        };
        specs.push(TargetSpec {
            target: Target {
                distro: e.distro,
                series: series.clone(),
                version: e.version.clone(),
                below: e.below.clone(),
                fixture: e.fixture.as_ref().map(|f| f.get_ref().clone()),
            },
            version,
            below,
            source: e.source.as_ref().map(|s| s.get_ref().clone()),
            scheme: e.scheme,
            patches,
            distribution: e.distribution.clone(),
            testbed: e.testbed.clone(),
            pocket,
        });
    }
    if specs.is_empty() {
        return Err(invalid(0..0, "target: give one [target] or at least one [[target]]".into()));
    }
    Ok(specs)
}

/// The archive pockets an update reaches, after `SERIES-`.
const POCKETS: &[&str] = &["security", "proposed", "proposed-updates", "updates"];

/// The pocket an update for `series` of `distro` is verified from when `distribution` (the
/// changelog entry's) does not name one: Ubuntu's SRUs land in `-proposed`, Debian's stable
/// updates in `-proposed-updates`.
pub fn default_pocket(distro: Distro, series: &str, distribution: &str) -> String {
    let named = distribution
        .strip_prefix(series)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|p| ["security", "proposed", "proposed-updates"].contains(&p));
    if named {
        return distribution.to_string();
    }
    match distro {
        Distro::Ubuntu => format!("{series}-proposed"),
        Distro::Debian => format!("{series}-proposed-updates"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_pocket_follows_the_distribution_then_the_distro() {
        let table = [
            (Distro::Debian, "bookworm", "bookworm-security", "bookworm-security"),
            (Distro::Debian, "bookworm", "bookworm", "bookworm-proposed-updates"),
            (Distro::Debian, "trixie", "UNRELEASED", "trixie-proposed-updates"),
            (Distro::Ubuntu, "noble", "noble", "noble-proposed"),
            (Distro::Ubuntu, "noble", "noble-security", "noble-security"),
            // Another series' pocket is not this target's.
            (Distro::Ubuntu, "noble", "jammy-security", "noble-proposed"),
        ];
        for (distro, series, distribution, want) in table {
            assert_eq!(default_pocket(distro, series, distribution), want, "{series} {distribution}");
        }
    }
}

/// The `[[target]]` errors and views, through `Backport::load` (each error at its real
/// `backport.toml:line:col`).
#[cfg(test)]
mod load_tests {
    use crate::backport::manifest::{Backport, MANIFEST, ManifestError};
    use crate::formats::version::Scheme;
    use crate::fsx;

    const PATCH: &str = "Description: x\nOrigin: upstream, https://example.org/c/1\nLast-Update: 2014-10-02\n---\n\
        --- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

    /// Line 1-4 the head, `targets` from line 5, then the rest.
    fn manifest(targets: &str) -> String {
        format!(
            "name = \"n\"\nsummary = \"s\"\nsource = \"unzip\"\nplan = \"verify.toml\"\n{targets}\
             [version]\nscheme = \"debian-stable\"\n[changelog]\nbullets = [\"Fix\"]\n\
             [[patches]]\nfile = \"a.patch\"\n[[patches]]\nfile = \"b.patch\"\n"
        )
    }

    const TWO: &str = "[[target]]\ndistro = \"debian\"\nseries = \"bookworm\"\nversion = \"6.0-28\"\n\
        source = \"unzip=6.0-28\"\ndistribution = \"bookworm-security\"\ntestbed = \"bookworm-lanes\"\n\
        [[target]]\ndistro = \"debian\"\nseries = \"trixie\"\nversion = \"6.0-29\"\nfixture = \"f/unzip\"\n\
        patches = [\"b.patch\"]\nscheme = \"debian-backports\"\n";

    fn load(toml: &str) -> Result<Backport, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        fsx::write(&dir.path().join(MANIFEST), toml).unwrap();
        fsx::write(&dir.path().join("a.patch"), PATCH).unwrap();
        fsx::write(&dir.path().join("b.patch"), PATCH).unwrap();
        Backport::load(dir.path())
    }

    #[test]
    fn two_targets_load_and_each_has_its_view() {
        let b = load(&manifest(TWO)).unwrap();
        assert!(b.is_multi());
        assert_eq!(b.series(), ["bookworm", "trixie"]);
        let bw = b.for_target("bookworm").unwrap();
        assert_eq!(bw.target_version.as_str(), "6.0-28");
        assert_eq!(bw.patches.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a.patch", "b.patch"]);
        assert_eq!((bw.distribution(), bw.pocket().as_str()), ("bookworm-security", "bookworm-security"));
        assert_eq!(bw.testbed_override(), Some("bookworm-lanes"));
        assert_eq!(bw.target_spec().unwrap().source.as_deref(), Some("unzip=6.0-28"));
        let tx = b.for_target("trixie").unwrap();
        assert_eq!(tx.target_version.as_str(), "6.0-29");
        assert_eq!(tx.manifest.version.scheme, Scheme::DebianBackports);
        assert_eq!(tx.patches.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["b.patch"]);
        assert_eq!((tx.distribution(), tx.pocket().as_str()), ("trixie", "trixie-proposed-updates"));
        assert_eq!(tx.manifest.target.fixture.as_deref(), Some("f/unzip"));
        assert_eq!(tx.testbed_override(), None);
        let err = b.for_target("sid").unwrap_err().to_string();
        assert!(err.contains("no [[target]] with series `sid`") && err.contains("bookworm, trixie"), "{err}");
    }

    #[test]
    fn target_errors_name_file_line_col() {
        let one = "[target]\ndistro = \"debian\"\nseries = \"bookworm\"\nversion = \"6.0-28\"\n";
        let table: &[(String, &str, &str)] = &[
            // Both forms: toml itself refuses a key defined as a table and an array.
            (manifest(&format!("{one}{TWO}")), ":9:1: ", "duplicate key"),
            (
                manifest(&TWO.replace("\"trixie\"", "\"bookworm\"")),
                ":14:10: ",
                "`bookworm` is already a [[target]]",
            ),
            (
                manifest(&TWO.replace("[\"b.patch\"]", "[\"c.patch\"]")),
                ":17:12: ",
                "`c.patch` is not a [[patches]] file",
            ),
            (
                manifest(&TWO.replace("[\"b.patch\"]", "[\"b.patch\", \"a.patch\"]")),
                ":17:11: ",
                "in [[patches]] order: a.patch, b.patch",
            ),
            (manifest(&TWO.replace("unzip=6.0-28", "zip=6.0-28")), ":9:10: ", "`unzip=6.0-28`"),
            (manifest(&TWO.replace("unzip=6.0-28", "unzip=6.0-27")), ":9:10: ", "must be PKG=VERSION"),
            (manifest(&TWO.replace("testbed", "testbeds")), ":11:1: ", "unknown field `testbeds`"),
            (manifest(&TWO.replace("6.0-29", "6.0-")), ":15:11: ", "target.version"),
            (
                manifest(&TWO.replace("scheme = \"debian-backports\"\n", "pocket = \"bookworm-security\"\n")),
                ":18:10: ",
                "not a pocket of trixie",
            ),
            (
                manifest(
                    &TWO.replace("fixture = \"f/unzip\"\n", "fixture = \"f\"\nsource = \"unzip=6.0-29\"\n"),
                ),
                ":16:11: ",
                "`fixture` or `source`",
            ),
        ];
        for (toml, at, msg) in table {
            let err = load(toml).unwrap_err().to_string();
            assert!(err.contains(&format!("{MANIFEST}{at}")), "{at} {msg}: {err}");
            assert!(err.contains(msg), "{err}");
        }
    }

    #[test]
    fn the_single_form_is_unchanged() {
        let one = "[target]\ndistro = \"debian\"\nseries = \"bookworm\"\nversion = \"6.0-28\"\n";
        let b = load(&manifest(one)).unwrap();
        assert!(!b.is_multi() && b.target_spec().is_none());
        assert_eq!(b.pocket(), "bookworm-proposed-updates");
        // The single form knows no `[[target]]` key.
        let err = load(&manifest(&format!("{one}testbed = \"x\"\n"))).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{MANIFEST}:9:1: ")) && err.contains("unknown field `testbed`"),
            "{err}"
        );
    }
}
