//! The matchers a generic check's outcomes are made of, and the rule that makes a plan's
//! outcomes unambiguous: goss-style text patterns (`text`, `!text`, `/re/`, `!/re/`), exit
//! status sets, signals, and the exclusivity proof the plan loader asks for. Imports nothing
//! of the plan or the engine: both use it.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// One text pattern, as goss spells it (docs/gossfile.md, "Patterns"): `text` (the text
/// contains it), `!text` (does not), `/re/` (a line matches; `^`/`$` anchor at lines), `!/re/`.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// As the plan wrote it.
    pub source: String,
    pub negated: bool,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    Contains(String),
    Regex(Regex),
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, String> {
        let (negated, body) = match source.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, source),
        };
        let test = match body.strip_prefix('/').and_then(|b| b.strip_suffix('/')) {
            Some(re) if body.len() >= 2 => {
                Test::Regex(Regex::new(&format!("(?m){re}")).map_err(|e| format!("pattern `{source}`: {e}"))?)
            }
            _ if body.is_empty() => return Err(format!("pattern `{source}` is empty")),
            _ => Test::Contains(body.to_string()),
        };
        Ok(Pattern { source: source.to_string(), negated, test })
    }

    /// The pattern without its `!`: `p` and `!p` have the same body.
    pub fn body(&self) -> &str {
        self.source.strip_prefix('!').unwrap_or(&self.source)
    }

    pub fn holds(&self, text: &str) -> bool {
        let found = match &self.test {
            Test::Contains(t) => text.contains(t.as_str()),
            Test::Regex(re) => re.is_match(text),
        };
        found != self.negated
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// `exit = 0` or `exit = [0, 1]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ExitSpec {
    One(i32),
    Any(Vec<i32>),
}

impl ExitSpec {
    pub fn codes(&self) -> Vec<i32> {
        match self {
            ExitSpec::One(c) => vec![*c],
            ExitSpec::Any(v) => v.clone(),
        }
    }
}

/// `signal = "SEGV"`, `"SIGSEGV"` or `11`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SignalSpec {
    Number(i32),
    Name(String),
}

impl SignalSpec {
    pub fn number(&self) -> Result<i32, String> {
        match self {
            SignalSpec::Number(n) => nix::sys::signal::Signal::try_from(*n)
                .map(|s| s as i32)
                .map_err(|_| format!("signal {n} is not a Linux signal")),
            SignalSpec::Name(name) => {
                let full = if name.starts_with("SIG") { name.clone() } else { format!("SIG{name}") };
                full.parse::<nix::sys::signal::Signal>()
                    .map(|s| s as i32)
                    .map_err(|_| format!("`{name}` is not a signal name (SEGV, ABRT, KILL, ...)"))
            }
        }
    }
}

/// `SIGSEGV` for 11.
pub fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n).map(|s| s.as_str().to_string()).unwrap_or(format!("signal {n}"))
}

/// What a plan may write in one outcome, every family's matchers in one table; the loader
/// refuses the ones that are not its check's family's.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatchers {
    // command
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<SignalSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Vec<String>>,
    // file
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    // package
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    // port
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listening: Option<bool>,
    // log
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<Vec<String>>,
    // service
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted: Option<bool>,
}

impl RawMatchers {
    /// The matcher keys this outcome sets.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                k.push(name)
            }
        };
        add(self.exit.is_some(), "exit");
        add(self.signal.is_some(), "signal");
        add(self.stdout.is_some(), "stdout");
        add(self.stderr.is_some(), "stderr");
        add(self.exists.is_some(), "exists");
        add(self.mode.is_some(), "mode");
        add(self.owner.is_some(), "owner");
        add(self.contents.is_some(), "contents");
        add(self.sha256.is_some(), "sha256");
        add(self.installed.is_some(), "installed");
        add(self.version.is_some(), "version");
        add(self.listening.is_some(), "listening");
        add(self.contains.is_some(), "contains");
        add(self.active.is_some(), "active");
        add(self.enabled.is_some(), "enabled");
        add(self.restarted.is_some(), "restarted");
        k
    }
}

/// An outcome's matchers, parsed: every one given must hold for the outcome to match.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Matchers {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stdout: Vec<Pattern>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stderr: Vec<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Permission bits, as octal digits parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// `user` or `user:group`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    /// An explicit version, or `*` (any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listening: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarted: Option<bool>,
}

fn patterns(list: &Option<Vec<String>>) -> Result<Vec<Pattern>, String> {
    list.iter().flatten().map(|p| Pattern::parse(p)).collect()
}

impl Matchers {
    pub fn parse(raw: &RawMatchers) -> Result<Matchers, String> {
        let mode = match &raw.mode {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|v| *v <= 0o7777)
                    .ok_or_else(|| format!("mode `{m}` is not an octal mode such as \"0644\""))?,
            ),
            None => None,
        };
        if let Some(h) = &raw.sha256
            && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(format!("sha256 `{h}` is not 64 hex digits"));
        }
        if raw.exit.as_ref().is_some_and(|e| e.codes().is_empty()) {
            return Err("exit = [] matches nothing".into());
        }
        Ok(Matchers {
            exit: raw.exit.as_ref().map(ExitSpec::codes),
            signal: raw.signal.as_ref().map(SignalSpec::number).transpose()?,
            stdout: patterns(&raw.stdout)?,
            stderr: patterns(&raw.stderr)?,
            exists: raw.exists,
            mode,
            owner: raw.owner.clone(),
            contents: patterns(&raw.contents)?,
            sha256: raw.sha256.as_ref().map(|h| h.to_ascii_lowercase()),
            installed: raw.installed,
            version: raw.version.clone(),
            listening: raw.listening,
            contains: patterns(&raw.contains)?,
            active: raw.active,
            enabled: raw.enabled,
            restarted: raw.restarted,
        })
    }

    /// Whether a file must exist for this outcome: `exists = true`, or any matcher of its
    /// attributes or contents (which a missing file does not have).
    fn file_exists(&self) -> Option<bool> {
        self.exists.or((self.mode.is_some()
            || self.owner.is_some()
            || self.sha256.is_some()
            || !self.contents.is_empty())
        .then_some(true))
    }

    /// Whether a package must be installed: `installed`, or an explicit version (not `*`).
    fn package_installed(&self) -> Option<bool> {
        self.installed.or(self.version.as_ref().filter(|v| *v != "*").map(|_| true))
    }
}

/// Why two outcomes cannot both match one observation, if the plan proves it: some field
/// conflicts. `None`: the loader refuses the pair (two matching outcomes would say nothing).
pub fn exclusive(a: &Matchers, b: &Matchers) -> Option<String> {
    if let (Some(x), Some(y)) = (&a.exit, &b.exit)
        && !x.iter().any(|c| y.contains(c))
    {
        return Some("disjoint exit statuses".into());
    }
    // A signal is seen as status 128+N (as a shell reports its child's death), so an exit
    // set and a signal conflict unless the set holds 128+N.
    for (e, s) in [(&a.exit, b.signal), (&b.exit, a.signal)] {
        if let (Some(e), Some(s)) = (e, s)
            && !e.contains(&(128 + s))
        {
            return Some("an exit status against a signal".into());
        }
    }
    if let (Some(x), Some(y)) = (a.signal, b.signal)
        && x != y
    {
        return Some("different signals".into());
    }
    for (what, x, y) in [
        ("stdout", &a.stdout, &b.stdout),
        ("stderr", &a.stderr, &b.stderr),
        ("contents", &a.contents, &b.contents),
        ("contains", &a.contains, &b.contains),
    ] {
        if let Some(p) = x.iter().find(|p| y.iter().any(|q| q.body() == p.body() && q.negated != p.negated)) {
            return Some(format!("{what} `{}` against its negation", p.body()));
        }
    }
    let bools = [
        ("exists", a.file_exists(), b.file_exists()),
        ("installed", a.package_installed(), b.package_installed()),
        ("listening", a.listening, b.listening),
        ("active", a.active, b.active),
        ("enabled", a.enabled, b.enabled),
        ("restarted", a.restarted, b.restarted),
    ];
    for (what, x, y) in bools {
        if let (Some(x), Some(y)) = (x, y)
            && x != y
        {
            return Some(format!("{what} {x} against {what} {y}"));
        }
    }
    if let (Some(x), Some(y)) = (a.mode, b.mode)
        && x != y
    {
        return Some("different modes".into());
    }
    let strings = [
        ("owner", &a.owner, &b.owner),
        ("sha256", &a.sha256, &b.sha256),
        ("version", &a.version, &b.version),
    ];
    for (what, x, y) in strings {
        if let (Some(x), Some(y)) = (x, y)
            && x != y
            && x != "*"
            && y != "*"
        {
            return Some(format!("different {what}s"));
        }
    }
    None
}

/// Checks `patterns` against `text`, noting each in `why`; true when all hold.
pub fn patterns_hold(what: &str, patterns: &[Pattern], text: &str, why: &mut Vec<String>) -> bool {
    let mut all = true;
    for p in patterns {
        let ok = p.holds(text);
        all &= ok;
        why.push(format!("{what} {p} {}", if ok { "held" } else { "did not hold" }));
    }
    all
}

/// Notes one matcher in `why`; returns whether it held.
pub fn note(why: &mut Vec<String>, ok: bool, text: String) -> bool {
    why.push(format!("{text} {}", if ok { "held" } else { "did not hold" }));
    ok
}

/// A text as evidence: whole up to `limit` bytes, else its head and tail with the number of
/// bytes left out between them (the verbatim rule, bounded).
pub fn excerpt(bytes: &[u8], limit: usize) -> String {
    if bytes.len() <= limit {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let half = limit / 2;
    format!(
        "{}\n[... {} bytes left out ...]\n{}",
        String::from_utf8_lossy(&bytes[..half]),
        bytes.len() - 2 * half,
        String::from_utf8_lossy(&bytes[bytes.len() - half..])
    )
}

/// Evidence excerpts are this long at most (head and tail).
pub const EXCERPT: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn m(toml_text: &str) -> Matchers {
        Matchers::parse(&toml::from_str::<RawMatchers>(toml_text).unwrap()).unwrap()
    }

    #[test]
    fn patterns_follow_goss() {
        let text = "warning: virtual_alias_map: unknown parameter\nok\n";
        let table: &[(&str, bool)] = &[
            ("unknown parameter", true),
            ("!unknown parameter", false),
            ("/^ok$/", true),
            ("/^warning$/", false),
            ("!/^warning$/", true),
            ("/unknown par.*/", true),
            ("nope", false),
            ("!nope", true),
            ("/", false),
        ];
        for (p, want) in table {
            assert_eq!(Pattern::parse(p).unwrap().holds(text), *want, "{p}");
        }
        assert!(Pattern::parse("/(/").unwrap_err().contains("pattern `/(/`"));
        assert!(Pattern::parse("!").is_err());
        assert_eq!(Pattern::parse("!/x/").unwrap().body(), "/x/");
    }

    #[test]
    fn signals_by_name_or_number() {
        for s in [SignalSpec::Name("SEGV".into()), SignalSpec::Name("SIGSEGV".into()), SignalSpec::Number(11)]
        {
            assert_eq!(s.number().unwrap(), 11);
        }
        assert!(SignalSpec::Name("SEGFAULT".into()).number().is_err());
        assert!(SignalSpec::Number(99).number().is_err());
        assert_eq!(signal_name(6), "SIGABRT");
    }

    /// (outcome a, outcome b, exclusive?)
    #[test]
    fn exclusivity_table() {
        let table: &[(&str, &str, bool)] = &[
            ("signal = \"SEGV\"", "exit = 0", true),
            ("signal = \"SEGV\"", "exit = [0, 139]", false),
            ("signal = \"SEGV\"", "signal = \"ABRT\"", true),
            ("signal = 11", "signal = \"SIGSEGV\"", false),
            ("exit = 0", "exit = [1, 2]", true),
            ("exit = [0, 1]", "exit = 1", false),
            ("exit = 0", "exit = 0\nstderr = [\"x\"]", false),
            ("stderr = [\"x\"]", "stderr = [\"!x\"]", true),
            ("stderr = [\"/x/\"]", "stderr = [\"!/x/\"]", true),
            ("stderr = [\"x\"]", "stdout = [\"!x\"]", false),
            ("exists = true", "exists = false", true),
            ("contents = [\"/a/\"]", "exists = false", true),
            ("contents = [\"/^ENABLED=1$/\"]", "contents = [\"/^ENABLED=0$/\"]", false),
            ("mode = \"0644\"", "mode = \"0600\"", true),
            ("sha256 = \"", "", false),
            ("installed = true", "installed = false", true),
            ("version = \"1.0\"", "installed = false", true),
            ("version = \"1.0\"", "version = \"2.0\"", true),
            ("version = \"*\"", "version = \"2.0\"", false),
            ("installed = true", "version = \"*\"", false),
            ("listening = true", "listening = false", true),
            ("contains = [\"!/warn/\"]", "contains = [\"/warn/\"]", true),
            ("active = true", "active = true\nenabled = false", false),
            ("active = true\nenabled = true", "active = true\nenabled = false", true),
            ("restarted = true", "restarted = false", true),
        ];
        for (a, b, want) in table {
            if a.starts_with("sha256") {
                let (x, y) =
                    (format!("sha256 = \"{}\"", "a".repeat(64)), format!("sha256 = \"{}\"", "b".repeat(64)));
                assert!(exclusive(&m(&x), &m(&y)).is_some());
                continue;
            }
            let got = exclusive(&m(a), &m(b));
            assert_eq!(got.is_some(), *want, "{a:?} vs {b:?}: {got:?}");
            assert_eq!(exclusive(&m(b), &m(a)).is_some(), *want, "symmetric: {b:?} vs {a:?}");
        }
    }

    #[test]
    fn bad_matcher_values_are_refused() {
        let bad = |t: &str| Matchers::parse(&toml::from_str::<RawMatchers>(t).unwrap()).unwrap_err();
        assert!(bad("mode = \"rw-r--r--\"").contains("octal"));
        assert!(bad("sha256 = \"abc\"").contains("64 hex"));
        assert!(bad("exit = []").contains("matches nothing"));
        assert!(bad("signal = \"NOPE\"").contains("not a signal"));
        assert!(toml::from_str::<RawMatchers>("exitt = 0").is_err());
    }

    #[test]
    fn excerpts_keep_head_and_tail() {
        assert_eq!(excerpt(b"short", 10), "short");
        let long = excerpt(&[b'a'; 30], 10);
        assert!(long.starts_with("aaaaa\n[... 20 bytes left out ...]\naaaaa"), "{long}");
    }
}
