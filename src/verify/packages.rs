//! The packages under test for one side: a `srukit build` output dir (its manifest.json),
//! a dir of .debs, or `apt:NAME[=VERSION]` from the mirror. Resolved on the host into files
//! with name, version, source package and sha256, so the result can say exactly what was
//! tested; and the update rule: every after package is its before package's source, newer.

use std::path::{Path, PathBuf};

use crate::process::Cmd;
use crate::verify::VerifyError;
use crate::verify::result::PackageUnderTest;

/// What the user named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// A build output dir (with manifest.json) or any dir of .deb files.
    Dir(PathBuf),
    /// A package from the mirror: used as the image has it, or fetched with `apt-get download`.
    Apt { name: String, version: Option<String> },
}

impl PackageSource {
    /// Where packages from this source come from, as the SRU rules count it.
    pub fn provenance(&self) -> crate::verify::result::Provenance {
        use crate::verify::result::Provenance;
        match self {
            PackageSource::Dir(_) => Provenance::LocalBuild,
            PackageSource::Apt { .. } => Provenance::TestbedImage,
        }
    }

    pub fn parse(arg: &str) -> PackageSource {
        match arg.strip_prefix("apt:") {
            Some(spec) => match spec.split_once('=') {
                Some((n, v)) => PackageSource::Apt { name: n.to_string(), version: Some(v.to_string()) },
                None => PackageSource::Apt { name: spec.to_string(), version: None },
            },
            None => PackageSource::Dir(PathBuf::from(arg)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            PackageSource::Dir(d) => d.display().to_string(),
            PackageSource::Apt { name, version: Some(v) } => format!("apt:{name}={v}"),
            PackageSource::Apt { name, version: None } => format!("apt:{name}"),
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
}

impl Package {
    pub fn under_test(&self) -> PackageUnderTest {
        PackageUnderTest {
            name: self.name.clone(),
            version: self.version.clone().unwrap_or_default(),
            file: self.deb.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            sha256: self.sha256.clone().unwrap_or_default(),
            source: self.source.clone(),
        }
    }
}

/// Resolves a side's source into the packages the plan installs (`install` names; all .debs
/// in the dir when the plan names none).
pub fn resolve(src: &PackageSource, install: &[String]) -> Result<Vec<Package>, VerifyError> {
    match src {
        PackageSource::Apt { name, version } => Ok(vec![Package {
            name: name.clone(),
            version: version.clone(),
            deb: None,
            sha256: None,
            source: src.describe(),
            source_package: None,
        }]),
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
    for p in packages.iter_mut().filter(|p| p.deb.is_none()) {
        let out = Cmd::new("dpkg-query")
            .arg(format!("--admindir={}", admindir.display()))
            .args(["-W", "-f=${db:Status-Abbrev}\t${Version}\t${source:Package}", &p.name])
            .output_unchecked()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut fields = text.split('\t');
        let (status, version, source) =
            (fields.next().unwrap_or("").trim(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if !out.status.success() || status != "ii" || version.is_empty() {
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
        assert_eq!(
            PackageSource::parse("apt:tgt=1:1.0.85-1"),
            PackageSource::Apt { name: "tgt".into(), version: Some("1:1.0.85-1".into()) }
        );
        assert_eq!(PackageSource::parse("apt:tgt"), PackageSource::Apt { name: "tgt".into(), version: None });
        assert_eq!(PackageSource::parse("out/after"), PackageSource::Dir("out/after".into()));
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
