//! Testbed definitions: reads `testbeds/<name>.toml` (suite, mirror, variant, packages, setup
//! commands, files) into a `Definition`, resolving the default mirror from apt's sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TestbedError;
use crate::fsx;

/// The fallback when apt's sources name no Debian mirror.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// The same for the security archive.
const DEFAULT_SECURITY: &str = "http://deb.debian.org/debian-security";

/// What an image is made of. Unknown keys are errors (a typo must not silently build a
/// different image).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// The Debian suite, e.g. `bookworm`.
    pub suite: String,
    /// The mirror; when absent, the one apt uses on this machine.
    #[serde(default)]
    pub mirror: Option<String>,
    /// mmdebstrap's `--variant` (`apt` unless said otherwise).
    #[serde(default = "default_variant")]
    pub variant: String,
    /// More apt sources: a one-line entry (`deb URI SUITE COMPONENT...`), or just a suite
    /// (`bookworm-security`), taken from the archive apt uses for it here (else Debian's), with
    /// the `main` component. E.g. the security archive a stable build needs for toolchains
    /// updated there. Not serialised when empty, so the image keys of definitions without
    /// it stay what they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Shell commands run once inside the image at build time (`chroot sh -c`).
    #[serde(default)]
    pub setup: Vec<String>,
    /// Files copied into the image: path inside -> host path (relative to the definition).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

fn default_variant() -> String {
    "apt".to_string()
}

/// A testbed behind any autopkgtest virtualisation server: `virt-server = [argv...]`
/// (relative paths resolved against the definition's folder) and optionally the `release`
/// the testbed must report in /etc/os-release. No image: srukit builds nothing for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VirtServer {
    pub virt_server: Vec<String>,
    #[serde(default)]
    pub release: Option<String>,
}

impl VirtServer {
    /// Parses a `virt-server` definition; an image key beside it is an error at its line.
    pub fn parse(text: &str, path: &Path) -> Result<VirtServer, TestbedError> {
        let at = |line: Option<usize>, msg: String| TestbedError::Definition {
            path: path.to_path_buf(),
            line,
            msg,
        };
        let v: VirtServer = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let msg = e.message().trim().to_string();
            if msg.starts_with("unknown field") {
                at(line, format!("{msg}: a `virt-server` definition takes only `virt-server` and `release` (no image keys)"))
            } else {
                at(line, msg)
            }
        })?;
        let line = key_line(text, "virt-server");
        let Some(program) = v.virt_server.first() else {
            return Err(at(
                Some(line),
                "virt-server is empty: name the server, e.g. [\"autopkgtest-virt-unshare\", ...]".into(),
            ));
        };
        let base = program.rsplit('/').next().unwrap_or(program);
        if !base.starts_with("autopkgtest-virt-") {
            return Err(at(
                Some(line),
                format!("virt-server: {program:?} is not an autopkgtest-virt-* server"),
            ));
        }
        if let Some(r) = &v.release
            && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+.~_".contains(&b)))
        {
            return Err(at(
                Some(key_line(text, "release")),
                format!("release {r:?} is not a release codename"),
            ));
        }
        Ok(v)
    }

    /// The server's argv with paths relative to `dir` (the definition's folder) made absolute:
    /// an argument naming an existing file or directory there.
    pub fn argv_in(&self, dir: &Path) -> Vec<String> {
        self.virt_server
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let p = Path::new(a);
                let rel = p.is_relative() && (a.contains('/') || i > 0) && !a.starts_with('-');
                if rel && dir.join(p).exists() {
                    std::path::absolute(dir.join(p)).unwrap_or_else(|_| dir.join(p)).display().to_string()
                } else {
                    a.clone()
                }
            })
            .collect()
    }
}

/// The 1-based line where `key = ...` stands (1 when not found).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')))
        .map_or(1, |i| i + 1)
}

/// Does a definition's text name a virt server (rather than describe an image)?
pub fn is_virt_server(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("virt-server"))
}

/// A definition of either kind, as loaded.
#[derive(Debug, Clone)]
pub enum Any {
    Image(Loaded),
    Virt { name: String, path: PathBuf, def: VirtServer },
}

/// Finds a definition of either kind by name or path.
pub fn load_any(name_or_path: &str) -> Result<Any, TestbedError> {
    let path = find_near(name_or_path, None)?;
    let text = fsx::read_to_string(&path)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if is_virt_server(&text) {
        let def = VirtServer::parse(&text, &path)?;
        return Ok(Any::Virt { name, path, def });
    }
    let def = Definition::parse(&text, &path)?;
    Ok(Any::Image(Loaded { name, path, def }))
}

/// A definition as loaded: its name, where it came from and its text.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub path: PathBuf,
    pub def: Definition,
}

impl Definition {
    /// Parses a definition's text; errors name `file:line`.
    pub fn parse(text: &str, path: &Path) -> Result<Definition, TestbedError> {
        if is_virt_server(text) {
            return Err(TestbedError::Definition {
                path: path.to_path_buf(),
                line: Some(key_line(text, "virt-server")),
                msg: "names a virt server: it has no image (srukit builds nothing for it)".into(),
            });
        }
        let def: Definition = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            TestbedError::Definition { path: path.to_path_buf(), line, msg: e.message().trim().to_string() }
        })?;
        let bad = |msg: String| TestbedError::Definition { path: path.to_path_buf(), line: None, msg };
        let word_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+.:~_".contains(&b));
        if !word_ok(&def.suite) {
            return Err(bad(format!("suite {:?} is not a suite name", def.suite)));
        }
        if let Some(p) = def.packages.iter().find(|p| !word_ok(p)) {
            return Err(bad(format!("package {p:?} is not a package name")));
        }
        if ![
            "extract",
            "custom",
            "essential",
            "apt",
            "required",
            "minbase",
            "buildd",
            "important",
            "debootstrap",
            "standard",
        ]
        .contains(&def.variant.as_str())
        {
            return Err(bad(format!("variant {:?} is not an mmdebstrap variant", def.variant)));
        }
        if let Some(m) = &def.mirror
            && !url_ok(m)
        {
            return Err(bad(format!("mirror {m:?} is not an http(s):// or file:// URL")));
        }
        if let Some(line) = def.sources.iter().find(|l| !(word_ok(l) || source_line_ok(l))) {
            return Err(bad(format!(
                "sources: {line:?} is neither a suite nor a one-line apt source (`deb http://URI SUITE COMPONENT...`)"
            )));
        }
        if let Some(inside) = def.files.keys().find(|k| !k.starts_with('/')) {
            return Err(bad(format!("files: {inside:?} must be an absolute path inside the image")));
        }
        Ok(def)
    }

    /// The mirror to use: the definition's, else apt's on this machine.
    pub fn mirror(&self) -> String {
        self.mirror
            .clone()
            .unwrap_or_else(|| apt_mirror(&self.suite).unwrap_or_else(|| DEFAULT_MIRROR.to_string()))
    }

    /// The same definition with the mirror and the suite-only sources resolved: what the
    /// image key hashes and mmdebstrap gets.
    pub fn resolved(&self) -> Definition {
        let mirror = self.mirror();
        let sources = self
            .sources
            .iter()
            .map(|s| if s.contains(' ') { s.clone() } else { source_for_suite(s, &mirror) })
            .collect();
        Definition { mirror: Some(mirror), sources, ..self.clone() }
    }
}

/// The one-line source for a suite named alone: the archive apt uses for it on this machine;
/// else Debian's security archive for `*-security`, the definition's mirror for the rest.
fn source_for_suite(suite: &str, mirror: &str) -> String {
    let uri = apt_mirror(suite).unwrap_or_else(|| {
        if suite.ends_with("-security") { DEFAULT_SECURITY.to_string() } else { mirror.to_string() }
    });
    format!("deb {uri} {suite} main")
}

/// `deb [options] URI SUITE COMPONENT...` with an http(s) or file URI: what mmdebstrap takes
/// as a further mirror argument.
fn source_line_ok(line: &str) -> bool {
    parse_deb_line(line).is_some_and(|(uri, _, components)| url_ok(uri) && !components.is_empty())
}

/// A one-line apt source, `deb [options] URI SUITE [COMPONENT...]`: its URI, suite and
/// components; `None` for anything else (deb-src, a comment, a line cut short).
fn parse_deb_line(line: &str) -> Option<(&str, &str, Vec<&str>)> {
    let mut words = line.split_whitespace();
    if words.next()? != "deb" {
        return None;
    }
    let mut uri = words.next()?;
    if uri.starts_with('[') {
        while !uri.ends_with(']') {
            uri = words.next()?;
        }
        uri = words.next()?;
    }
    let suite = words.next()?;
    Some((uri, suite, words.collect()))
}

/// The archive URLs srukit can hand to mmdebstrap.
fn url_ok(url: &str) -> bool {
    ["http://", "https://", "file://"].iter().any(|scheme| url.starts_with(scheme))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Finds a definition by name (in the testbeds directories) or by path.
pub fn load(name_or_path: &str) -> Result<Loaded, TestbedError> {
    let path = find_near(name_or_path, None)?;
    let text = fsx::read_to_string(&path)?;
    let def = Definition::parse(&text, &path)?;
    let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Loaded { name, path, def })
}

/// Where definitions are looked up by name, first match wins: `$SRUKIT_TESTBEDS`,
/// `./testbeds`, `/usr/share/srukit/testbeds` (what the srukit package installs).
pub fn search_dirs() -> Vec<PathBuf> {
    search_dirs_near(None)
}

/// As `search_dirs`, with the `testbeds/` of the repository `near` lies in (the nearest
/// ancestor holding one) right after `$SRUKIT_TESTBEDS`: a plan names the testbeds that sit
/// beside it. Never srukit's own build checkout: a path known at build time names a machine
/// the binary may not run on.
pub fn search_dirs_near(near: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("SRUKIT_TESTBEDS") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(repo) = near.and_then(repository_of) {
        dirs.push(repo.join("testbeds"));
    }
    dirs.push(PathBuf::from("testbeds"));
    dirs.push(PathBuf::from("/usr/share/srukit/testbeds"));
    dirs.dedup();
    dirs
}

/// The nearest directory at or above `path` that holds a `testbeds/` directory.
pub fn repository_of(path: &Path) -> Option<PathBuf> {
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().ok()?.join(path) };
    abs.ancestors().find(|d| d.join("testbeds").is_dir()).map(Path::to_path_buf)
}

/// The definition file a name or path means, looking beside `near`'s repository first.
pub fn find_near(name_or_path: &str, near: Option<&Path>) -> Result<PathBuf, TestbedError> {
    if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
        let p = PathBuf::from(name_or_path);
        let p = match near {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        };
        return if p.is_file() {
            Ok(p)
        } else {
            Err(TestbedError::UnknownDefinition { name: name_or_path.to_string(), searched: vec![p] })
        };
    }
    let searched: Vec<PathBuf> =
        search_dirs_near(near).into_iter().map(|d| d.join(format!("{name_or_path}.toml"))).collect();
    searched
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| TestbedError::UnknownDefinition { name: name_or_path.to_string(), searched })
}

/// The first Debian mirror apt uses for `suite` here, from deb822 `.sources` files and
/// one-line `sources.list` entries (only `Types: deb`, and not the security archive,
/// which carries no full suite).
fn apt_mirror(suite: &str) -> Option<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        let found = if f.extension().is_some_and(|e| e == "sources") {
            deb822_mirror(&text, suite)
        } else {
            one_line_mirror(&text, suite)
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn deb822_mirror(text: &str, suite: &str) -> Option<String> {
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let types = field("Types").unwrap_or_default();
        let suites = field("Suites").unwrap_or_default();
        if types.split_whitespace().any(|t| t == "deb") && suites.split_whitespace().any(|s| s == suite) {
            return field("URIs").and_then(|u| u.split_whitespace().next().map(str::to_string));
        }
    }
    None
}

fn one_line_mirror(text: &str, suite: &str) -> Option<String> {
    text.lines()
        .find_map(|l| parse_deb_line(l).filter(|(_, s, _)| *s == suite).map(|(uri, ..)| uri.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "suite = \"bookworm\"\npackages = [\"tgt\"]\npackagez = [\"x\"]\n";
        let err = Definition::parse(text, Path::new("t/x.toml")).unwrap_err();
        assert!(err.to_string().starts_with("t/x.toml:3:"), "{err}");
        assert!(err.to_string().contains("packagez"), "{err}");
    }

    #[test]
    fn defaults_and_validation() {
        let d = Definition::parse("suite = \"bookworm\"\n", Path::new("a.toml")).unwrap();
        assert_eq!(d.variant, "apt");
        assert!(d.packages.is_empty());
        let bad = Definition::parse("suite = \"bookworm\"\npackages=[\"a b\"]\n", Path::new("a.toml"));
        assert!(bad.unwrap_err().to_string().contains("\"a b\""));
        let bad = Definition::parse("suite = \"bookworm\"\nmirror=\"ftp://x\"\n", Path::new("a.toml"));
        assert!(bad.is_err());
    }

    #[test]
    fn sources_are_one_line_deb_entries() {
        let ok = |line: &str| {
            Definition::parse(&format!("suite = \"bookworm\"\nsources = [{line:?}]\n"), Path::new("a.toml"))
        };
        let d = ok("deb http://deb.debian.org/debian-security bookworm-security main").unwrap();
        assert_eq!(d.sources.len(), 1);
        assert!(ok("deb [arch=amd64 trusted=yes] file:///srv/repo ./ main").is_ok());
        // A suite alone: the archive apt uses for it here, else Debian's.
        let suite = ok("bookworm-security").unwrap().resolved();
        let line = &suite.sources[0];
        assert!(line.starts_with("deb http") && line.ends_with(" bookworm-security main"), "{line}");
        assert_eq!(
            source_for_suite("srukit-none-security", "http://m/d"),
            format!("deb {DEFAULT_SECURITY} srukit-none-security main")
        );
        assert_eq!(
            source_for_suite("srukit-none-updates", "http://m/d"),
            "deb http://m/d srukit-none-updates main"
        );
        for line in [
            "deb-src http://x/debian bookworm main",
            "deb http://x/debian bookworm",
            "http://x bookworm main",
            "deb [arch=amd64 http://x a b",
        ] {
            let err = ok(line).unwrap_err().to_string();
            assert!(err.contains("neither a suite nor a one-line apt source"), "{line}: {err}");
        }
    }

    #[test]
    fn virt_server_definitions() {
        let p = Path::new("t/v.toml");
        let v = VirtServer::parse(
            "virt-server = [\"autopkgtest-virt-unshare\", \"-t\", \"img.tar\"]\nrelease = \"bookworm\"\n",
            p,
        )
        .unwrap();
        assert_eq!(v.release.as_deref(), Some("bookworm"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("img.tar"), "").unwrap();
        let argv = v.argv_in(dir.path());
        assert_eq!(argv[..2], ["autopkgtest-virt-unshare", "-t"]);
        assert_eq!(argv[2], dir.path().join("img.tar").display().to_string(), "absolute already");
        // Mixed with image keys: an error at the image key's line.
        let err = VirtServer::parse("virt-server = [\"autopkgtest-virt-null\"]\n\nsuite = \"bookworm\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t/v.toml:3:") && err.contains("no image keys"), "{err}");
        let err = Definition::parse("suite = \"bookworm\"\nvirt-server = [\"autopkgtest-virt-null\"]\n", p)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t/v.toml:2:"), "{err}");
        for (text, want) in [
            ("virt-server = []\n", "t/v.toml:1: bad testbed definition: virt-server is empty"),
            ("virt-server = [\"sh\"]\n", "is not an autopkgtest-virt-* server"),
            ("virt-server = [\"autopkgtest-virt-null\"]\nrelease = \"a b\"\n", "t/v.toml:2:"),
        ] {
            let err = VirtServer::parse(text, p).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn mirrors_from_apt_sources() {
        let deb822 = "Types: deb-src\nURIs: http://src/\nSuites: bookworm\n\nTypes: deb\nURIs: http://m/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(deb822_mirror(deb822, "bookworm").as_deref(), Some("http://m/debian"));
        assert_eq!(deb822_mirror(deb822, "trixie"), None);
        let list = "# c\ndeb [arch=amd64] http://x/debian bookworm main\n";
        assert_eq!(one_line_mirror(list, "bookworm").as_deref(), Some("http://x/debian"));
        let list = "# deb http://old/debian bookworm main\ndeb [ arch=amd64 signed-by=/k.gpg ] http://y/debian bookworm main\n";
        assert_eq!(one_line_mirror(list, "bookworm").as_deref(), Some("http://y/debian"));
    }
}
