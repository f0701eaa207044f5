//! Check families: each observes one kind of object in a running testbed and says which of
//! its check's outcomes matched, with the evidence verbatim. The engine knows them only
//! through [`Family`]; a new family is one file here plus one line in [`build`].
//! Reads the plan's checks; writes nothing (the run records the observations).

use std::collections::BTreeMap;
use std::path::Path;

use crate::testbed::{ExecOutput, ExecRequest, MemCgroup, Testbed};
use crate::verify::plan::{Check, CheckSpec, Plan};
use crate::verify::result::{InstalledPackage, Side};

mod command;
pub mod dep8;
mod file;
pub mod iscsi;
mod log;
pub use log::size as log_size;
pub mod matchers;
mod package;
mod port;
mod service;

use matchers::Matchers;

/// What a family observes with: the run's testbed and variables, and what is under test.
pub struct Ctx<'a> {
    pub tb: &'a mut dyn Testbed,
    /// This run's `${...}`.
    pub vars: &'a BTreeMap<String, String>,
    pub side: Side,
    /// What dpkg-query said is installed of the packages under test, for this side.
    pub under_test: &'a [InstalledPackage],
    pub log_dir: &'a Path,
}

/// One observation of one check at one observation point.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The one outcome that matched; `None`: none did (`unmatched`, a failure).
    pub outcome: Option<String>,
    /// One line in words for the reports.
    pub observed: String,
    /// Which matchers held and which failed, outcome by outcome.
    pub why: String,
    /// Verbatim and bounded: argv, exit/signal, stdout/stderr excerpts, paths, sha256, plus
    /// `object` (what was observed) and `under_test` (what the plan made) for the binding rule
    /// (`verdict::object_problem`).
    pub evidence: serde_json::Value,
    /// A measurement between thresholds (the iscsi family's data-at-risk): never a pass.
    pub inconclusive: bool,
}

pub trait Family {
    /// Observe the check's object in the testbed. Err = could not observe: an `error`.
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String>;
}

/// What a run set up that families need besides the plan.
pub struct Setup<'a> {
    pub plan: &'a Plan,
    /// Each log check's file (expanded) -> its size when the phase began.
    pub log_start: &'a BTreeMap<String, u64>,
    /// The legacy `[daemon]`'s memory cgroup, when the plan has one (iscsi data-at-risk).
    pub daemon_cgroup: Option<&'a MemCgroup>,
}

/// The family object of one check.
pub fn build<'a>(check: &'a Check, setup: &Setup<'a>) -> Box<dyn Family + 'a> {
    match &check.spec {
        CheckSpec::Command(spec) => Box::new(command::Command { check, spec }),
        CheckSpec::File(spec) => Box::new(file::File { check, spec }),
        CheckSpec::Package(spec) => Box::new(package::Package { check, spec }),
        CheckSpec::Port(listen) => Box::new(port::Port { check, listen }),
        CheckSpec::Log(spec) => Box::new(log::Log { check, spec, start: setup.log_start }),
        CheckSpec::Service(spec) => Box::new(service::Service { check, spec }),
        CheckSpec::Iscsi(kind) => {
            Box::new(iscsi::Iscsi { kind: *kind, plan: setup.plan, cgroup: setup.daemon_cgroup })
        }
    }
}

/// Tries every outcome of `check` with `holds` (which notes each matcher in its `why`):
/// the one that matched, and why, outcome by outcome. Two matching is an error, even
/// though the loader proved them exclusive (defence in depth: a matcher's meaning can
/// surprise, and two names for one observation say nothing).
pub(crate) fn select(
    check: &Check,
    mut holds: impl FnMut(&Matchers, &mut Vec<String>) -> bool,
) -> Result<(Option<String>, String), String> {
    let mut matched = Vec::new();
    let mut why = Vec::new();
    for o in &check.outcomes {
        let mut notes = Vec::new();
        if holds(&o.matchers, &mut notes) {
            matched.push(o.name.clone());
        }
        why.push(format!("{}: {}", o.name, notes.join(", ")));
    }
    let why = why.join("; ");
    match matched.as_slice() {
        [] => Ok((None, why)),
        [one] => Ok((Some(one.clone()), why)),
        many => Err(format!(
            "outcomes {} of check `{}` all matched one observation ({why}): the plan's outcomes are not exclusive",
            many.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(" and "),
            check.id
        )),
    }
}

/// Runs a command in the testbed; a non-zero exit is an output, a failure to run an error.
pub(crate) fn exec(tb: &mut dyn Testbed, req: &ExecRequest) -> Result<ExecOutput, String> {
    tb.exec(req).map_err(|e| format!("`{}`: {e}", req.argv.join(" ")))
}

/// A POSIX sh script as an exec request: `sh -c SCRIPT sh ARGS...`.
pub(crate) fn script(script: &str, args: &[&str]) -> ExecRequest {
    let mut argv = vec!["sh".to_string(), "-c".into(), script.to_string(), "sh".into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    ExecRequest::new(argv)
}

/// The outcome's matchers in words, for the `expected` column.
pub fn describe(m: &Matchers) -> String {
    let mut w: Vec<String> = Vec::new();
    if let Some(e) = &m.exit {
        w.push(format!("exit {}", e.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("|")));
    }
    if let Some(s) = m.signal {
        w.push(format!("signal {}", matchers::signal_name(s)));
    }
    let pats = |what: &str, ps: &[matchers::Pattern], w: &mut Vec<String>| {
        w.extend(ps.iter().map(|p| format!("{what} {p}")));
    };
    pats("stdout", &m.stdout, &mut w);
    pats("stderr", &m.stderr, &mut w);
    let flag = |what: &str, v: Option<bool>, w: &mut Vec<String>| {
        if let Some(v) = v {
            w.push(if v { what.to_string() } else { format!("not {what}") });
        }
    };
    flag("exists", m.exists, &mut w);
    if let Some(mode) = m.mode {
        w.push(format!("mode {mode:04o}"));
    }
    if let Some(o) = &m.owner {
        w.push(format!("owner {o}"));
    }
    pats("contents", &m.contents, &mut w);
    if let Some(h) = &m.sha256 {
        w.push(format!("sha256 {h}"));
    }
    flag("installed", m.installed, &mut w);
    if let Some(v) = &m.version {
        w.push(format!("version {v}"));
    }
    flag("listening", m.listening, &mut w);
    pats("contains", &m.contains, &mut w);
    flag("active", m.active, &mut w);
    flag("enabled", m.enabled, &mut w);
    flag("restarted", m.restarted, &mut w);
    w.join(", ")
}
