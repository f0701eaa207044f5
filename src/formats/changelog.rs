//! `debian/changelog`: reading the top entry (package, version, distributions) and adding a
//! new entry losslessly: the rendered entry is prepended to the original bytes, so every
//! other byte (including old entries the parser would not round-trip) is kept.
//!
//! Parsing uses the debian-changelog crate's `parse_relaxed` (the strict parser fails on
//! tab-indented lines); a header it cannot read yields a version of None, which we check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset};
use debian_changelog::ChangeLog;
use serde::Serialize;

use crate::exit::{Exit, ExitCodeOf};
use crate::formats::distro_info::Distro;
use crate::formats::version::{Version, VersionError};
use crate::fsx::{self, FsError};
use crate::process::{Cmd, ProcessError};

/// The trailer date, as dpkg and Debian policy 4.4 want it: a two-digit day
/// (chrono's `to_rfc2822` prints one digit).
pub const DATE_FORMAT: &str = "%a, %d %b %Y %H:%M:%S %z";

/// Changelog lines wrap at 80 columns, as dch does.
const WIDTH: usize = 80;

#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error("{}:{line}: {why}", path.display())]
    Malformed { path: PathBuf, line: usize, why: String },
    #[error("{}:{line}: {source}", path.display())]
    BadVersion {
        path: PathBuf,
        line: usize,
        #[source]
        source: VersionError,
    },
    #[error("no maintainer for the changelog entry: set DEBFULLNAME and DEBEMAIL, or [changelog] maintainer")]
    NoMaintainer,
    #[error("maintainer `{0}` is not `Full Name <email>`")]
    BadMaintainer(String),
}

impl ExitCodeOf for ChangelogError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}

/// The top entry of a changelog, as dpkg-parsechangelog would report it.
#[derive(Debug, Clone, Serialize)]
pub struct TopEntry {
    pub package: String,
    #[serde(serialize_with = "crate::formats::changelog::ser_version")]
    pub version: Version,
    pub distributions: Vec<String>,
    /// 1-based line of the entry's header.
    pub line: usize,
}

fn ser_version<S: serde::Serializer>(v: &Version, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

/// Reads the top entry of the changelog bytes; `path` names the file in errors.
pub fn top_entry(bytes: &[u8], path: &Path) -> Result<TopEntry, ChangelogError> {
    let malformed =
        |line, why: &str| ChangelogError::Malformed { path: path.to_path_buf(), line, why: why.into() };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
        malformed(line, "not UTF-8 (dpkg-parsechangelog requires it since dpkg 1.15)")
    })?;
    let first_line = text.lines().position(|l| !l.trim().is_empty()).map_or(1, |i| i + 1);
    let cl = ChangeLog::parse_relaxed(text);
    let entry = cl.iter().next().ok_or_else(|| malformed(first_line, "no changelog entry"))?;
    let line = entry.line() + 1;
    if entry.is_old_style() || line != first_line {
        return Err(malformed(
            first_line,
            "the first line is not an entry header `package (version) dist; urgency=...`",
        ));
    }
    let header = text.lines().nth(line - 1).unwrap_or("");
    let package = entry.package().ok_or_else(|| malformed(line, "entry header has no package name"))?;
    // A header missing `)` parses with version None (design.md, debian-changelog 0.2).
    let raw = entry.version().ok_or_else(|| malformed(line, "entry header has no readable `(version)`"))?;
    let raw = header
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map_or_else(|| raw.to_string(), |(v, _)| v.to_string());
    let version = raw.parse::<Version>().map_err(|source| ChangelogError::BadVersion {
        path: path.to_path_buf(),
        line,
        source,
    })?;
    let distributions = entry
        .distributions()
        .filter(|d| !d.is_empty())
        .ok_or_else(|| malformed(line, "entry header has no distribution after the version"))?;
    // The trailer is checked on the text: the relaxed parser loses it after a tab-indented
    // line. dpkg wants ` -- Name <email>  date` before the next header (a line that does
    // not start with whitespace).
    let trailer = text
        .lines()
        .enumerate()
        .skip(line)
        .take_while(|(_, l)| l.is_empty() || l.starts_with([' ', '\t']))
        .find(|(_, l)| l.starts_with(" -- "));
    match trailer {
        None => return Err(malformed(line, "entry has no ` -- Name <email>  date` trailer")),
        Some((i, t)) => {
            let ok = t[4..].split_once(">  ").is_some_and(|(who, date)| {
                split_maintainer(&format!("{who}>")).is_ok()
                    && DateTime::parse_from_rfc2822(date.trim()).is_ok()
            });
            if !ok {
                return Err(malformed(
                    i + 1,
                    "trailer is not ` -- Name <email>  Day, DD Mon YYYY HH:MM:SS +ZZZZ`",
                ));
            }
        }
    }
    Ok(TopEntry { package, version, distributions, line })
}

/// The `urgency=` of an entry header (Debian policy 5.6.17): how soon testing (or a
/// security upload's users) should take it. dch's default is medium; security uploads use
/// high.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    #[default]
    Medium,
    High,
    Emergency,
    Critical,
}

impl Urgency {
    fn to_crate(self) -> debian_changelog::Urgency {
        use debian_changelog::Urgency as U;
        match self {
            Urgency::Low => U::Low,
            Urgency::Medium => U::Medium,
            Urgency::High => U::High,
            Urgency::Emergency => U::Emergency,
            Urgency::Critical => U::Critical,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Medium => "medium",
            Urgency::High => "high",
            Urgency::Emergency => "emergency",
            Urgency::Critical => "critical",
        }
    }
}

/// Is `s` a distribution dpkg accepts in an entry header (`[-+0-9a-z.]+`, Dpkg::Changelog's
/// regex, plus upper case for `UNRELEASED`)?
pub fn is_distribution(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
}

/// A new changelog entry.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub package: String,
    pub version: Version,
    pub distribution: String,
    pub urgency: Urgency,
    /// The bullets, without `* `; wrapped at 80 columns when rendered.
    pub bullets: Vec<String>,
    /// `Full Name <email>`.
    pub maintainer: String,
    pub date: DateTime<FixedOffset>,
}

impl NewEntry {
    /// The entry's text, ending with the blank line that separates it from the next one.
    pub fn render(&self) -> Result<String, ChangelogError> {
        let (name, email) = split_maintainer(&self.maintainer)?;
        let version: debversion::Version =
            self.version.as_str().parse().expect("a validated Version is a debversion::Version");
        let mut builder = ChangeLog::new()
            .new_empty_entry()
            .package(self.package.clone())
            .version(version)
            // `distributions` sets; `distribution` would append to a default.
            .distributions(vec![self.distribution.clone()])
            .urgency(self.urgency.to_crate())
            .maintainer((name, email))
            .datetime(self.date.format(DATE_FORMAT).to_string());
        for bullet in &self.bullets {
            for line in wrap_bullet(bullet) {
                builder = builder.change_line(line);
            }
        }
        let entry = builder.finish();
        let mut text = entry.to_string();
        while text.ends_with("\n\n") {
            text.pop();
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
        Ok(text)
    }
}

/// `Full Name <email>` -> (name, email).
pub fn split_maintainer(m: &str) -> Result<(String, String), ChangelogError> {
    let bad = || ChangelogError::BadMaintainer(m.to_string());
    let (name, rest) = m.split_once('<').ok_or_else(bad)?;
    let email = rest.strip_suffix('>').ok_or_else(bad)?;
    if name.trim().is_empty() || !email.contains('@') || email.contains(['<', '>', ' ']) {
        return Err(bad());
    }
    Ok((name.trim().to_string(), email.to_string()))
}

/// The maintainer as dch picks it: DEBFULLNAME and DEBEMAIL win (DEBEMAIL may carry the
/// name itself, `Name <email>`), then the given fallback.
pub fn maintainer_from_env(fallback: Option<&str>) -> Result<String, ChangelogError> {
    let full = std::env::var("DEBFULLNAME").ok().filter(|s| !s.trim().is_empty());
    let email = std::env::var("DEBEMAIL").ok().filter(|s| !s.trim().is_empty());
    let m = match (full, email) {
        (Some(n), Some(e)) if !e.contains('<') => format!("{} <{}>", n.trim(), e.trim()),
        (_, Some(e)) if e.contains('<') => e.trim().to_string(),
        _ => fallback.ok_or(ChangelogError::NoMaintainer)?.to_string(),
    };
    split_maintainer(&m)?;
    Ok(m)
}

/// `  * text` wrapped at 80 columns, continuation lines indented four spaces (dch's layout).
/// The crate's builder adds the two leading spaces itself.
fn wrap_bullet(bullet: &str) -> Vec<String> {
    const WIDTH: usize = self::WIDTH - 2;
    let mut lines = Vec::new();
    let mut cur = String::from("*");
    let mut has_word = false;
    for word in bullet.split_whitespace() {
        if has_word && cur.len() + 1 + word.len() > WIDTH {
            lines.push(std::mem::replace(&mut cur, String::from(" ")));
        }
        cur.push(' ');
        cur.push_str(word);
        has_word = true;
    }
    lines.push(cur);
    lines
}

/// The changelog with `entry` on top and every original byte after it.
pub fn prepend(original: &[u8], entry: &NewEntry) -> Result<Vec<u8>, ChangelogError> {
    let mut out = entry.render()?.into_bytes();
    out.extend_from_slice(original);
    Ok(out)
}

/// dpkg's vendor rules for a target distro, whatever the host is: `DEB_VENDOR` and a
/// temporary `DPKG_ORIGINS_DIR` with Debian's and Ubuntu's origin files (a Debian host has
/// no Ubuntu one, and dpkg loads Dpkg::Vendor::Ubuntu only for a vendor it has an origin
/// for). Under Ubuntu's rules dpkg-parsechangelog and dpkg-genchanges emit
/// `Launchpad-Bugs-Fixed` from `LP: #N`; Debian's never do.
pub struct DpkgVendor {
    dir: tempfile::TempDir,
    vendor: &'static str,
}

impl DpkgVendor {
    pub fn new(distro: Distro) -> Result<DpkgVendor, FsError> {
        let dir = tempfile::tempdir().map_err(|source| FsError {
            op: "create",
            path: std::env::temp_dir(),
            source,
        })?;
        let origins = dir.path().join("origins");
        fsx::create_dir_all(&origins)?;
        fsx::write(
            &origins.join("debian"),
            "Vendor: Debian\nVendor-URL: https://www.debian.org/\nBugs: debbugs://bugs.debian.org\n",
        )?;
        fsx::write(
            &origins.join("ubuntu"),
            "Vendor: Ubuntu\nVendor-URL: https://www.ubuntu.com/\nBugs: https://bugs.launchpad.net/ubuntu/+filebug\nParent: Debian\n",
        )?;
        let vendor = match distro {
            Distro::Ubuntu => "Ubuntu",
            Distro::Debian => "Debian",
        };
        Ok(DpkgVendor { dir, vendor })
    }

    pub fn vendor(&self) -> &'static str {
        self.vendor
    }

    /// `cmd` run under this vendor's rules.
    pub fn apply(&self, cmd: Cmd) -> Cmd {
        cmd.env("DEB_VENDOR", self.vendor).env("DPKG_ORIGINS_DIR", self.dir.path().join("origins"))
    }
}

/// What dpkg-parsechangelog says about a changelog, parsed as the distribution's dpkg
/// would (`Launchpad-Bugs-Fixed` only appears under the Ubuntu vendor).
pub fn dpkg_parse(bytes: &[u8], distro: Distro) -> Result<BTreeMap<String, String>, DpkgParseError> {
    let vendor = DpkgVendor::new(distro)?;
    let file = vendor.dir.path().join("changelog");
    fsx::write(&file, bytes)?;
    let out = vendor.apply(Cmd::new("dpkg-parsechangelog").arg("-l").arg(&file)).read()?;
    let mut fields = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in out.lines() {
        if let Some(cont) = line.strip_prefix(' ') {
            if let Some(v) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                let v: &mut String = v;
                v.push('\n');
                v.push_str(cont);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            fields.insert(k.to_string(), v.trim().to_string());
            last = Some(k.to_string());
        }
    }
    Ok(fields)
}

#[derive(Debug, thiserror::Error)]
pub enum DpkgParseError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("dpkg-parsechangelog rejects the changelog")]
    Rejected(#[from] ProcessError),
}

impl ExitCodeOf for DpkgParseError {
    fn exit(&self) -> Exit {
        match self {
            DpkgParseError::Fs(e) => e.exit(),
            DpkgParseError::Rejected(ProcessError::Failed { .. }) => Exit::BadInput,
            DpkgParseError::Rejected(_) => Exit::CouldNotRun,
        }
    }
}

/// The date for a new entry: SOURCE_DATE_EPOCH when set (reproducible builds, in UTC),
/// else now in the local time zone, as dch writes it (`date -R`).
pub fn entry_date() -> DateTime<FixedOffset> {
    let utc = FixedOffset::east_opt(0).expect("zero offset is valid");
    match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
    {
        Some(t) => t.with_timezone(&utc),
        None => chrono::Local::now().fixed_offset(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "cinder (1:2014.1.5-0ubuntu1) trusty; urgency=medium\n\n  * New upstream point release.\n\
        \t* tab-indented line the strict parser rejects\n\n -- Chuck Short <zulcss@ubuntu.com>  Mon, 07 Jul 2014 \
        09:05:48 -0400\n\ncinder (1:2014.1-0ubuntu1) trusty; urgency=low\n\n  * Final release.\n\n -- James Page \
        <james.page@ubuntu.com>  Thu, 17 Apr 2014 12:00:00 +0100\n";

    fn entry() -> NewEntry {
        NewEntry {
            package: "cinder".into(),
            version: "1:2014.1.5-0ubuntu2".parse().unwrap(),
            distribution: "trusty".into(),
            urgency: Urgency::Medium,
            bullets: vec!["Enable iscsi_write_cache option for tgtadm backends (LP: #1336568)".into()],
            maintainer: "Jane Doe <jane@example.org>".into(),
            date: DateTime::parse_from_rfc3339("2014-10-02T10:11:12+00:00").unwrap(),
        }
    }

    #[test]
    fn top_entry_reads_package_version_distribution() {
        let top = top_entry(OLD.as_bytes(), Path::new("debian/changelog")).unwrap();
        assert_eq!(top.package, "cinder");
        assert_eq!(top.version.as_str(), "1:2014.1.5-0ubuntu1");
        assert_eq!(top.distributions, vec!["trusty"]);
        assert_eq!(top.line, 1);
    }

    #[test]
    fn new_entry_is_prepended_byte_for_byte_and_dpkg_reads_it() {
        let out = prepend(OLD.as_bytes(), &entry()).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        let expected = "cinder (1:2014.1.5-0ubuntu2) trusty; urgency=medium\n\n  * Enable iscsi_write_cache option \
            for tgtadm backends (LP: #1336568)\n\n -- Jane Doe <jane@example.org>  Thu, 02 Oct 2014 10:11:12 +0000\n\n";
        assert_eq!(&text[..expected.len()], expected);
        assert_eq!(&out[expected.len()..], OLD.as_bytes(), "every old byte kept");
        let parsed = dpkg_parse(&out, Distro::Ubuntu).unwrap();
        let parsed = format!("{parsed:?}");
        for want in [
            "\"Version\": \"1:2014.1.5-0ubuntu2\"",
            "\"Distribution\": \"trusty\"",
            "\"Launchpad-Bugs-Fixed\": \"1336568\"",
            "\"Date\": \"Thu, 02 Oct 2014 10:11:12 +0000\"",
            "\"Urgency\": \"medium\"",
        ] {
            assert!(parsed.contains(want), "{want} in {parsed}");
        }
        let top = top_entry(&out, Path::new("changelog")).unwrap();
        assert_eq!(top.version.as_str(), "1:2014.1.5-0ubuntu2");
    }

    #[test]
    fn security_upload_header_and_dch_trailer() {
        // What `dch --distribution bookworm-security --urgency high` writes, byte for byte:
        // the header, a blank line, the bullets, a blank line, ` -- NAME <EMAIL>  DATE`
        // (two spaces before the date, the maintainer's own UTC offset).
        let mut e = entry();
        e.package = "tgt".into();
        e.version = "1:1.0.85-1+deb12u1".parse().unwrap();
        e.distribution = "bookworm-security".into();
        e.urgency = Urgency::High;
        e.bullets = vec!["Fix it (Closes: #1234)".into()];
        e.date = DateTime::parse_from_rfc3339("2024-03-09T21:05:07-05:00").unwrap();
        assert_eq!(
            e.render().unwrap(),
            "tgt (1:1.0.85-1+deb12u1) bookworm-security; urgency=high\n\n  * Fix it (Closes: #1234)\n\n \
             -- Jane Doe <jane@example.org>  Sat, 09 Mar 2024 21:05:07 -0500\n\n"
        );
        let parsed = dpkg_parse(e.render().unwrap().as_bytes(), Distro::Debian).unwrap();
        assert_eq!(parsed["Distribution"], "bookworm-security");
        assert_eq!(parsed["Urgency"], "high");
        assert_eq!(parsed["Closes"], "1234");
        assert!(!parsed.contains_key("Launchpad-Bugs-Fixed"), "Debian's dpkg has no such field");
        let toml: std::collections::BTreeMap<String, Urgency> =
            toml::from_str("a = \"low\"\nb = \"critical\"").unwrap();
        assert_eq!((toml["a"], toml["b"]), (Urgency::Low, Urgency::Critical));
        assert!(toml::from_str::<std::collections::BTreeMap<String, Urgency>>("a = \"urgent\"").is_err());
        for (d, ok) in
            [("bookworm-security", true), ("UNRELEASED", true), ("a b", false), ("x;y", false), ("", false)]
        {
            assert_eq!(is_distribution(d), ok, "{d}");
        }
    }

    #[test]
    fn one_digit_days_get_two_digits_and_long_bullets_wrap() {
        let mut e = entry();
        e.date = DateTime::parse_from_rfc3339("2014-10-05T01:02:03+00:00").unwrap();
        e.bullets = vec![format!("{} (LP: #1)", "word ".repeat(30).trim())];
        let text = e.render().unwrap();
        assert!(text.contains("  Sun, 05 Oct 2014 01:02:03 +0000\n"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 80), "{text}");
        assert!(text.contains("\n    word"), "continuation indented: {text}");
    }

    #[test]
    fn broken_headers_are_reported_at_their_line() {
        let table: &[(&str, usize, &str)] = &[
            (
                "cinder (1:2014.1.5-0ubuntu1 trusty; urgency=medium\n\n  * x\n\n -- A <a@b>  Mon, 07 Jul 2014 09:05:48 -0400\n",
                1,
                "",
            ),
            (
                "\ncinder (1.0-) trusty; urgency=medium\n\n  * x\n\n -- A <a@b>  Mon, 07 Jul 2014 09:05:48 -0400\n",
                2,
                "revision number is empty",
            ),
            ("garbage line\n", 1, ""),
            ("cinder (1.0-1) trusty; urgency=medium\n\n  * x\n", 1, "trailer"),
            ("", 1, "no changelog entry"),
        ];
        for &(text, line, why) in table {
            let err = top_entry(text.as_bytes(), Path::new("debian/changelog")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with(&format!("debian/changelog:{line}: ")), "{text:?}: {msg}");
            assert!(msg.contains(why), "{text:?}: {msg}");
            assert_eq!(err.exit(), Exit::BadInput);
        }
    }

    #[test]
    fn maintainer_forms() {
        assert_eq!(split_maintainer("A B <a@b.org>").unwrap(), ("A B".into(), "a@b.org".into()));
        assert!(split_maintainer("a@b.org").is_err());
        assert!(split_maintainer("<a@b.org>").is_err());
    }
}
