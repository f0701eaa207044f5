//! Debian version strings: strict validation (dpkg's rules), ordering, and the next version of
//! a stable release update under each scheme (Ubuntu SRU, Debian stable, backports, PPA).
//!
//! Reads nothing itself; the release number a scheme needs (`12`, `22.04`) comes from
//! `distro_info`, so a new release needs no new srukit.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionError {
    #[error("invalid version `{text}`: {why}")]
    Invalid { text: String, why: &'static str },
    #[error("cannot derive a {scheme} version from `{old}`: {why}")]
    Underivable { old: String, scheme: Scheme, why: String },
    #[error("no {scheme} version fits between `{old}` and the next series' `{below}`: {why}")]
    NoRoom { old: String, below: String, scheme: Scheme, why: String },
}

impl ExitCodeOf for VersionError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}

/// A version dpkg accepts without complaint. The debversion crate alone is not enough: it
/// accepts `1.0-`, which dpkg rejects ("revision number is empty").
#[derive(Debug, Clone)]
pub struct Version {
    text: String,
    parsed: debversion::Version,
}

impl Version {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The part a suffix is appended to and searched for markers (`ubuntu`, `+deb`): the
    /// Debian revision, or the upstream version of a native package.
    fn tail(&self) -> &str {
        match self.text.rfind('-') {
            Some(i) => &self.text[i + 1..],
            None => self.text.split_once(':').map_or(self.text.as_str(), |(_, u)| u),
        }
    }
}

impl FromStr for Version {
    type Err = VersionError;

    /// dpkg's `parseversion` (lib/dpkg/parsehelp.c), with its warnings made errors, as
    /// dpkg-source and the archive treat them.
    fn from_str(s: &str) -> Result<Version, VersionError> {
        let bad = |why| Err(VersionError::Invalid { text: s.to_string(), why });
        // dpkg splits the epoch at the first colon and the revision at the last hyphen.
        if s.is_empty() {
            return bad("version string is empty");
        }
        if s.chars().any(char::is_whitespace) {
            return bad("version string has spaces");
        }
        let rest = match s.split_once(':') {
            Some((epoch, rest)) => {
                if epoch.is_empty() {
                    return bad("epoch in version is empty");
                }
                if !epoch.bytes().all(|b| b.is_ascii_digit()) {
                    return bad("epoch in version is not number");
                }
                if epoch.parse::<i32>().is_err() {
                    return bad("epoch in version is too big");
                }
                if rest.is_empty() {
                    return bad("nothing after colon in version number");
                }
                rest
            }
            None => s,
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return bad("revision number is empty"),
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() {
            return bad("version number is empty");
        }
        if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
            return bad("version number does not start with digit");
        }
        if !upstream.bytes().all(|b| b.is_ascii_alphanumeric() || b".-+~:".contains(&b)) {
            return bad("invalid character in version number");
        }
        if !revision.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b)) {
            return bad("invalid character in revision number");
        }
        let Ok(parsed) = s.parse::<debversion::Version>() else {
            return bad("not a Debian version");
        };
        Ok(Version { text: s.to_string(), parsed })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Version {}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    /// dpkg's ordering (debversion agreed with `dpkg --compare-versions` on 441 pairs).
    fn cmp(&self, other: &Self) -> Ordering {
        self.parsed.cmp(&other.parsed)
    }
}

/// How a stable update's version is made from the version it updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `-0ubuntu1` -> `-0ubuntu2` (or `-0ubuntu1.1` when a later series needs the room);
    /// a Debian version `2.0-3` -> `2.0-3ubuntu0.1`.
    UbuntuSru,
    /// The same version in several series: `2.0-3ubuntu0.22.04.1`.
    UbuntuSruSeries,
    /// Debian stable point release: `+deb12u1`, `+deb12u2`.
    DebianStable,
    /// Debian backports: `~bpo12+1`.
    DebianBackports,
    /// Ubuntu backports: `~bpo22.04.1`.
    UbuntuBackports,
    /// A personal package archive: `~ppa1`.
    Ppa,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::UbuntuSru => "ubuntu-sru",
            Scheme::UbuntuSruSeries => "ubuntu-sru-series",
            Scheme::DebianStable => "debian-stable",
            Scheme::DebianBackports => "debian-backports",
            Scheme::UbuntuBackports => "ubuntu-backports",
            Scheme::Ppa => "ppa",
        }
    }

    /// Does the scheme need the target series' release number (`12`, `22.04`)?
    pub fn needs_release(self) -> bool {
        !matches!(self, Scheme::UbuntuSru | Scheme::Ppa)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything the next version depends on.
#[derive(Debug, Clone)]
pub struct BumpRequest<'a> {
    pub old: &'a Version,
    pub scheme: Scheme,
    /// The target series' release number from distro-info (`12`, `22.04`); required by the
    /// schemes whose suffix names it.
    pub release: Option<&'a str>,
    /// The next series' version of the package: the new version must sort below it.
    pub below: Option<&'a Version>,
}

/// The version of the update. The new version sorts above the old one, except when a
/// backport or PPA suffix is introduced: `~bpo12+1` and `~ppa1` sort below the version they
/// rebuild on purpose, so the real package supersedes them. When `below` is given the new
/// version sorts strictly below it; when `below` equals the old version (a later series
/// carries the same version and will get its own update), the most conservative form is
/// taken, leaving that series the plain increment.
pub fn next_version(req: &BumpRequest<'_>) -> Result<Version, VersionError> {
    let old = req.old;
    let underivable =
        |why: String| VersionError::Underivable { old: old.to_string(), scheme: req.scheme, why };
    let release = || req.release.ok_or_else(|| underivable("the target series has no release number".into()));
    let base = old.as_str();
    let tail = old.tail();
    // Candidates, most natural first; a later one is taken only when `below` leaves no room.
    let (candidates, sorts_below_old): (Vec<String>, bool) = match req.scheme {
        Scheme::UbuntuSru => (ubuntu_sru(base, tail).map_err(underivable)?, false),
        Scheme::UbuntuSruSeries => {
            (vec![ubuntu_sru_series(base, tail, release()?).map_err(underivable)?], false)
        }
        Scheme::DebianStable => {
            let n = release()?;
            // A stable version taken from a later release carries `~debNuM` (trixie's
            // 2.3.3-14~deb13u1): Debian's next update of it bumps that counter (~deb13u2).
            let tilde = format!("~deb{n}u");
            let marker = if has_counter(base, &tilde) { tilde } else { format!("+deb{n}u") };
            (vec![bump_counter(base, &marker, "1")], false)
        }
        Scheme::DebianBackports => {
            let marker = format!("~bpo{}+", release()?);
            (vec![bump_counter(base, &marker, "1")], !has_counter(base, &marker))
        }
        Scheme::UbuntuBackports => {
            let marker = format!("~bpo{}.", release()?);
            (vec![bump_counter(base, &marker, "1")], !has_counter(base, &marker))
        }
        Scheme::Ppa => (vec![bump_counter(base, "~ppa", "1")], !has_counter(base, "~ppa")),
    };
    let mut parsed = Vec::with_capacity(candidates.len());
    for c in candidates {
        let v: Version = c.parse()?;
        let right_side = if sorts_below_old { v < *old } else { v > *old };
        if !right_side {
            return Err(underivable(format!(
                "`{v}` would not sort {} it",
                if sorts_below_old { "below" } else { "above" }
            )));
        }
        parsed.push(v);
    }
    let Some(below) = req.below else {
        return Ok(parsed.swap_remove(0));
    };
    let no_room = |why: String| VersionError::NoRoom {
        old: old.to_string(),
        below: below.to_string(),
        scheme: req.scheme,
        why,
    };
    if below == old {
        // The later series must still be able to take the natural increment, so only the
        // conservative form is acceptable.
        return match parsed.len() {
            n if n > 1 => Ok(parsed.swap_remove(n - 1)),
            _ => Err(no_room(format!(
                "the later series carries the same version; {} has no conservative form{}",
                req.scheme,
                if req.scheme == Scheme::UbuntuSru { " here (use ubuntu-sru-series)" } else { "" }
            ))),
        };
    }
    if below < old {
        return Err(no_room("the next series' version sorts below the tree's version".into()));
    }
    let tried: Vec<String> = parsed.iter().map(ToString::to_string).collect();
    parsed
        .into_iter()
        .find(|v| v < below)
        .ok_or_else(|| no_room(format!("every candidate ({}) sorts at or above it", tried.join(", "))))
}

/// Ubuntu SRU candidates: the natural increment, then the conservative `.1` form.
fn ubuntu_sru(base: &str, tail: &str) -> Result<Vec<String>, String> {
    // A no-change rebuild (`3build1`) is replaced, not extended: `3ubuntu0.1` sorts above it.
    let (base, tail) = match strip_build(tail) {
        Some(cut) => (&base[..base.len() - (tail.len() - cut.len())], cut),
        None => (base, tail),
    };
    let Some(idx) = tail.rfind("ubuntu") else {
        return Ok(vec![format!("{base}ubuntu0.1")]);
    };
    let suffix = &tail[idx + "ubuntu".len()..];
    let stem = &base[..base.len() - suffix.len()];
    let parts = numeric_parts(suffix).ok_or_else(|| format!("`ubuntu{suffix}` is not `ubuntuN[.M...]`"))?;
    Ok(match parts.as_slice() {
        [n] => vec![format!("{stem}{}", n + 1), format!("{stem}{n}.1")],
        _ => vec![increment_last(stem, &parts), format!("{base}.1")],
    })
}

/// Ubuntu's per-series form: `ubuntuN.<release>.M` (SRU policy, same version in several series).
fn ubuntu_sru_series(base: &str, tail: &str, release: &str) -> Result<String, String> {
    let Some(idx) = tail.rfind("ubuntu") else {
        return Ok(format!("{base}ubuntu0.{release}.1"));
    };
    let suffix = &tail[idx + "ubuntu".len()..];
    let stem = &base[..base.len() - suffix.len()];
    let parts = numeric_parts(suffix).ok_or_else(|| format!("`ubuntu{suffix}` is not `ubuntuN[.M...]`"))?;
    let rel_parts = numeric_parts(release).ok_or_else(|| format!("release `{release}` is not numeric"))?;
    match parts.as_slice() {
        [n] => Ok(format!("{stem}{n}.{release}.1")),
        [n, middle @ .., m] if middle == rel_parts.as_slice() => Ok(format!("{stem}{n}.{release}.{}", m + 1)),
        _ => Err(format!("`ubuntu{suffix}` is neither `ubuntuN` nor `ubuntuN.{release}.M`")),
    }
}

fn strip_build(tail: &str) -> Option<&str> {
    let idx = tail.rfind("build")?;
    let n = &tail[idx + "build".len()..];
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && idx > 0).then(|| &tail[..idx])
}

fn numeric_parts(s: &str) -> Option<Vec<u64>> {
    if s.is_empty() {
        return None;
    }
    s.split('.').map(|p| if p.bytes().all(|b| b.is_ascii_digit()) { p.parse().ok() } else { None }).collect()
}

fn increment_last(stem: &str, parts: &[u64]) -> String {
    let (last, init) = parts.split_last().expect("numeric_parts is never empty");
    let init: Vec<String> = init.iter().map(u64::to_string).collect();
    format!("{stem}{}.{}", init.join("."), last + 1)
}

/// Does `base` end with `<marker><number>`?
fn has_counter(base: &str, marker: &str) -> bool {
    counter(base, marker).is_some()
}

fn counter(base: &str, marker: &str) -> Option<(usize, u64)> {
    let idx = base.rfind(marker)?;
    let n = &base[idx + marker.len()..];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((idx + marker.len(), n.parse().ok()?))
}

/// `…<marker>N` -> `…<marker>N+1`; anything else gets `<marker><first>` appended.
fn bump_counter(base: &str, marker: &str, first: &str) -> String {
    match counter(base, marker) {
        Some((at, n)) => format!("{}{}", &base[..at], n + 1),
        None => format!("{base}{marker}{first}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::Cmd;

    fn v(s: &str) -> Version {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The judge: dpkg itself.
    fn dpkg_says(a: &str, op: &str, b: &str) -> bool {
        Cmd::new("dpkg").args(["--compare-versions", a, op, b]).output_unchecked().unwrap().status.success()
    }

    #[test]
    fn next_version_table() {
        // (old, scheme, release, below, expected)
        type Row = (&'static str, Scheme, Option<&'static str>, Option<&'static str>, &'static str);
        let table: &[Row] = &[
            ("1:2014.1.5-0ubuntu1", Scheme::UbuntuSru, None, None, "1:2014.1.5-0ubuntu2"),
            (
                "1:2014.1.5-0ubuntu1",
                Scheme::UbuntuSru,
                None,
                Some("1:2014.2-0ubuntu1"),
                "1:2014.1.5-0ubuntu2",
            ),
            // A later series carries the same version: leave it the plain increment.
            (
                "1:2014.1.5-0ubuntu1",
                Scheme::UbuntuSru,
                None,
                Some("1:2014.1.5-0ubuntu1"),
                "1:2014.1.5-0ubuntu1.1",
            ),
            // A later series already has 0ubuntu2: no room for it, take 0ubuntu1.1.
            (
                "1:2014.1.5-0ubuntu1",
                Scheme::UbuntuSru,
                None,
                Some("1:2014.1.5-0ubuntu2"),
                "1:2014.1.5-0ubuntu1.1",
            ),
            ("1:2014.1.5-0ubuntu1.1", Scheme::UbuntuSru, None, None, "1:2014.1.5-0ubuntu1.2"),
            ("2.0-3", Scheme::UbuntuSru, None, None, "2.0-3ubuntu0.1"),
            ("2.0-3ubuntu0.1", Scheme::UbuntuSru, None, None, "2.0-3ubuntu0.2"),
            ("2.0-3build1", Scheme::UbuntuSru, None, None, "2.0-3ubuntu0.1"),
            ("2.0-3ubuntu4", Scheme::UbuntuSru, None, None, "2.0-3ubuntu5"),
            ("2.0-3", Scheme::UbuntuSruSeries, Some("22.04"), None, "2.0-3ubuntu0.22.04.1"),
            ("2.0-3ubuntu0.22.04.1", Scheme::UbuntuSruSeries, Some("22.04"), None, "2.0-3ubuntu0.22.04.2"),
            ("2.0-3ubuntu2", Scheme::UbuntuSruSeries, Some("22.04"), None, "2.0-3ubuntu2.22.04.1"),
            ("2.0-3", Scheme::DebianStable, Some("12"), None, "2.0-3+deb12u1"),
            ("2.0-3+deb12u1", Scheme::DebianStable, Some("12"), None, "2.0-3+deb12u2"),
            ("2.0-3+deb12u9", Scheme::DebianStable, Some("12"), None, "2.0-3+deb12u10"),
            ("2.3.3-14~deb13u1", Scheme::DebianStable, Some("13"), None, "2.3.3-14~deb13u2"),
            ("2.3.3-14~deb12u1", Scheme::DebianStable, Some("13"), None, "2.3.3-14~deb12u1+deb13u1"),
            ("2:2.0-3", Scheme::DebianStable, Some("12"), Some("2:2.1-1"), "2:2.0-3+deb12u1"),
            ("2.0-3", Scheme::DebianBackports, Some("12"), None, "2.0-3~bpo12+1"),
            ("2.0-3~bpo12+1", Scheme::DebianBackports, Some("12"), None, "2.0-3~bpo12+2"),
            ("2.0-3", Scheme::UbuntuBackports, Some("22.04"), None, "2.0-3~bpo22.04.1"),
            ("2.0-3~bpo22.04.1", Scheme::UbuntuBackports, Some("22.04"), None, "2.0-3~bpo22.04.2"),
            ("2.0-3", Scheme::Ppa, None, None, "2.0-3~ppa1"),
            ("2.0-3~ppa1", Scheme::Ppa, None, None, "2.0-3~ppa2"),
            ("1.2", Scheme::DebianStable, Some("12"), None, "1.2+deb12u1"),
        ];
        for &(old, scheme, release, below, expected) in table {
            let (old_v, below_v) = (v(old), below.map(v));
            let req = BumpRequest { old: &old_v, scheme, release, below: below_v.as_ref() };
            let got = next_version(&req).unwrap_or_else(|e| panic!("{old} {scheme}: {e}"));
            assert_eq!(got.as_str(), expected, "{old} {scheme} below {below:?}");
            let introduces_tilde = expected.contains('~') && !old.contains('~');
            let op = if introduces_tilde { "lt" } else { "gt" };
            assert!(dpkg_says(expected, op, old), "dpkg: {expected} {op} {old}");
            if let Some(b) = below.filter(|b| *b != old) {
                assert!(dpkg_says(expected, "lt", b), "dpkg: {expected} lt {b}");
            }
        }
    }

    #[test]
    fn no_room_is_an_error_saying_why() {
        let table: &[(&str, Scheme, &str, &str)] = &[
            // Later series has a lower version than the tree: nothing fits.
            ("1:2014.1.5-0ubuntu1", Scheme::UbuntuSru, "1:2014.1.4-0ubuntu1", "sorts below the tree's"),
            ("2.0-3", Scheme::UbuntuSru, "2.0-3", "use ubuntu-sru-series"),
            ("2.0-3", Scheme::DebianStable, "2.0-3+deb12u1", "every candidate"),
        ];
        for &(old, scheme, below, why) in table {
            let (old_v, below_v) = (v(old), v(below));
            let req = BumpRequest { old: &old_v, scheme, release: Some("12"), below: Some(&below_v) };
            let err = next_version(&req).unwrap_err();
            assert!(matches!(err, VersionError::NoRoom { .. }), "{err}");
            assert!(err.to_string().contains(why), "{err}");
            assert_eq!(err.exit(), Exit::BadInput);
        }
    }

    #[test]
    fn schemes_naming_a_release_need_one() {
        let old = v("2.0-3");
        let req = BumpRequest { old: &old, scheme: Scheme::DebianStable, release: None, below: None };
        assert!(next_version(&req).unwrap_err().to_string().contains("no release number"));
    }

    #[test]
    fn validation_matches_dpkg() {
        let valid =
            ["1.0", "1:2014.1.5-0ubuntu1", "2.0-3~bpo12+1", "1.0+dfsg-1", "0:1", "1.0-1-1", "1:2:3-4"];
        let invalid = [
            "",
            "1.0-",
            "a1.0",
            "1.0 -1",
            ":1.0",
            "x:1.0",
            "1:",
            "1.0-1_2",
            "1.0_1-1",
            "-1",
            "99999999999:1",
        ];
        for s in valid {
            assert!(s.parse::<Version>().is_ok(), "{s} should be valid");
            assert!(dpkg_says(s, "eq", s), "dpkg accepts {s}");
        }
        for s in invalid {
            assert!(s.parse::<Version>().is_err(), "{s} should be invalid");
            let out = Cmd::new("dpkg").args(["--compare-versions", s, "eq", "1"]).output_unchecked().unwrap();
            assert!(!out.stderr.is_empty() || !out.status.success(), "dpkg complains about `{s}`");
        }
        // The case debversion gets wrong.
        assert!("1.0-".parse::<debversion::Version>().is_ok());
        assert!(matches!(
            "1.0-".parse::<Version>(),
            Err(VersionError::Invalid { why: "revision number is empty", .. })
        ));
    }

    #[test]
    fn ordering_agrees_with_dpkg() {
        let vs = [
            "1.0~rc1",
            "1.0",
            "1.0-1",
            "1.0-1ubuntu0.1",
            "1.0-1ubuntu1",
            "1.0-1ubuntu1.1",
            "1:0.1",
            "1.0+deb12u1",
        ];
        for a in vs {
            for b in vs {
                let op = match v(a).cmp(&v(b)) {
                    Ordering::Less => "lt",
                    Ordering::Equal => "eq",
                    Ordering::Greater => "gt",
                };
                assert!(dpkg_says(a, op, b), "{a} {op} {b}");
            }
        }
    }
}
