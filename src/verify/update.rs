//! The update rule, checked before any testbed starts: every after package is built from the
//! same source package as its before package and is strictly newer (dpkg's ordering, as
//! `dpkg --compare-versions A gt B`). An "after" that is the same version, an older one, or
//! another source's package cannot be the update the bug's fix ships in, so verifying it
//! would prove nothing about that update.

use crate::formats::version::Version;
use crate::verify::VerifyError;
use crate::verify::packages::Package;
use crate::verify::result::VersionChange;

/// The version changes of an update, one per after package; an error names both versions.
/// Packages whose version is not known yet (an `apt:` package before the image is read) are
/// left out: the caller checks again once they are.
pub fn check(before: &[Package], after: &[Package]) -> Result<Vec<VersionChange>, VerifyError> {
    let mut changes = Vec::new();
    for a in after {
        let (Some(av), Some(asrc)) = (&a.version, &a.source_package) else { continue };
        let new = parse(av, a)?;
        let (b, bv) = match before.iter().find(|b| b.name == a.name) {
            Some(b) => {
                let (Some(bv), Some(bsrc)) = (&b.version, &b.source_package) else { continue };
                if bsrc != asrc {
                    return Err(not_an_update(format!(
                        "the after package {} {av} is built from source package `{asrc}`, the before \
                         package {} {bv} from `{bsrc}`: not an update of the same source",
                        a.name, b.name
                    )));
                }
                (b, bv)
            }
            None => {
                // A binary package new in the update: compared with the newest before package
                // of the same source.
                let mut same: Vec<(&Package, &String)> = before
                    .iter()
                    .filter(|b| b.source_package.as_ref() == Some(asrc))
                    .filter_map(|b| b.version.as_ref().map(|v| (b, v)))
                    .collect();
                if same.is_empty() {
                    let names: Vec<String> = before
                        .iter()
                        .map(|b| {
                            format!(
                                "{} (source {})",
                                b.name,
                                b.source_package.as_deref().unwrap_or("not known yet")
                            )
                        })
                        .collect();
                    if before.iter().any(|b| b.source_package.is_none()) {
                        continue;
                    }
                    return Err(not_an_update(format!(
                        "the after package {} {av} (source package `{asrc}`) has no before package \
                         of the same source (before: {})",
                        a.name,
                        names.join(", ")
                    )));
                }
                let mut parsed = Vec::new();
                for (b, v) in same.drain(..) {
                    parsed.push((parse(v, b)?, b, v));
                }
                parsed.sort_by(|x, y| x.0.cmp(&y.0));
                let (_, b, v) = parsed.pop().expect("not empty");
                (b, v)
            }
        };
        let old = parse(bv, b)?;
        if new <= old {
            let how = if new == old { "the same version as" } else { "older than" };
            return Err(not_an_update(format!(
                "the after package {} {av} is {how} the before package {} {bv} (dpkg --compare-versions \
                 {av} gt {bv} is false): an update must be newer (after: {}; before: {})",
                a.name, b.name, a.source, b.source
            )));
        }
        changes.push(VersionChange {
            package: a.name.clone(),
            source_package: asrc.clone(),
            before: bv.clone(),
            after: av.clone(),
        });
    }
    Ok(changes)
}

/// The rule again on what dpkg reported inside the testbeds, for a side whose version was
/// only known there: the same or a lower version is an error, never a verification.
pub fn check_installed(changes: &[(String, String, String)]) -> Option<String> {
    for (name, before, after) in changes {
        let (Ok(b), Ok(a)) = (before.parse::<Version>(), after.parse::<Version>()) else {
            return Some(format!("{name}: dpkg reported versions srukit cannot compare: {before}, {after}"));
        };
        if a <= b {
            return Some(format!(
                "the after side installed {name} {after}, not newer than the before side's {before}: \
                 not an update, nothing was verified"
            ));
        }
    }
    None
}

fn parse(v: &str, p: &Package) -> Result<Version, VerifyError> {
    v.parse::<Version>().map_err(|e| VerifyError::Packages(format!("{}: {} {v}: {e}", p.source, p.name)))
}

fn not_an_update(message: String) -> VerifyError {
    VerifyError::NotAnUpdate(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str, source: &str) -> Package {
        Package {
            name: name.into(),
            version: Some(version.into()),
            deb: None,
            sha256: None,
            source: format!("dir/{name}"),
            source_package: Some(source.into()),
            origin: Default::default(),
            archive: None,
            source_version: None,
        }
    }

    #[test]
    fn an_update_is_the_same_source_and_newer() {
        let before = [pkg("cinder-volume", "1:2014.1.5-0ubuntu1", "cinder")];
        let after = [pkg("cinder-volume", "1:2014.1.5-0ubuntu2", "cinder")];
        let c = check(&before, &after).unwrap();
        assert_eq!(c[0].before, "1:2014.1.5-0ubuntu1");
        assert_eq!(c[0].after, "1:2014.1.5-0ubuntu2");
        assert_eq!(c[0].source_package, "cinder");
    }

    #[test]
    fn same_lower_or_foreign_is_refused_naming_both_versions() {
        let b = pkg("cinder-volume", "1:2014.1.5-0ubuntu2", "cinder");
        for (after, needle) in [
            (pkg("cinder-volume", "1:2014.1.5-0ubuntu2", "cinder"), "the same version as"),
            (pkg("cinder-volume", "1:2014.1.5-0ubuntu1", "cinder"), "older than"),
            // An epoch outweighs everything after it; a tilde sorts before nothing.
            (pkg("cinder-volume", "2014.1.6-0ubuntu1", "cinder"), "older than"),
            (pkg("cinder-volume", "1:2014.1.5-0ubuntu2~ppa1", "cinder"), "older than"),
            (pkg("cinder-volume", "1:2014.1.5-0ubuntu3", "nova"), "source package `nova`"),
        ] {
            let err = check(std::slice::from_ref(&b), std::slice::from_ref(&after)).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
            assert!(
                err.contains("1:2014.1.5-0ubuntu2") && err.contains(after.version.as_deref().unwrap()),
                "{err}"
            );
        }
    }

    #[test]
    fn a_new_binary_is_compared_with_its_source() {
        let before = [pkg("cinder-volume", "1:1.0-1", "cinder")];
        assert!(check(&before, &[pkg("cinder-backup", "1:1.0-2", "cinder")]).is_ok());
        let err = check(&before, &[pkg("cinder-backup", "1:1.0-1", "cinder")]).unwrap_err().to_string();
        assert!(err.contains("the same version as the before package cinder-volume 1:1.0-1"), "{err}");
        let err = check(&before, &[pkg("tgt", "1:1.0.85-2", "tgt")]).unwrap_err().to_string();
        assert!(err.contains("no before package of the same source"), "{err}");
    }

    /// Archive sides meet the same rule: brotli's point-release binaries are a binNMU
    /// (`+b6`), its security update is a sourceful `+deb12u1`, newer by dpkg's ordering; the
    /// sides swapped are refused, naming where each came from.
    #[test]
    fn archive_sides_with_a_binnmu() {
        let mut before = pkg("brotli", "1.0.9-2+b6", "brotli");
        before.source = "apt:brotli=1.0.9-2+b6@bookworm".into();
        let mut after = pkg("brotli", "1.0.9-2+deb12u1", "brotli");
        after.source = "apt:brotli=1.0.9-2+deb12u1@bookworm-security".into();
        let c = check(std::slice::from_ref(&before), std::slice::from_ref(&after)).unwrap();
        assert_eq!((c[0].before.as_str(), c[0].after.as_str()), ("1.0.9-2+b6", "1.0.9-2+deb12u1"));
        let err = check(&[after], &[before]).unwrap_err();
        assert!(matches!(err, VerifyError::NotAnUpdate(_)));
        let err = err.to_string();
        assert!(
            err.contains("older than") && err.contains("after: apt:brotli=1.0.9-2+b6@bookworm;"),
            "{err}"
        );
    }

    #[test]
    fn installed_versions_are_checked_again() {
        let same = [("tgt".to_string(), "1:1.0.85-1".to_string(), "1:1.0.85-1".to_string())];
        assert!(check_installed(&same).unwrap().contains("not newer"));
        let newer = [("tgt".to_string(), "1:1.0.85-1".to_string(), "1:1.0.85-1+deb12u1".to_string())];
        assert_eq!(check_installed(&newer), None);
    }

    /// The ordering srukit uses agrees with dpkg's own on the cases an update meets.
    #[test]
    fn ordering_agrees_with_dpkg() {
        let pairs = [
            ("1:2014.1.5-0ubuntu2", "1:2014.1.5-0ubuntu1"),
            ("1:2014.1.5-0ubuntu1.1", "1:2014.1.5-0ubuntu1"),
            ("1.0-1", "1:0.1-1"),
            ("1.0~rc1-1", "1.0-1"),
            ("1.0-1+deb12u1", "1.0-1"),
            ("1.0-1~bpo12+1", "1.0-1"),
            ("1.0-1", "1.0-1"),
            ("2.0-3ubuntu0.22.04.1", "2.0-3"),
            ("1.0a-1", "1.0-1"),
            ("1.0+b1", "1.0"),
        ];
        for (a, b) in pairs {
            let dpkg = crate::process::Cmd::new("dpkg")
                .args(["--compare-versions", a, "gt", b])
                .output_unchecked()
                .unwrap();
            let ours = a.parse::<Version>().unwrap() > b.parse::<Version>().unwrap();
            assert_eq!(ours, dpkg.status.success(), "{a} gt {b}");
        }
    }
}
