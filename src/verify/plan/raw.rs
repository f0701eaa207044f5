//! The plan file's shape as serde reads it (`deny_unknown_fields` everywhere, so a typo is a
//! `file:line:col` error): the top-level keys, `[[phase]]` with its edits, `[[step]]`,
//! `[[check]]` with its family and outcomes, the legacy `[daemon]`/`[target]`/`[checks]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::verify::families::matchers::RawMatchers;
use crate::verify::result::Side;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    /// The testbed definition (`testbeds/<name>.toml`) every run starts from.
    pub testbed: String,
    /// What the plan needs from a testbed beyond a container (`init`, `network`, `machine`).
    #[serde(default)]
    pub needs: Vec<Need>,
    /// Binary packages under test, taken from each side's package set. Empty: only what the
    /// image carries (a lane that tests a distro package from the mirror uses `apt:`).
    #[serde(default)]
    pub install: Vec<String>,
    /// Which sides the plan has (default both).
    #[serde(default = "both_sides")]
    pub sides: Vec<Side>,
    #[serde(default)]
    pub lun: Option<Lun>,
    #[serde(default)]
    pub daemon: Option<Daemon>,
    #[serde(rename = "phase")]
    pub phases: Vec<RawPhase>,
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub target: Option<Target>,
    /// Legacy sugar: `[checks] wce = {}` is `[[check]] id = "wce", iscsi = { wce = {} }`.
    #[serde(default)]
    pub checks: Option<IscsiChecks>,
    #[serde(rename = "check", default)]
    pub check: Vec<RawCheck>,
    /// side (or `*`) -> phase (or `*`) -> check id -> expected outcome
    #[serde(default)]
    pub expect: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, ExpectTable>>,
    /// Values no report may show (`${name}` expands per run), beside the CHAP credentials
    /// srukit finds by itself: every occurrence in the result and the logs is redacted.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// check id -> expected outcome, each with its place in the file for errors.
pub type ExpectTable = BTreeMap<Spanned<String>, Spanned<String>>;

fn both_sides() -> Vec<Side> {
    crate::verify::plan::BOTH_SIDES.to_vec()
}

/// What a plan needs from its testbed (and what a DEP-8 export would call its restrictions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Need {
    /// A service manager as pid 1: the nspawn backend booting the image's systemd.
    Init,
    /// A kernel of its own (binfmt, modules, a VM): no srukit container gives one.
    Machine,
    /// The host's network (an archive, a remote service).
    Network,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::Init => "init",
            Need::Machine => "machine",
            Need::Network => "network",
        }
    }
}

/// The file-backed LUN that stands in for an LVM volume (no device-mapper in testbeds).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lun {
    #[serde(default = "default_lun_mib")]
    pub size_mib: u64,
}

impl Default for Lun {
    fn default() -> Self {
        Lun { size_mib: default_lun_mib() }
    }
}

fn default_lun_mib() -> u64 {
    256
}

/// The target daemon: started by srukit before the steps, alone in a memory cgroup so its
/// dirty page cache can be measured without the rest of the system's noise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    pub argv: Vec<String>,
    #[serde(default = "default_cgroup")]
    pub cgroup: String,
    /// A TCP port on 127.0.0.1 inside the testbed that answers once the daemon is ready.
    #[serde(alias = "ready-port")]
    pub ready_port: u16,
}

fn default_cgroup() -> String {
    "target-daemon".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub edits: Vec<Spanned<RawEdit>>,
    /// Extra `${name}` variables for this phase.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// One edit as written: exactly one of `file` (the legacy INI form), `ini`, `set`, `append`,
/// `write`, `remove` names the file and the kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawEdit {
    pub file: Option<String>,
    pub ini: Option<String>,
    pub set: Option<String>,
    pub append: Option<String>,
    pub write: Option<String>,
    pub remove: Option<String>,
    pub section: Option<String>,
    pub key: Option<String>,
    pub value: Option<String>,
    pub line: Option<String>,
    pub content: Option<String>,
    pub mode: Option<String>,
}

/// A step that exercises the package: exactly one of `run`, `sh`, `write`, `daemon`,
/// `upgrade`. A failing step is a run error, never an outcome.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub run: Vec<String>,
    /// A shell script, run with `sh -e -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sh: Option<String>,
    #[serde(default)]
    pub write: Option<WriteFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonStep>,
    /// Install the run's own side's packages over the before side's it started on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Empty>,
    /// Run `run`/`sh` as this user (runuser), not root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `60s`, `2m`, `500ms` (default 300s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Run the plan's checks once this step has run, besides after the last step: a plan
    /// whose package writes the target on two paths (export, then a service restart) checks
    /// what each path left behind.
    #[serde(default)]
    pub check: bool,
}

/// A file the step writes: its text inline (`content`), or read from `source`, a file beside
/// the plan (a driver script that belongs to the lane, not to the image, so changing it never
/// needs an image rebuild). Either way `content` holds the text once the plan is loaded.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    pub path: String,
    #[serde(default)]
    pub content: String,
    /// Relative to the plan's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Spanned<String>>,
    /// Octal, default 0644.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A daemon a step starts in its own memory cgroup, waited for on a port or a file (neither:
/// started is enough). Killed when the testbed closes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DaemonStep {
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, alias = "ready_port", skip_serializing_if = "Option::is_none")]
    pub ready_port: Option<u16>,
    #[serde(default, alias = "ready_file", skip_serializing_if = "Option::is_none")]
    pub ready_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Where the iscsi checks find the target the steps made.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The tgt target file, inside the testbed (`${volume_id}` expands).
    pub file: String,
    #[serde(default = "default_portal")]
    pub portal: String,
    // No `lun` number: the checks bind to the LUN tgtd serves from `${lun}`, whatever its
    // number (issue 13), so a plan that still names one is told at load.
}

fn default_portal() -> String {
    "127.0.0.1:3260".into()
}

/// The iscsi family's checks: `[checks]` (legacy, several) or `iscsi = {...}` (one).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IscsiChecks {
    #[serde(default)]
    pub target_file: Option<Empty>,
    #[serde(default)]
    pub wce: Option<Empty>,
    #[serde(default)]
    pub o_direct: Option<Empty>,
    #[serde(default)]
    pub data_at_risk: Option<DataAtRisk>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataAtRisk {
    #[serde(default = "default_write_mib")]
    pub mib: u64,
}

fn default_write_mib() -> u64 {
    200
}

/// One `[[check]]` as written: an id, exactly one family key, and the outcomes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub id: Spanned<String>,
    #[serde(default)]
    pub command: Option<Spanned<CommandSpec>>,
    #[serde(default)]
    pub file: Option<Spanned<FileSpec>>,
    #[serde(default)]
    pub package: Option<Spanned<PackageSpec>>,
    #[serde(default)]
    pub port: Option<Spanned<PortSpec>>,
    #[serde(default)]
    pub log: Option<Spanned<LogSpec>>,
    #[serde(default)]
    pub service: Option<Spanned<ServiceSpec>>,
    #[serde(default)]
    pub iscsi: Option<Spanned<IscsiChecks>>,
    #[serde(default)]
    pub dep8: Option<Spanned<Dep8Spec>>,
    #[serde(default)]
    pub outcomes: BTreeMap<Spanned<String>, Spanned<RawMatchers>>,
}

/// `command = { run = [...] }` or `{ sh = "..." }`, as `user`, within `timeout`, fed `stdin`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub path: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    /// `tcp:53`, `udp:53`, `tcp:127.0.0.1:53`, `tcp:[::1]:53`.
    pub listen: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    pub file: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    /// `systemctl restart` the unit before observing it (recorded in the evidence).
    #[serde(default)]
    pub restart: bool,
}

/// `dep8 = { tests = [...], rdepends = ["src:NAME"], timeout = "20m" }`: the package's own
/// autopkgtests (DEP-8) as a regression gate, run once per side on the host.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dep8Spec {
    /// Only these tests (autopkgtest `--test-name`); empty: every test of the source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<String>,
    /// Other source packages whose tests run against each side's packages too (`src:NAME`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rdepends: Vec<String>,
    /// Per test (autopkgtest `--timeout-test`); the whole run gets the tests' sum plus setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}
