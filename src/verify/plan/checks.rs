//! A plan's checks, validated: `[[check]]` entries (an id, one family, outcomes whose
//! matchers belong to that family and are provably mutually exclusive) and the legacy
//! `[checks]` table (the iscsi family's built-in checks, ids `target-file`, `wce`, ...).

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;
use toml::Spanned;

use super::raw::{
    CommandSpec, Dep8Spec, FileSpec, IscsiChecks, LogSpec, PackageSpec, RawCheck, RawPlan, ServiceSpec,
};
use super::{Loc, PlanError, duration};
use crate::verify::families::matchers::{self, Matchers};
use crate::verify::result::IscsiCheck;

/// One check of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Unique in the plan, `[a-z0-9-]+`: the expectation rows and the results name it.
    pub id: String,
    pub spec: CheckSpec,
    /// The outcomes the plan declared (none for the iscsi family: its are built in).
    pub outcomes: Vec<OutcomeDef>,
    /// Where the check is declared (1-based line).
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckSpec {
    Command(CommandSpec),
    File(FileSpec),
    Package(PackageSpec),
    Port(Listen),
    Log(LogSpec),
    Service(ServiceSpec),
    Iscsi(IscsiCheck),
}

/// A dep8 check: the package's own autopkgtests, run on the host once per side (never
/// observed in a (side, phase) run, so apart from [`Check`]); its outcomes are fixed
/// (`pass | fail | skip | neutral` per test) and it takes no expectation.
#[derive(Debug, Clone, Serialize)]
pub struct Dep8Check {
    pub id: String,
    pub spec: Dep8Spec,
    #[serde(skip)]
    pub line: usize,
}

/// One parsed `[[check]]`: observed in the runs, or the dep8 gate.
enum Parsed {
    Check(Check, u64),
    Dep8(Dep8Check),
}

impl CheckSpec {
    pub fn family(&self) -> &'static str {
        match self {
            CheckSpec::Command(_) => "command",
            CheckSpec::File(_) => "file",
            CheckSpec::Package(_) => "package",
            CheckSpec::Port(_) => "port",
            CheckSpec::Log(_) => "log",
            CheckSpec::Service(_) => "service",
            CheckSpec::Iscsi(_) => "iscsi",
        }
    }
}

/// The matcher keys each generic family takes.
fn family_keys(family: &str) -> &'static [&'static str] {
    match family {
        "command" => &["exit", "signal", "stdout", "stderr"],
        "file" => &["exists", "mode", "owner", "contents", "sha256"],
        "package" => &["installed", "version"],
        "port" => &["listening"],
        "log" => &["contains"],
        "service" => &["active", "enabled", "restarted"],
        _ => &[],
    }
}

/// The iscsi family's built-in outcomes (today's four checks' values).
pub fn iscsi_outcomes(kind: IscsiCheck) -> &'static [&'static str] {
    match kind {
        IscsiCheck::TargetFile => &["on", "off", "absent"],
        IscsiCheck::Wce | IscsiCheck::ODirect => &["on", "off"],
        IscsiCheck::DataAtRisk => &["at-risk", "safe"],
    }
}

/// One named outcome of a generic check.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeDef {
    pub name: String,
    pub matchers: Matchers,
    #[serde(skip)]
    pub line: usize,
}

impl Check {
    pub fn family(&self) -> &'static str {
        self.spec.family()
    }

    /// The outcome names an expectation may give.
    pub fn outcome_names(&self) -> Vec<&str> {
        match &self.spec {
            CheckSpec::Iscsi(kind) => iscsi_outcomes(*kind).to_vec(),
            _ => self.outcomes.iter().map(|o| o.name.as_str()).collect(),
        }
    }

    pub fn iscsi(&self) -> Option<IscsiCheck> {
        match self.spec {
            CheckSpec::Iscsi(k) => Some(k),
            _ => None,
        }
    }
}

/// `tcp:53`, `udp:127.0.0.1:53`, `tcp:[::1]:8080`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listen {
    pub proto: String,
    pub addr: Option<IpAddr>,
    pub port: u16,
}

impl Listen {
    pub fn parse(s: &str) -> Result<Listen, String> {
        let bad = || format!("listen `{s}`: want tcp:PORT, udp:PORT or tcp:ADDRESS:PORT");
        let (proto, rest) = s.split_once(':').ok_or_else(bad)?;
        if proto != "tcp" && proto != "udp" {
            return Err(bad());
        }
        let (addr, port) = match rest.rsplit_once(':') {
            Some((a, p)) => {
                let a = a.trim_start_matches('[').trim_end_matches(']');
                (Some(a.parse::<IpAddr>().map_err(|_| bad())?), p)
            }
            None => (None, rest),
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?;
        Ok(Listen { proto: proto.to_string(), addr, port })
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            Some(IpAddr::V6(a)) => write!(f, "{}:[{a}]:{}", self.proto, self.port),
            Some(a) => write!(f, "{}:{a}:{}", self.proto, self.port),
            None => write!(f, "{}:{}", self.proto, self.port),
        }
    }
}

/// The legacy `[checks]` table, in the order srukit always ran them.
fn iscsi_kinds(c: &IscsiChecks) -> Vec<IscsiCheck> {
    let mut out = Vec::new();
    if c.target_file.is_some() {
        out.push(IscsiCheck::TargetFile);
    }
    if c.wce.is_some() {
        out.push(IscsiCheck::Wce);
    }
    if c.o_direct.is_some() {
        out.push(IscsiCheck::ODirect);
    }
    if c.data_at_risk.is_some() {
        out.push(IscsiCheck::DataAtRisk);
    }
    out
}

/// Every check of the plan: the legacy `[checks]` first, then `[[check]]` in file order.
/// Returns them with the data-at-risk write size (0: no such check) and the dep8 checks.
pub fn checks(loc: &Loc, raw: &RawPlan) -> Result<(Vec<Check>, u64, Vec<Dep8Check>), PlanError> {
    let mut out = Vec::new();
    let mut mib = 0;
    if let Some(legacy) = &raw.checks {
        let line = loc.line(super::spans::table_header(loc.text, "checks").unwrap_or(0));
        let kinds = iscsi_kinds(legacy);
        if kinds.is_empty() {
            return Err(
                loc.at_line(line, "[checks] names no check: a plan that checks nothing proves nothing")
            );
        }
        if let Some(d) = &legacy.data_at_risk {
            mib = d.mib;
        }
        out.extend(kinds.into_iter().map(|k| Check {
            id: k.as_str().to_string(),
            spec: CheckSpec::Iscsi(k),
            outcomes: Vec::new(),
            line,
        }));
    }
    let mut seen: BTreeSet<String> = out.iter().map(|c| c.id.clone()).collect();
    let mut dep8 = Vec::new();
    for rc in &raw.check {
        if !seen.insert(rc.id.get_ref().clone()) {
            return Err(loc.at(rc.id.span().start, format!("check `{}` is declared twice", rc.id.get_ref())));
        }
        match check(loc, rc)? {
            Parsed::Check(check, m) => {
                mib = mib.max(m);
                out.push(check);
            }
            Parsed::Dep8(d) => dep8.push(d),
        }
    }
    if out.is_empty() {
        return Err(loc.at_line(
            1,
            if dep8.is_empty() {
                "the plan declares no check ([[check]]): a plan that checks nothing proves nothing"
            } else {
                "the plan declares no check ([[check]]) besides its dep8 gate: the gate finds regressions, only a check of the bug verifies the fix"
            },
        ));
    }
    Ok((out, mib, dep8))
}

fn check(loc: &Loc, rc: &RawCheck) -> Result<Parsed, PlanError> {
    let id = rc.id.get_ref();
    let at = rc.id.span().start;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(loc.at(at, format!("check id `{id}`: use lowercase letters, digits and `-`")));
    }
    let mut families: Vec<(&str, usize)> = Vec::new();
    let mut note = |name: &'static str, span: Option<std::ops::Range<usize>>| {
        if let Some(s) = span {
            families.push((name, s.start));
        }
    };
    note("command", rc.command.as_ref().map(Spanned::span));
    note("file", rc.file.as_ref().map(Spanned::span));
    note("package", rc.package.as_ref().map(Spanned::span));
    note("port", rc.port.as_ref().map(Spanned::span));
    note("log", rc.log.as_ref().map(Spanned::span));
    note("service", rc.service.as_ref().map(Spanned::span));
    note("iscsi", rc.iscsi.as_ref().map(Spanned::span));
    note("dep8", rc.dep8.as_ref().map(Spanned::span));
    families.sort_by_key(|f| f.1);
    let (family, family_at) = match families.as_slice() {
        [one] => *one,
        [] => {
            return Err(loc.at(
                at,
                format!(
                    "check `{id}` names no family: give one of command, file, package, port, log, service, iscsi, dep8"
                ),
            ));
        }
        [a, b, ..] => {
            return Err(loc.at(
                b.1,
                format!("check `{id}` names two families (`{}` and `{}`): one check, one family", a.0, b.0),
            ));
        }
    };
    let mut mib = 0;
    let spec = match family {
        "command" => {
            let c = rc.command.as_ref().expect("noted").get_ref().clone();
            match (&c.run, &c.sh) {
                (Some(argv), None) if !argv.is_empty() => {}
                (None, Some(sh)) if !sh.trim().is_empty() => {}
                _ => {
                    return Err(loc.at(
                        family_at,
                        format!(
                            "check `{id}`: `command` takes exactly one of `run` (a non-empty argv) or `sh`"
                        ),
                    ));
                }
            }
            if let Some(t) = &c.timeout {
                duration(t).map_err(|e| loc.at(family_at, format!("check `{id}`: {e}")))?;
            }
            CheckSpec::Command(c)
        }
        "file" => CheckSpec::File(rc.file.as_ref().expect("noted").get_ref().clone()),
        "package" => CheckSpec::Package(rc.package.as_ref().expect("noted").get_ref().clone()),
        "port" => CheckSpec::Port(
            Listen::parse(&rc.port.as_ref().expect("noted").get_ref().listen)
                .map_err(|e| loc.at(family_at, format!("check `{id}`: {e}")))?,
        ),
        "log" => CheckSpec::Log(rc.log.as_ref().expect("noted").get_ref().clone()),
        "service" => CheckSpec::Service(rc.service.as_ref().expect("noted").get_ref().clone()),
        "dep8" => {
            let d = rc.dep8.as_ref().expect("noted").get_ref().clone();
            dep8(loc, id, family_at, &d)?;
            if let Some((name, _)) = rc.outcomes.iter().next() {
                return Err(loc.at(
                    name.span().start,
                    format!(
                        "check `{id}`: a dep8 check's outcomes are fixed (pass, fail, skip, neutral per test); it takes no `outcomes`"
                    ),
                ));
            }
            return Ok(Parsed::Dep8(Dep8Check { id: id.clone(), spec: d, line: loc.line(at) }));
        }
        _ => {
            let i = rc.iscsi.as_ref().expect("noted").get_ref();
            let kinds = iscsi_kinds(i);
            let [kind] = kinds.as_slice() else {
                return Err(loc.at(
                    family_at,
                    format!(
                        "check `{id}`: `iscsi` takes exactly one of target-file, wce, o-direct, data-at-risk"
                    ),
                ));
            };
            mib = i.data_at_risk.as_ref().map(|d| d.mib).unwrap_or(0);
            CheckSpec::Iscsi(*kind)
        }
    };
    if family == "iscsi" {
        if let Some((name, _)) = rc.outcomes.iter().next() {
            return Err(loc.at(
                name.span().start,
                format!(
                    "check `{id}`: the iscsi family's outcomes are built in ({}); it takes no `outcomes`",
                    {
                        let CheckSpec::Iscsi(k) = &spec else { unreachable!("iscsi") };
                        iscsi_outcomes(*k).join(", ")
                    }
                ),
            ));
        }
        return Ok(Parsed::Check(
            Check { id: id.clone(), spec, outcomes: Vec::new(), line: loc.line(at) },
            mib,
        ));
    }
    if rc.outcomes.is_empty() {
        return Err(loc.at(
            at,
            format!("check `{id}` declares no outcomes: give `outcomes.NAME = {{ ... }}` for each result it can have"),
        ));
    }
    let allowed = family_keys(family);
    let mut outcomes = Vec::new();
    for (name, m) in &rc.outcomes {
        let o_at = name.span().start;
        let n = name.get_ref();
        if n.is_empty()
            || n == "unmatched"
            || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(loc.at(
                o_at,
                format!("check `{id}`: outcome name `{n}`: use letters, digits, `-`, `_` (not `unmatched`)"),
            ));
        }
        let keys = m.get_ref().keys();
        if keys.is_empty() {
            return Err(loc
                .at(o_at, format!("outcome `{n}` of check `{id}` has no matcher: it would match anything")));
        }
        if let Some(k) = keys.iter().find(|k| !allowed.contains(k)) {
            return Err(loc.at(
                o_at,
                format!(
                    "outcome `{n}` of check `{id}`: `{k}` is not a {family} matcher ({})",
                    allowed.join(", ")
                ),
            ));
        }
        let matchers = Matchers::parse(m.get_ref())
            .map_err(|e| loc.at(o_at, format!("outcome `{n}` of check `{id}`: {e}")))?;
        outcomes.push(OutcomeDef { name: n.clone(), matchers, line: loc.line(o_at) });
    }
    // TOML tables are unordered, so "the first that matches" means nothing: every pair must
    // be provably exclusive, or one observation could be two outcomes.
    for (i, a) in outcomes.iter().enumerate() {
        for b in &outcomes[i + 1..] {
            if matchers::exclusive(&a.matchers, &b.matchers).is_none() {
                let (first, second) = if a.line <= b.line { (a, b) } else { (b, a) };
                return Err(loc.at_line(
                    second.line,
                    format!(
                        "outcomes `{}` (line {}) and `{}` (line {}) of check `{id}` can both match; make them exclusive (e.g. `!text` in one)",
                        first.name, first.line, second.name, second.line
                    ),
                ));
            }
        }
    }
    Ok(Parsed::Check(Check { id: id.clone(), spec, outcomes, line: loc.line(at) }, mib))
}

/// A dep8 check's own keys: test names as DEP-8 allows them, `src:NAME` rdepends, a duration.
fn dep8(loc: &Loc, id: &str, at: usize, d: &Dep8Spec) -> Result<(), PlanError> {
    let bad = |why: String| loc.at(at, format!("check `{id}`: dep8 {why}"));
    let mut seen = BTreeSet::new();
    for t in &d.tests {
        // DEP-8: a test name is [A-Za-z0-9+.-]+ (autopkgtest adds `/` and `_` for Test-Command
        // names it makes up, `command1`, which never need quoting).
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-_/".contains(&b)) {
            return Err(bad(format!("test name `{t}`: use letters, digits, `+`, `.`, `-`")));
        }
        if !seen.insert(t) {
            return Err(bad(format!("test `{t}` is named twice")));
        }
    }
    for r in &d.rdepends {
        let name = r
            .strip_prefix("src:")
            .ok_or_else(|| bad(format!("rdepends `{r}`: name a source package as `src:NAME`")))?;
        let ok = name.len() >= 2
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !ok {
            return Err(bad(format!(
                "rdepends `{r}`: `{name}` is not a source package name (Debian Policy 5.6.1)"
            )));
        }
    }
    if let Some(t) = &d.timeout {
        duration(t).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(Listen::parse("tcp:53").unwrap(), Listen { proto: "tcp".into(), addr: None, port: 53 });
        let l = Listen::parse("udp:127.0.0.1:53").unwrap();
        assert_eq!((l.proto.as_str(), l.addr.unwrap().to_string(), l.port), ("udp", "127.0.0.1".into(), 53));
        assert_eq!(Listen::parse("tcp:[::1]:8080").unwrap().to_string(), "tcp:[::1]:8080");
        for bad in ["53", "sctp:53", "tcp:0", "tcp:x", "tcp:1.2.3:53"] {
            assert!(Listen::parse(bad).is_err(), "{bad}");
        }
    }

    const DEP8: &str = r#"
name = "t"
testbed = "bookworm-lanes"
install = ["x"]
[[phase]]
name = "default"
[[check]]
id = "bug"
command = { run = ["x"] }
outcomes.ok = { exit = 0 }
[[check]]
id = "autopkgtests"
dep8 = { tests = ["smoke"], rdepends = ["src:yy"], timeout = "20m" }
[expect."*"."*"]
bug = "ok"
"#;

    fn parse(text: &str) -> Result<crate::verify::plan::Plan, PlanError> {
        crate::verify::plan::Plan::parse(text, std::path::Path::new("plan.toml"))
    }

    #[test]
    fn a_dep8_check_is_a_gate_apart_from_the_observed_checks() {
        let p = parse(DEP8).unwrap();
        assert_eq!(p.check_ids(), ["bug"]);
        assert_eq!(p.dep8.len(), 1);
        assert_eq!((p.dep8[0].id.as_str(), p.dep8[0].line), ("autopkgtests", 12));
        assert_eq!(p.dep8[0].spec.tests, ["smoke"]);
        assert_eq!(p.dep8[0].spec.rdepends, ["src:yy"]);
        // Every key is optional.
        let bare = DEP8.replace(r#"{ tests = ["smoke"], rdepends = ["src:yy"], timeout = "20m" }"#, "{}");
        assert!(parse(&bare).unwrap().dep8[0].spec.tests.is_empty());
    }

    #[test]
    fn dep8_refusals_name_file_and_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            // Its outcomes are fixed: no `outcomes`, no expectation row.
            (
                "timeout = \"20m\" }\n",
                "timeout = \"20m\" }\noutcomes.pass = { exit = 0 }\n",
                14,
                "outcomes are fixed",
            ),
            ("bug = \"ok\"", "bug = \"ok\"\nautopkgtests = \"pass\"", 16, "is a dep8 gate"),
            ("src:yy", "yy", 13, "name a source package as `src:NAME`"),
            ("src:yy", "src:Y_", 13, "not a source package name"),
            ("\"smoke\"]", "\"smoke\", \"smoke\"]", 13, "test `smoke` is named twice"),
            ("\"smoke\"]", "\"a b\"]", 13, "test name `a b`"),
            ("\"20m\"", "\"soon\"", 13, "duration `soon`"),
            ("rdepends", "rdepend", 13, "unknown field `rdepend`"),
            ("dep8 = {", "command = { run = [\"y\"] }\ndep8 = {", 14, "names two families"),
        ];
        for (from, to, line, needle) in cases {
            let text = DEP8.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("plan.toml:{line}:")), "{from} -> {to}: {err}");
            assert!(err.contains(needle), "{from} -> {to}: {err}");
        }
        // A gate alone verifies nothing.
        let alone = DEP8
            .replace("[[check]]\nid = \"bug\"\ncommand = { run = [\"x\"] }\noutcomes.ok = { exit = 0 }\n", "")
            .replace("bug = \"ok\"", "");
        let err = parse(&alone).unwrap_err().to_string();
        assert!(err.contains("besides its dep8 gate"), "{err}");
    }
}
