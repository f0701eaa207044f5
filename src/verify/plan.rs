//! The verification plan (`verify.toml`): which testbed, which packages, the phases (config
//! edits), the steps that exercise the package, the checks, and the expected outcome of
//! every (side, phase) pair. Read once, validated whole, errors name file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}:{line}: {message}", path.display())]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error(transparent)]
    Io(#[from] crate::fsx::FsError),
}

impl ExitCodeOf for PlanError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}

pub use crate::verify::result::{CheckId, Side};

/// Both sides of an SRU: the package in -updates (the bug must reproduce) and the one in
/// -proposed (it must be fixed).
pub const BOTH_SIDES: [Side; 2] = [Side::Before, Side::After];

/// The values an expectation for a check may name.
pub fn allowed(check: CheckId) -> &'static [&'static str] {
    match check {
        CheckId::TargetFile => &["on", "off", "absent"],
        CheckId::Wce | CheckId::ODirect => &["on", "off"],
        CheckId::DataAtRisk => &["at-risk", "safe"],
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub name: String,
    #[serde(default)]
    pub summary: String,
    /// The testbed definition (`testbeds/<name>.toml`) every run starts from.
    pub testbed: String,
    /// Binary packages under test, taken from each side's package set. Empty: only what the
    /// image carries (a lane that tests a distro package from the mirror uses `apt:`).
    #[serde(default)]
    pub install: Vec<String>,
    /// Which sides the plan has (default both).
    #[serde(default = "both_sides")]
    pub sides: Vec<Side>,
    #[serde(default)]
    pub lun: Lun,
    pub daemon: Daemon,
    #[serde(rename = "phase")]
    pub phases: Vec<Phase>,
    #[serde(rename = "step", default)]
    pub steps: Vec<Step>,
    pub target: Target,
    pub checks: Checks,
    /// side -> phase -> check id -> expected value
    pub expect: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, ExpectTable>>,
}

/// check id -> expected value, each with its place in the file for errors.
type ExpectTable = BTreeMap<Spanned<String>, Spanned<String>>;

fn both_sides() -> Vec<Side> {
    BOTH_SIDES.to_vec()
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

/// The target daemon: started by srukit (there is no init in a testbed), alone in a memory
/// cgroup so its dirty page cache can be measured without the rest of the system's noise.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    pub argv: Vec<String>,
    #[serde(default = "default_cgroup")]
    pub cgroup: String,
    /// A TCP port on 127.0.0.1 inside the testbed that answers once the daemon is ready.
    pub ready_port: u16,
}

fn default_cgroup() -> String {
    "target-daemon".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub edits: Vec<ConfigEdit>,
    /// Extra `${name}` variables for the steps of this phase.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// One `key = value` in an INI section, as a verifier would set it in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEdit {
    pub file: String,
    pub section: String,
    pub key: String,
    pub value: String,
}

/// A step that exercises the package: run a command, or write a file, inside the testbed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub run: Vec<String>,
    #[serde(default)]
    pub write: Option<WriteFile>,
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
}

/// Where the checks find the target the steps made.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// The tgt target file, inside the testbed (`${volume_id}` expands).
    pub file: String,
    #[serde(default = "default_portal")]
    pub portal: String,
    #[serde(default = "default_lun_no")]
    pub lun: u64,
}

fn default_portal() -> String {
    "127.0.0.1:3260".into()
}

fn default_lun_no() -> u64 {
    1
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Checks {
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

/// A validated plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub path: PathBuf,
    #[serde(flatten)]
    pub raw: RawPlanView,
    pub checks: Vec<CheckId>,
    pub expect: BTreeMap<(Side, String), BTreeMap<CheckId, String>>,
}

/// What of the raw plan a result carries (the expectation table is typed separately).
#[derive(Debug, Clone, Serialize)]
pub struct RawPlanView {
    pub name: String,
    pub summary: String,
    pub testbed: String,
    pub install: Vec<String>,
    pub sides: Vec<Side>,
    pub lun: Lun,
    pub daemon: Daemon,
    pub phases: Vec<Phase>,
    pub steps: Vec<Step>,
    pub target: Target,
    pub data_at_risk_mib: u64,
}

impl Plan {
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = crate::fsx::read_to_string(path)?;
        Plan::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        let mut raw: RawPlan = toml::from_str(text)
            .map_err(|e| PlanError::Syntax { path: path.into(), message: e.to_string() })?;
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let invalid = |offset: usize, message: String| PlanError::Invalid {
            path: path.into(),
            line: line_of(offset),
            message,
        };
        let whole = |message: String| PlanError::Invalid { path: path.into(), line: 1, message };

        if raw.phases.is_empty() {
            return Err(whole("a plan needs at least one [[phase]]".into()));
        }
        if raw.daemon.argv.is_empty() {
            return Err(whole("[daemon] argv is empty".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &raw.phases {
            if !seen.insert(p.name.as_str()) {
                return Err(whole(format!("phase `{}` is declared twice", p.name)));
            }
        }
        for s in &raw.steps {
            if s.run.is_empty() == s.write.is_none() {
                return Err(whole(format!("step `{}` needs exactly one of `run` or `write`", s.name)));
            }
        }
        for s in &mut raw.steps {
            let Some(w) = &mut s.write else { continue };
            let Some(source) = &w.source else { continue };
            if !w.content.is_empty() {
                return Err(invalid(
                    source.span().start,
                    format!("step `{}`: `write` takes `content` or `source`, not both", s.name),
                ));
            }
            let file = path.parent().unwrap_or(Path::new(".")).join(source.get_ref());
            w.content = crate::fsx::read_to_string(&file)
                .map_err(|e| invalid(source.span().start, format!("step `{}`: {e}", s.name)))?;
        }

        let mut checks = Vec::new();
        if raw.checks.target_file.is_some() {
            checks.push(CheckId::TargetFile);
        }
        if raw.checks.wce.is_some() {
            checks.push(CheckId::Wce);
        }
        if raw.checks.o_direct.is_some() {
            checks.push(CheckId::ODirect);
        }
        if raw.checks.data_at_risk.is_some() {
            checks.push(CheckId::DataAtRisk);
        }
        if checks.is_empty() {
            return Err(whole("[checks] names no check: a plan that checks nothing proves nothing".into()));
        }

        let mut expect = BTreeMap::new();
        for (side_key, phases) in &raw.expect {
            let side = match side_key.get_ref().as_str() {
                "before" => Side::Before,
                "after" => Side::After,
                other => {
                    return Err(invalid(
                        side_key.span().start,
                        format!("unknown side `{other}` (before, after)"),
                    ));
                }
            };
            if !raw.sides.contains(&side) {
                return Err(invalid(
                    side_key.span().start,
                    format!("expectations for side `{side}`, which the plan does not have"),
                ));
            }
            for (phase_key, values) in phases {
                let phase = phase_key.get_ref();
                if !raw.phases.iter().any(|p| &p.name == phase) {
                    return Err(invalid(
                        phase_key.span().start,
                        format!("expectations for unknown phase `{phase}`"),
                    ));
                }
                let mut table = BTreeMap::new();
                for (check_key, value) in values {
                    let kind =
                        checks.iter().copied().find(|k| k.as_str() == check_key.get_ref()).ok_or_else(
                            || {
                                invalid(
                                    check_key.span().start,
                                    format!(
                                        "expectation for `{}`, which is not among the plan's [checks]",
                                        check_key.get_ref()
                                    ),
                                )
                            },
                        )?;
                    if !allowed(kind).contains(&value.get_ref().as_str()) {
                        return Err(invalid(
                            value.span().start,
                            format!(
                                "`{}` expects one of {}, not `{}`",
                                kind.as_str(),
                                allowed(kind).join(", "),
                                value.get_ref()
                            ),
                        ));
                    }
                    table.insert(kind, value.get_ref().clone());
                }
                expect.insert((side, phase.clone()), table);
            }
        }
        for side in &raw.sides {
            for phase in &raw.phases {
                let Some(table) = expect.get(&(*side, phase.name.clone())) else {
                    return Err(whole(format!(
                        "no [expect.{side}.{}] table: every (side, phase) needs one",
                        phase.name
                    )));
                };
                if let Some(missing) = checks.iter().find(|k| !table.contains_key(k)) {
                    return Err(whole(format!(
                        "[expect.{side}.{}] has no expectation for `{}`",
                        phase.name,
                        missing.as_str()
                    )));
                }
            }
        }

        let data_at_risk_mib = raw.checks.data_at_risk.as_ref().map(|d| d.mib).unwrap_or(0);
        Ok(Plan {
            path: path.to_path_buf(),
            raw: RawPlanView {
                name: raw.name,
                summary: raw.summary,
                testbed: raw.testbed,
                install: raw.install,
                sides: raw.sides,
                lun: raw.lun,
                daemon: raw.daemon,
                phases: raw.phases,
                steps: raw.steps,
                target: raw.target,
                data_at_risk_mib,
            },
            checks,
            expect,
        })
    }

    pub fn expected(&self, side: Side, phase: &str, check: CheckId) -> Option<&str> {
        self.expect.get(&(side, phase.to_string())).and_then(|t| t.get(&check)).map(String::as_str)
    }
}

/// Expands `${name}` in a plan string. An unknown variable is an error, not an empty string:
/// a command run with a silently empty argument would test something else.
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| format!("unclosed `${{` in `{template}`"))?;
        let name = &after[..end];
        let value =
            vars.get(name).ok_or_else(|| format!("unknown variable `${{{name}}}` in `{template}`"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
testbed = "bookworm-tgt"
[daemon]
argv = ["tgtd", "-f"]
ready_port = 3260
[[phase]]
name = "default"
[[step]]
name = "export"
run = ["true"]
[target]
file = "/x/${volume_id}"
[checks]
wce = {}
[expect.before.default]
wce = "on"
[expect.after.default]
wce = "off"
"#;

    fn parse(text: &str) -> Result<Plan, PlanError> {
        Plan::parse(text, Path::new("plan.toml"))
    }

    #[test]
    fn minimal_plan_parses() {
        let p = parse(MINIMAL).unwrap();
        assert_eq!(p.checks, vec![CheckId::Wce]);
        assert_eq!(p.expected(Side::After, "default", CheckId::Wce), Some("off"));
        assert_eq!(p.raw.lun.size_mib, 256);
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("wce = \"on\"\n[expect.after", "wce = \"maybe\"\n[expect.after", 17, "one of on, off"),
            ("[expect.before.default]", "[expect.before.defualt]", 16, "unknown phase `defualt`"),
            (
                "[expect.after.default]\nwce",
                "[expect.after.default]\ndata-at-risk = \"safe\"\nwce",
                19,
                "not among",
            ),
        ];
        for (from, to, line, needle) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("plan.toml:{line}:")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_their_line() {
        let err = parse(&MINIMAL.replace("ready_port", "ready_prot")).unwrap_err().to_string();
        assert!(err.contains("plan.toml") && err.contains("line 6") && err.contains("ready_prot"), "{err}");
    }

    #[test]
    fn a_missing_expectation_is_refused() {
        let err =
            parse(&MINIMAL.replace("[expect.after.default]\nwce = \"off\"\n", "")).unwrap_err().to_string();
        assert!(err.contains("no [expect.after.default]"), "{err}");
    }

    #[test]
    fn write_source_is_read_relative_to_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lane")).unwrap();
        std::fs::write(dir.path().join("lane/drive.py"), "print('${volume_id}')\n").unwrap();
        let step = "[[step]]\nname = \"drive\"\nwrite = { path = \"/usr/local/bin/drive\", source = \"lane/drive.py\" }\n";
        let text = MINIMAL.replace("[target]", &format!("{step}[target]"));
        let plan = Plan::parse(&text, &dir.path().join("plan.toml")).unwrap();
        let w = plan.raw.steps[1].write.as_ref().unwrap();
        assert_eq!(w.content, "print('${volume_id}')\n");

        let missing = text.replace("lane/drive.py", "lane/gone.py");
        let err = Plan::parse(&missing, &dir.path().join("plan.toml")).unwrap_err().to_string();
        assert!(err.contains("plan.toml:14:") && err.contains("gone.py"), "{err}");

        let both = text.replace("source =", "content = \"x\", source =");
        let err = Plan::parse(&both, &dir.path().join("plan.toml")).unwrap_err().to_string();
        assert!(err.contains("plan.toml:14:") && err.contains("not both"), "{err}");
    }

    #[test]
    fn expand_substitutes_and_refuses_unknown() {
        let vars = BTreeMap::from([("volume_id".to_string(), "42".to_string())]);
        assert_eq!(expand("/v/volume-${volume_id}", &vars).unwrap(), "/v/volume-42");
        assert!(expand("${nope}", &vars).unwrap_err().contains("unknown variable"));
        assert!(expand("${open", &vars).unwrap_err().contains("unclosed"));
    }
}
