//! The packages under test for one side: a `srukit build` output dir (its manifest.json),
//! a dir of .debs, `apt:NAME[=VERSION]` as the testbed image carries it, or
//! `apt:NAME[=VERSION]@SUITE` from the archive's suite. Resolved on the host into files with
//! name, version, source package, sha256 and origin, so the result can say exactly what was
//! tested and where it came from; the update rule then holds them to each other (`update`).

use std::path::{Path, PathBuf};

use crate::process::Cmd;
use crate::verify::VerifyError;
use crate::verify::archive::{Archive, Suite};
use crate::verify::result::{Origin, PackageUnderTest, Provenance};

/// What the user named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// A build output dir (with manifest.json) or any dir of .deb files.
    Dir(PathBuf),
    /// A package by name: as the image has it (`suite: None`), or from an archive suite,
    /// installed in the testbed with apt from that suite.
    Apt { name: String, version: Option<String>, suite: Option<Suite> },
}

impl PackageSource {
    /// Where packages from this source come from, as the SRU rules count it.
    pub fn provenance(&self) -> Provenance {
        match self {
            PackageSource::Dir(_) => Provenance::LocalBuild,
            PackageSource::Apt { suite: None, .. } => Provenance::TestbedImage,
            PackageSource::Apt { suite: Some(s), .. } => s.provenance,
        }
    }

    /// `DIR`, `apt:NAME`, `apt:NAME=VERSION`, `apt:NAME@SUITE`, `apt:NAME=VERSION@SUITE`. A
    /// name, version or suite that cannot be one is bad input, named (exit 2).
    pub fn parse(arg: &str) -> Result<PackageSource, VerifyError> {
        let Some(spec) = arg.strip_prefix("apt:") else { return Ok(PackageSource::Dir(PathBuf::from(arg))) };
        let bad = |why: String| VerifyError::Usage(format!("`{arg}`: {why}"));
        let (spec, suite) = match spec.rsplit_once('@') {
            Some((spec, suite)) => (spec, Some(Suite::parse(suite).map_err(bad)?)),
            None => (spec, None),
        };
        let (name, version) = match spec.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (spec, None),
        };
        // Debian Policy 5.6.1 (package names) and 5.6.12 (versions).
        let name_ok = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !name_ok {
            return Err(bad(format!(
                "`{name}` is not a package name (Debian Policy 5.6.1: lower case letters, digits, + - .)"
            )));
        }
        if let Some(v) = version {
            v.parse::<crate::formats::version::Version>()
                .map_err(|e| bad(format!("`{v}` is not a package version: {e}")))?;
        }
        Ok(PackageSource::Apt { name: name.to_string(), version: version.map(str::to_string), suite })
    }

    pub fn describe(&self) -> String {
        match self {
            PackageSource::Dir(d) => d.display().to_string(),
            PackageSource::Apt { name, version, suite } => {
                let mut s = format!("apt:{name}");
                if let Some(v) = version {
                    s.push_str(&format!("={v}"));
                }
                if let Some(suite) = suite {
                    s.push_str(&format!("@{}", suite.name));
                }
                s
            }
        }
    }
}

/// One .deb to install, or one package the image must already carry.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    /// `None` for an `apt:` package named without a version: whatever the image has, which
    /// the run records after dpkg-query.
    pub version: Option<String>,
    /// The .deb on the host; `None` when the image carries the package.
    pub deb: Option<PathBuf>,
    pub sha256: Option<String>,
    pub source: String,
    /// The source package it was built from (`Source:`, else its own name); `None` for an
    /// `apt:` package until the image's dpkg database says.
    pub source_package: Option<String>,
    /// Where it came from, as the result records it.
    pub origin: Origin,
    /// The archive suite it is installed from with apt (with `source_version`, what pins
    /// the other binaries of its source to the same upload); `None`: dpkg -i or the image's.
    pub archive: Option<Archive>,
    pub source_version: Option<String>,
}

impl Package {
    pub fn under_test(&self) -> PackageUnderTest {
        PackageUnderTest {
            name: self.name.clone(),
            version: self.version.clone().unwrap_or_default(),
            file: self.deb.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            sha256: self.sha256.clone().unwrap_or_default(),
            source: self.source.clone(),
            origin: Some(self.origin.clone()),
            policy: String::new(),
            status: String::new(),
        }
    }
}

/// Resolves a side's source into the packages the plan installs (`install` names; all .debs
/// in the dir when the plan names none).
pub fn resolve(src: &PackageSource, install: &[String]) -> Result<Vec<Package>, VerifyError> {
    match src {
        PackageSource::Apt { name, version, suite: None } => Ok(vec![Package {
            name: name.clone(),
            version: version.clone(),
            deb: None,
            sha256: None,
            source: src.describe(),
            source_package: None,
            origin: Origin { provenance: Provenance::TestbedImage, ..Origin::default() },
            archive: None,
            source_version: None,
        }]),
        PackageSource::Apt { name, version, suite: Some(suite) } => {
            resolve_archive(src, name, version, suite, install)
        }
        PackageSource::Dir(dir) => {
            let mut all = Vec::new();
            for path in debs_in(dir)? {
                let id = deb_identity(&path)?;
                all.push((path, id));
            }
            refuse_two_versions(dir, &all)?;
            let built_from = manifest_source(dir)?;
            let mut found = Vec::new();
            for (path, DebIdentity { name, version, source_package }) in all {
                if !install.is_empty() && !install.contains(&name) {
                    continue;
                }
                if let Some(src) = built_from.as_deref().filter(|s| *s != source_package) {
                    return Err(VerifyError::Packages(format!(
                        "{}: built from source package `{source_package}`, but {} says the dir holds `{src}`",
                        path.display(),
                        dir.join("manifest.json").display()
                    )));
                }
                let sha256 = sha256_file(&path)?;
                check_against_manifest(dir, &path, &sha256)?;
                found.push(Package {
                    name,
                    version: Some(version),
                    deb: Some(path),
                    sha256: Some(sha256),
                    source: dir.display().to_string(),
                    source_package: Some(source_package),
                    origin: Origin::default(),
                    archive: None,
                    source_version: None,
                });
            }
            for want in install {
                if !found.iter().any(|p| &p.name == want) {
                    return Err(VerifyError::Packages(format!(
                        "{}: no .deb of package `{want}`, which the plan installs",
                        dir.display()
                    )));
                }
            }
            if found.is_empty() {
                return Err(VerifyError::Packages(format!("{}: no .deb files", dir.display())));
            }
            Ok(found)
        }
    }
}

/// `apt:NAME@SUITE`: NAME and the plan's other `install` names, each at the suite's version
/// (NAME at VERSION when given), resolved and downloaded on the host so the result holds the
/// archive's files and hashes and the update rule runs before any testbed. The plan's other
/// names must come from NAME's upload: a side is one source package's update.
fn resolve_archive(
    src: &PackageSource,
    name: &str,
    version: &Option<String>,
    suite: &Suite,
    install: &[String],
) -> Result<Vec<Package>, VerifyError> {
    let archive = Archive::open(suite)?;
    let first = archive.resolve(name, version.as_deref()).map_err(|e| named(src, e))?;
    let mut resolved = vec![first.clone()];
    for other in install.iter().filter(|n| n.as_str() != name) {
        let r = archive
            .sibling(other, &first.source_package, &first.source_version)?
            .ok_or_else(|| {
                VerifyError::Packages(format!(
                    "{}: the plan installs `{other}`, but {} has no `{other}` built from {} {} (the upload of {name})",
                    src.describe(),
                    suite.name,
                    first.source_package,
                    first.source_version
                ))
            })?;
        resolved.push(r);
    }
    let mut out = Vec::new();
    for r in resolved {
        let deb = archive.download(&r)?;
        out.push(Package {
            name: r.name.clone(),
            version: Some(r.version.clone()),
            sha256: Some(r.sha256.clone()),
            source: format!("apt:{}={}@{}", r.name, r.version, suite.name),
            source_package: Some(r.source_package.clone()),
            origin: archive.origin(),
            archive: Some(archive.clone()),
            source_version: Some(r.source_version.clone()),
            deb: Some(deb),
        });
    }
    Ok(out)
}

/// An archive error with the argument it came from in front.
fn named(src: &PackageSource, e: VerifyError) -> VerifyError {
    match e {
        VerifyError::Packages(m) => VerifyError::Packages(format!("{}: {m}", src.describe())),
        e => e,
    }
}

fn debs_in(dir: &Path) -> Result<Vec<PathBuf>, VerifyError> {
    let mut debs = Vec::new();
    for entry in crate::fsx::read_dir(dir)? {
        let entry = entry.map_err(|source| crate::fsx::FsError { op: "list", path: dir.into(), source })?;
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "deb") {
            debs.push(p);
        }
    }
    debs.sort();
    Ok(debs)
}

/// What a .deb's control file says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DebIdentity {
    name: String,
    version: String,
    source_package: String,
}

fn deb_identity(deb: &Path) -> Result<DebIdentity, VerifyError> {
    let out = Cmd::new("dpkg-deb").arg("-f").arg(deb).args(["Package", "Version", "Source"]).read()?;
    let field = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_string()))
    };
    match (field("Package"), field("Version")) {
        (Some(name), Some(version)) => {
            let source_package = field("Source").map(|s| source_name(&s)).unwrap_or_else(|| name.clone());
            Ok(DebIdentity { name, version, source_package })
        }
        _ => Err(VerifyError::Packages(format!("{}: no Package/Version in its control file", deb.display()))),
    }
}

/// `Source: cinder (1:2014.1.5-0ubuntu2)` names the source package `cinder` (the version in
/// parentheses is there when it differs from the binary's, Policy 5.6.1).
fn source_name(field: &str) -> String {
    field.split_whitespace().next().unwrap_or_default().to_string()
}

/// A dir that holds two versions of one package is two builds mixed: which of them would be
/// tested depends on the order dpkg sees them, so it is refused.
fn refuse_two_versions(dir: &Path, debs: &[(PathBuf, DebIdentity)]) -> Result<(), VerifyError> {
    for (i, (path, id)) in debs.iter().enumerate() {
        if let Some((other, o)) = debs[..i].iter().find(|(_, o)| o.name == id.name && o.version != id.version)
        {
            return Err(VerifyError::Packages(format!(
                "{}: holds two versions of `{}`: {} ({}) and {} ({}); give a dir with one build",
                dir.display(),
                id.name,
                o.version,
                file_name(other),
                id.version,
                file_name(path)
            )));
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The source package a `srukit build` output dir says it built (`manifest.json`'s `source`).
fn manifest_source(dir: &Path) -> Result<Option<String>, VerifyError> {
    let manifest = dir.join("manifest.json");
    let Some(bytes) = crate::fsx::read_optional(&manifest)? else { return Ok(None) };
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::Packages(format!("{}: {e}", manifest.display())))?;
    Ok(doc["source"].as_str().map(str::to_string))
}

/// Fills in what an `apt:` package is from the image's own dpkg database (no testbed needed):
/// `apt:` means the package the image carries, so its version and source package are known
/// before any run, and a version the image does not carry is bad input now, not an error
/// after every testbed started.
pub fn resolve_in_image(
    packages: &mut [Package],
    image_root: &Path,
    image_name: &str,
) -> Result<(), VerifyError> {
    let admindir = image_root.join("var/lib/dpkg");
    resolve_with(packages, image_name, &mut |name| {
        let out = Cmd::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["-W", QUERY_FORMAT, name])
            .output_unchecked()?;
        Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
    })
}

/// What `resolve_in_image` asks dpkg-query of each package.
const QUERY_FORMAT: &str = "-f=${db:Status-Abbrev}\t${Version}\t${source:Package}";

/// `resolve_in_image` for a testbed with no image on the host (a virt server's): dpkg-query
/// runs inside it.
pub fn resolve_in_testbed(
    packages: &mut [Package],
    tb: &mut dyn crate::testbed::Testbed,
    image_name: &str,
) -> Result<(), VerifyError> {
    resolve_with(packages, image_name, &mut |name| {
        let out = tb.exec(&crate::testbed::ExecRequest::new(["dpkg-query", "-W", QUERY_FORMAT, name]))?;
        Ok((out.success(), out.stdout_str()))
    })
}

/// Asks dpkg-query about one package: did it succeed, and its output.
type DpkgQuery<'a> = dyn FnMut(&str) -> Result<(bool, String), VerifyError> + 'a;

/// Fills in each `apt:` package's version and source from `query` (dpkg-query's success
/// and its `QUERY_FORMAT` line).
fn resolve_with(
    packages: &mut [Package],
    image_name: &str,
    query: &mut DpkgQuery<'_>,
) -> Result<(), VerifyError> {
    for p in packages.iter_mut().filter(|p| p.deb.is_none()) {
        let (ok, text) = query(&p.name)?;
        let mut fields = text.split('\t');
        let (status, version, source) =
            (fields.next().unwrap_or("").trim(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if !ok || status != "ii" || version.is_empty() {
            return Err(VerifyError::Packages(format!(
                "{}: the image {image_name} does not carry package `{}` (an apt: package is the one the image has installed)",
                p.source, p.name
            )));
        }
        if let Some(want) = &p.version
            && want != version
        {
            return Err(VerifyError::Packages(format!(
                "{}: the image {image_name} carries {} {version}, not {want}",
                p.source, p.name
            )));
        }
        p.version = Some(version.to_string());
        p.source_package = Some(if source.is_empty() { p.name.clone() } else { source.to_string() });
    }
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String, VerifyError> {
    Ok(crate::digest::sha256_file(path)?.1)
}

/// A build output dir says what it made; a .deb whose bytes differ from its manifest was
/// changed after the build, and verifying it would prove nothing about the upload.
fn check_against_manifest(dir: &Path, deb: &Path, sha256: &str) -> Result<(), VerifyError> {
    let manifest = dir.join("manifest.json");
    let Some(bytes) = crate::fsx::read_optional(&manifest)? else { return Ok(()) };
    let doc: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::Packages(format!("{}: {e}", manifest.display())))?;
    let file_name = deb.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let listed = doc["files"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["name"].as_str() == Some(file_name.as_str()));
    match listed.and_then(|f| f["sha256"].as_str()) {
        Some(want) if want == sha256 => Ok(()),
        Some(want) => Err(VerifyError::Packages(format!(
            "{}: sha256 {sha256} differs from {} ({want})",
            deb.display(),
            manifest.display()
        ))),
        None => {
            Err(VerifyError::Packages(format!("{}: not listed in {}", deb.display(), manifest.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sources() {
        let apt = |name: &str, version: Option<&str>, suite: Option<&str>| PackageSource::Apt {
            name: name.into(),
            version: version.map(Into::into),
            suite: suite.map(|s| Suite::parse(s).unwrap()),
        };
        for (arg, want) in [
            ("apt:tgt=1:1.0.85-1", apt("tgt", Some("1:1.0.85-1"), None)),
            ("apt:tgt", apt("tgt", None, None)),
            ("apt:tgt@bookworm-security", apt("tgt", None, Some("bookworm-security"))),
            (
                "apt:tgt=1:1.0.85-1+deb12u1@bookworm-security",
                apt("tgt", Some("1:1.0.85-1+deb12u1"), Some("bookworm-security")),
            ),
            ("apt:libstdc++6@bookworm", apt("libstdc++6", None, Some("bookworm"))),
            ("out/after", PackageSource::Dir("out/after".into())),
        ] {
            let got = PackageSource::parse(arg).unwrap();
            assert_eq!(got, want, "{arg}");
            assert_eq!(got.describe(), arg);
        }
        assert_eq!(apt("a1", None, Some("bookworm-proposed-updates")).provenance(), Provenance::Proposed);
        assert_eq!(apt("a1", None, None).provenance(), Provenance::TestbedImage);
    }

    #[test]
    fn bad_sources_are_refused_naming_the_argument() {
        for (arg, needle) in [
            ("apt:tgt@bokworm", "`bokworm` is not a Debian or Ubuntu series"),
            ("apt:tgt@bookworm-proposed", "bookworm-proposed-updates"),
            ("apt:Tgt@bookworm", "`Tgt` is not a package name"),
            ("apt:@bookworm", "`` is not a package name"),
            ("apt:tgt=@bookworm", "is not a package version"),
            ("apt:tgt=1:x y", "is not a package version"),
        ] {
            let err = PackageSource::parse(arg).unwrap_err();
            assert!(matches!(err, VerifyError::Usage(_)), "{arg}: {err:?}");
            let err = err.to_string();
            assert!(err.contains(&format!("`{arg}`")) && err.contains(needle), "{arg}: {err}");
        }
    }

    #[test]
    fn source_names_drop_their_version() {
        assert_eq!(source_name("cinder"), "cinder");
        assert_eq!(source_name("cinder (1:2014.1.5-0ubuntu2)"), "cinder");
    }

    #[test]
    fn two_versions_of_one_package_are_refused_naming_both() {
        let id =
            |n: &str, v: &str| DebIdentity { name: n.into(), version: v.into(), source_package: "s".into() };
        let one = [
            (PathBuf::from("d/a_1_all.deb"), id("a", "1")),
            (PathBuf::from("d/b_1_all.deb"), id("b", "1")),
            (PathBuf::from("d/a_1_i386.deb"), id("a", "1")),
        ];
        assert!(refuse_two_versions(Path::new("d"), &one).is_ok());
        let two =
            [(PathBuf::from("d/a_1_all.deb"), id("a", "1")), (PathBuf::from("d/a_2_all.deb"), id("a", "2"))];
        let err = refuse_two_versions(Path::new("d"), &two).unwrap_err().to_string();
        assert!(err.contains("two versions of `a`: 1 (a_1_all.deb) and 2 (a_2_all.deb)"), "{err}");
    }

    #[test]
    fn a_dir_without_the_package_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(&PackageSource::Dir(dir.path().into()), &["cinder-volume".into()]).unwrap_err();
        assert!(err.to_string().contains("cinder-volume"), "{err}");
    }
}
