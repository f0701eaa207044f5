//! `srukit export dep8`: a verification plan as DEP-8 tests inside a source tree, so
//! autopkgtest, debci, Salsa CI and Ubuntu's autopkgtest-cloud run the SRU's own test plan
//! with no srukit in the testbed. Reads the plan, its testbed definition and the tree's
//! `debian/changelog` and `debian/control`; writes one POSIX sh script per phase
//! (`debian/tests/srukit-<plan>-<phase>`) and the plan's block of `debian/tests/control`.
//! Everything is compiled first; a plan that cannot be exported changes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::exit::{Exit, ExitCodeOf};
use crate::fsx::{self, FsError};
use crate::verify::plan::{CheckSpec, Plan, PlanError, spans};

mod control;
pub mod ere;
pub mod result;
#[cfg(test)]
mod runtime_tests;
mod script;
mod sh;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The plan asks for something a plain sh test cannot do as srukit does it.
    #[error("{}:{line}: {message}", path.display())]
    Refused { path: PathBuf, line: usize, message: String },
    /// The tree is not a Debian source tree the plan can be exported into.
    #[error("{}: {message}", path.display())]
    Tree { path: PathBuf, message: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl ExitCodeOf for ExportError {
    fn exit(&self) -> Exit {
        match self {
            ExportError::Fs(e) => e.exit(),
            _ => Exit::BadInput,
        }
    }
}

/// Why a part of the plan cannot be exported, at a line of the plan (0: the caller knows).
#[derive(Debug)]
pub struct Refusal {
    pub line: usize,
    pub message: String,
}

impl Refusal {
    pub fn at(line: usize, message: impl Into<String>) -> Refusal {
        Refusal { line, message: message.into() }
    }
}

/// The versions each side's exported test expects of the packages under test: the tree's
/// version (its top changelog entry: the update) and the one before it (the entry below:
/// what the update replaces).
#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub source: String,
    pub before: Option<String>,
    pub after: String,
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// More packages every exported test depends on (a tool the steps use that the testbed
    /// definition does not list).
    pub depends: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ExportedTest {
    pub name: String,
    pub phase: String,
    pub script: PathBuf,
    pub restrictions: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct ExportReport {
    pub plan: String,
    pub plan_file: PathBuf,
    pub tree: PathBuf,
    pub versions: Versions,
    pub control: PathBuf,
    pub depends: Vec<String>,
    pub tests: Vec<ExportedTest>,
    /// Scripts of an earlier export of this plan whose phase is gone.
    pub removed: Vec<PathBuf>,
}

/// DEP-8 test names are package-name characters (README.package-tests.rst).
fn test_name_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b))
}

/// Whether `plan_path` can be exported into `tree`, changing nothing (`apply --with-dep8`
/// asks before it touches the tree).
pub fn check(plan_path: &Path, tree: &Path, opts: &ExportOptions) -> Result<(), ExportError> {
    compile(plan_path, tree, opts).map(|_| ())
}

/// Exports `plan_path` into `tree`.
pub fn export(plan_path: &Path, tree: &Path, opts: &ExportOptions) -> Result<ExportReport, ExportError> {
    let c = compile(plan_path, tree, opts)?;
    fsx::create_dir_all(&c.dir)?;
    let mut tests = Vec::new();
    for (name, phase, body, restrictions) in c.scripts {
        let path = c.dir.join(&name);
        fsx::write(&path, body)?;
        use std::os::unix::fs::PermissionsExt;
        fsx::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        tests.push(ExportedTest { name, phase, script: path, restrictions });
    }
    fsx::write(&c.control_path, c.control)?;
    for s in &c.stale {
        fsx::remove_file_if_exists(s)?;
    }
    Ok(ExportReport {
        plan: c.plan,
        plan_file: plan_path.to_path_buf(),
        tree: tree.to_path_buf(),
        versions: c.versions,
        control: c.control_path,
        depends: c.depends,
        tests,
        removed: c.stale,
    })
}

/// Everything an export writes, compiled.
struct Compiled {
    plan: String,
    versions: Versions,
    depends: Vec<String>,
    dir: PathBuf,
    /// (test name, phase, script, restrictions)
    scripts: Vec<(String, String, String, Vec<&'static str>)>,
    control_path: PathBuf,
    control: String,
    stale: Vec<PathBuf>,
}

fn compile(plan_path: &Path, tree: &Path, opts: &ExportOptions) -> Result<Compiled, ExportError> {
    let plan = Plan::load(plan_path)?;
    let text = fsx::read_to_string(plan_path)?;
    let refused =
        |line: usize, message: String| ExportError::Refused { path: plan_path.into(), line, message };
    let sp: spans::Spans = toml::from_str(&text).map_err(|e| refused(1, e.to_string()))?;
    let line_of = |offset: usize| spans::line_col(&text, offset).0;

    if !test_name_ok(&plan.raw.name) {
        return Err(refused(
            key_line(&text, "name"),
            format!(
                "plan name `{}`: a DEP-8 test is named srukit-<plan>-<phase> in package-name characters (a-z, 0-9, +, ., -)",
                plan.raw.name
            ),
        ));
    }
    for (p, s) in plan.raw.phases.iter().zip(&sp.phases) {
        if !test_name_ok(&p.name) {
            return Err(refused(
                line_of(s.name.span().start),
                format!("phase name `{}`: DEP-8 test names take a-z, 0-9, +, ., -", p.name),
            ));
        }
    }
    if plan.raw.daemon.is_some() {
        return Err(refused(
            spans::table_header(&text, "daemon").map(line_of).unwrap_or(1),
            "[daemon] belongs to the iscsi family (srukit's own initiator measures it); use a `daemon` step"
                .into(),
        ));
    }
    for (s, ss) in plan.raw.steps.iter().zip(&sp.steps) {
        if s.upgrade.is_some() {
            return Err(refused(
                line_of(ss.name.span().start),
                format!(
                    "step `{}`: `upgrade` installs the before side's packages first; an autopkgtest run installs one set",
                    s.name
                ),
            ));
        }
    }
    for c in &plan.checks {
        if let CheckSpec::Iscsi(_) = c.spec {
            return Err(refused(
                c.line,
                format!(
                    "check `{}`: the iscsi family needs srukit's own iSCSI initiator and cannot run as plain sh; export a plan without it",
                    c.id
                ),
            ));
        }
    }

    let versions = tree_versions(tree)?;
    let binaries = tree_binaries(tree)?;
    if let Some(p) = plan.raw.install.iter().find(|p| !binaries.contains(p)) {
        return Err(refused(
            key_line(&text, "install"),
            format!(
                "install names `{p}`, which {} does not build ({}): the exported test tests this upload's packages",
                tree.join("debian/control").display(),
                binaries.join(", ")
            ),
        ));
    }
    let depends = depends(&plan, opts)?;

    let plan_file = plan_path.file_name().map(PathBuf::from).unwrap_or_else(|| plan_path.to_path_buf());
    let mut scripts = Vec::new();
    for (i, phase) in plan.raw.phases.iter().enumerate() {
        let test = format!("srukit-{}-{}", plan.raw.name, phase.name);
        let s = script::Script {
            plan: &plan,
            phase,
            test: test.clone(),
            plan_file: plan_file.display().to_string(),
            versions: &versions,
        };
        let body = s.render().map_err(|r| {
            let line = if r.line == 0 { line_of(sp.phases[i].name.span().start) } else { r.line };
            refused(line, r.message)
        })?;
        scripts.push((test, phase.name.clone(), body, control::restrictions(&plan, i)));
    }

    let dir = tree.join("debian/tests");
    let control_path = dir.join("control");
    let existing = match fsx::read_optional(&control_path)? {
        Some(b) => String::from_utf8(b)
            .map_err(|_| ExportError::Tree { path: control_path.clone(), message: "is not UTF-8".into() })?,
        None => String::new(),
    };
    let names: Vec<String> = scripts.iter().map(|s| s.0.clone()).collect();
    let block = control::block(&plan, &depends, &names);
    let merged = control::merge(&existing, &plan.raw.name, &block).map_err(|r| ExportError::Tree {
        path: control_path.clone(),
        message: format!("line {}: {}", r.line, r.message),
    })?;
    let stale: Vec<PathBuf> = previous_tests(&existing, &plan.raw.name)
        .into_iter()
        .filter(|t| !names.contains(t))
        .map(|t| dir.join(t))
        .collect();

    Ok(Compiled {
        plan: plan.raw.name.clone(),
        versions,
        depends,
        dir,
        scripts,
        control_path,
        control: merged,
        stale,
    })
}

/// The 1-based line of a top-level `key =` (1 when absent).
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')))
        .map_or(1, |i| i + 1)
}

/// The packages each test depends on: the packages under test (this upload's binaries),
/// then what the plan's testbed definition installs (the image the plan was written for:
/// what its steps and checks call), systemd for a service check, and `--depends`.
fn depends(plan: &Plan, opts: &ExportOptions) -> Result<Vec<String>, ExportError> {
    let mut out: Vec<String> = plan.raw.install.clone();
    if let Some(def_path) = &plan.testbed_definition {
        let text = fsx::read_to_string(def_path)?;
        let def = crate::testbed::Definition::parse(&text, def_path)
            .map_err(|e| ExportError::Tree { path: def_path.clone(), message: e.to_string() })?;
        out.extend(def.packages);
    }
    if plan.checks.iter().any(|c| matches!(c.spec, CheckSpec::Service(_))) {
        out.push("systemd".into());
    }
    out.extend(opts.depends.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// The tree's version and the one its changelog names before it.
fn tree_versions(tree: &Path) -> Result<Versions, ExportError> {
    let path = tree.join("debian/changelog");
    let text = fsx::read_to_string(&path)?;
    let cl = debian_changelog::ChangeLog::parse_relaxed(&text);
    let mut entries = cl.iter();
    let bad = |m: &str| ExportError::Tree { path: path.clone(), message: m.into() };
    let top = entries.next().ok_or_else(|| bad("has no entry"))?;
    let source = top.package().ok_or_else(|| bad("the top entry names no package"))?;
    let after = top.version().ok_or_else(|| bad("the top entry has no version"))?.to_string();
    let before = entries.next().and_then(|e| e.version()).map(|v| v.to_string());
    Ok(Versions { source, before, after })
}

/// The binary packages `debian/control` builds.
fn tree_binaries(tree: &Path) -> Result<Vec<String>, ExportError> {
    let path = tree.join("debian/control");
    let text = fsx::read_to_string(&path)?;
    let (doc, _) = deb822_lossless::Deb822::from_str_relaxed(&text);
    Ok(doc.paragraphs().filter_map(|p| p.get("Package")).map(|p| p.trim().to_string()).collect())
}

/// The tests an earlier export of `plan` listed in its block.
fn previous_tests(control: &str, plan: &str) -> Vec<String> {
    let (begin, end) = control::markers(plan);
    let mut inside = false;
    let mut out = Vec::new();
    for l in control.lines() {
        if l.trim_end() == begin {
            inside = true;
        } else if l.trim_end() == end {
            inside = false;
        } else if inside && let Some(t) = l.strip_prefix("Tests:") {
            out.extend(t.split(',').map(|t| t.trim().to_string()).filter(|t| t.starts_with("srukit-")));
        }
    }
    out
}
