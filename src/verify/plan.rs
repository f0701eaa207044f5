//! The verification plan (`verify.toml`): which testbed, which packages, the phases (config
//! edits), the steps that exercise the package, the checks, and the expected outcome of
//! every (side, phase) pair. Read once, validated whole, errors name file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::exit::{Exit, ExitCodeOf};
use crate::verify::plan_spans::{self, Spans, line_col};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The TOML does not parse, or does not fit the plan's shape (an unknown key, a wrong
    /// type): `file:line:col: message`, as every other input error.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}:{line}{}: {message}", path.display(), column.map(|c| format!(":{c}")).unwrap_or_default())]
    Invalid { path: PathBuf, line: usize, column: Option<usize>, message: String },
    #[error(transparent)]
    Io(#[from] crate::fsx::FsError),
}

impl ExitCodeOf for PlanError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}

pub use crate::verify::result::{CheckId, Side};

/// The variables the engine defines for every step (`verify::run`), besides a phase's own
/// `vars`: a `${name}` outside these and the phase's is refused when the plan is loaded.
pub const BUILTIN_VARS: &[&str] = &["volume_id", "iqn", "lun", "data"];

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
    /// Values no report may show (`${name}` expands per run), beside the CHAP credentials
    /// srukit finds by itself: every occurrence in the result and the logs is redacted.
    #[serde(default)]
    pub secrets: Vec<String>,
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
    // No `lun` number: the checks bind to the LUN tgtd serves from `${lun}`, whatever its
    // number (issue 13), so a plan that still names one is told at load.
}

fn default_portal() -> String {
    "127.0.0.1:3260".into()
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
    /// The testbed definition file `testbed` names, found when the plan was loaded (beside
    /// the plan's repository, then the installed ones); `None` for a plan only parsed.
    #[serde(skip)]
    pub testbed_definition: Option<PathBuf>,
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
    /// The plan's `secrets`, unexpanded (the run expands them with its variables).
    pub secrets: Vec<String>,
}

impl Plan {
    /// Reads, validates and resolves a plan: its testbed definition must exist (beside the
    /// plan's repository, then the installed ones), so a typo stops here, before any testbed.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = crate::fsx::read_to_string(path)?;
        let mut plan = Plan::parse(&text, path)?;
        let spans: Spans = toml::from_str(&text).map_err(|e| syntax(&text, path, &e))?;
        let near = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let found = crate::testbed::definition::find_near(&plan.raw.testbed, Some(near)).map_err(|e| {
            let (line, column) = line_col(&text, spans.testbed.span().start);
            PlanError::Invalid {
                path: path.into(),
                line,
                column: Some(column),
                message: format!("unknown testbed `{}`: {e}", plan.raw.testbed),
            }
        })?;
        plan.testbed_definition = Some(found);
        Ok(plan)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        let mut raw: RawPlan = toml::from_str(text).map_err(|e| syntax(text, path, &e))?;
        let spans: Spans = toml::from_str(text).map_err(|e| syntax(text, path, &e))?;
        let invalid = |offset: usize, message: String| PlanError::Invalid {
            path: path.into(),
            line: line_col(text, offset).0,
            column: None,
            message,
        };
        let whole =
            |message: String| PlanError::Invalid { path: path.into(), line: 1, column: None, message };

        if raw.phases.is_empty() {
            return Err(whole("a plan needs at least one [[phase]]".into()));
        }
        if raw.daemon.argv.is_empty() {
            return Err(invalid(spans.daemon.argv.span().start, "[daemon] argv is empty".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (p, sp) in raw.phases.iter().zip(&spans.phases) {
            if !seen.insert(p.name.as_str()) {
                return Err(invalid(sp.name.span().start, format!("phase `{}` is declared twice", p.name)));
            }
        }
        for (s, sp) in raw.steps.iter().zip(&spans.steps) {
            if s.run.is_empty() == s.write.is_none() {
                return Err(invalid(
                    sp.name.span().start,
                    format!("step `{}` needs exactly one of `run` or `write`", s.name),
                ));
            }
        }
        // Where a step's `write` text came from: the plan itself, or a `source` file.
        let mut content_from: Vec<Option<PathBuf>> = vec![None; raw.steps.len()];
        for (i, s) in raw.steps.iter_mut().enumerate() {
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
            content_from[i] = Some(file);
        }
        crate::verify::plan_vars::check(text, path, &raw, &spans, &content_from)?;

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
            let line = plan_spans::table_header(text, "checks").unwrap_or(0);
            return Err(invalid(
                line,
                "[checks] names no check: a plan that checks nothing proves nothing".into(),
            ));
        }

        let mut expect = BTreeMap::new();
        let mut expect_at = BTreeMap::new();
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
                expect_at.insert((side, phase.clone()), phase_key.span().start);
            }
        }
        // A missing pair points at what asked for it: the phase's [[phase]] line, or `sides`
        // when the plan names a side it has no expectations for at all.
        for side in &raw.sides {
            let side_has_any = expect.keys().any(|(s, _)| s == side);
            for (phase, sp) in raw.phases.iter().zip(&spans.phases) {
                let Some(table) = expect.get(&(*side, phase.name.clone())) else {
                    let (offset, why) = match &spans.sides {
                        Some(sides) if !side_has_any => {
                            (sides.span().start, format!("`sides` names `{side}`"))
                        }
                        _ => (
                            plan_spans::header_before(text, sp.name.span().start, "phase"),
                            format!("phase `{}` is declared here", phase.name),
                        ),
                    };
                    return Err(invalid(
                        offset,
                        format!(
                            "no [expect.{side}.{}] table: every (side, phase) needs one ({why})",
                            phase.name
                        ),
                    ));
                };
                if let Some(missing) = checks.iter().find(|k| !table.contains_key(k)) {
                    let offset = expect_at.get(&(*side, phase.name.clone())).copied().unwrap_or(0);
                    return Err(invalid(
                        offset,
                        format!(
                            "[expect.{side}.{}] has no expectation for `{}`",
                            phase.name,
                            missing.as_str()
                        ),
                    ));
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
                secrets: raw.secrets,
            },
            testbed_definition: None,
            checks,
            expect,
        })
    }

    pub fn expected(&self, side: Side, phase: &str, check: CheckId) -> Option<&str> {
        self.expect.get(&(side, phase.to_string())).and_then(|t| t.get(&check)).map(String::as_str)
    }
}

/// A TOML error (syntax, unknown key, wrong type) as `file:line:col: message`.
fn syntax(text: &str, path: &Path, e: &toml::de::Error) -> PlanError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    // toml's message may run over lines (`invalid string\nexpected ...`): one line here.
    let message = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(": ");
    PlanError::Syntax { path: path.into(), line, column, message }
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
        assert!(err.starts_with("plan.toml:6:1: unknown field `ready_prot`"), "{err}");
    }

    #[test]
    fn toml_syntax_errors_are_file_line_col() {
        let err =
            parse(&MINIMAL.replace("ready_port = 3260", "ready_port = = 3260")).unwrap_err().to_string();
        assert!(err.starts_with("plan.toml:6:14: "), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn unknown_variables_are_refused_at_load_with_line_and_column() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "run = [\"true\"]",
                "run = [\"echo\", \"${volume}\"]",
                "plan.toml:11:17: step `export`: unknown variable `${volume}`",
            ),
            (
                "file = \"/x/${volume_id}\"",
                "file = \"/x/${volume_uuid}\"",
                "plan.toml:13:12: [target] file: unknown variable",
            ),
            (
                "argv = [\"tgtd\", \"-f\"]",
                "argv = [\"tgtd\", \"-f\", \"${data}\"]",
                "plan.toml:5:24: [daemon] argv: variables do not expand here",
            ),
            (
                "name = \"t\"\n",
                "name = \"t\"\nsecrets = [\"${iqn}\"]\n",
                "plan.toml:3:13: secrets: unknown variable `${iqn}`",
            ),
            ("run = [\"true\"]", "run = [\"echo ${open\"]", "plan.toml:11:14: step `export`: unclosed"),
        ];
        for (from, to, want) in cases {
            let text = MINIMAL.replacen(from, to, 1);
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(want), "want {want}\n got {err}");
        }
        // A phase's own variable is known in that phase only: every phase must define it.
        let text = MINIMAL.replace("name = \"default\"", "name = \"default\"\nvars = { mode = \"on\" }");
        let ok = text.replace("run = [\"true\"]", "run = [\"echo\", \"${mode}\"]");
        assert!(parse(&ok).is_ok());
        let two = ok.replace("[[step]]", "[[phase]]\nname = \"other\"\n[[step]]")
            + "[expect.before.other]\nwce = \"on\"\n[expect.after.other]\nwce = \"off\"\n";
        let err = parse(&two).unwrap_err().to_string();
        assert!(err.contains("unknown variable `${mode}` in phase `other`"), "{err}");
    }

    #[test]
    fn a_missing_expectation_points_at_its_phase_or_sides() {
        let err =
            parse(&MINIMAL.replace("[expect.after.default]\nwce = \"off\"\n", "")).unwrap_err().to_string();
        assert!(err.starts_with("plan.toml:7: no [expect.after.default]"), "{err}");
        let sides = MINIMAL.replace(
            "testbed = \"bookworm-tgt\"",
            "testbed = \"bookworm-tgt\"\nsides = [\"before\", \"after\"]",
        );
        let err =
            parse(&sides.replace("[expect.after.default]\nwce = \"off\"\n", "")).unwrap_err().to_string();
        assert!(
            err.starts_with("plan.toml:4: no [expect.after.default]") && err.contains("`sides`"),
            "{err}"
        );
        let err =
            parse(&MINIMAL.replace("[expect.after.default]\nwce = \"off\"\n", "[expect.after.default]\n"))
                .unwrap_err()
                .to_string();
        assert!(
            err.starts_with("plan.toml:18: [expect.after.default] has no expectation for `wce`"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_testbed_names_the_plan_line_and_no_build_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo/testbeds")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo/lanes")).unwrap();
        let plan = dir.path().join("repo/lanes/plan.toml");
        std::fs::write(&plan, MINIMAL.replace("bookworm-tgt", "bookworm-nope")).unwrap();
        let err = Plan::load(&plan).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:3:11: unknown testbed `bookworm-nope`", plan.display())),
            "{err}"
        );
        assert!(
            err.contains(&dir.path().join("repo/testbeds/bookworm-nope.toml").display().to_string()),
            "{err}"
        );
        assert!(err.contains("/usr/share/srukit/testbeds/bookworm-nope.toml"), "{err}");
        assert!(!err.contains(env!("CARGO_MANIFEST_DIR")), "{err}");
        // Beside the plan's repository, it is found.
        std::fs::write(dir.path().join("repo/testbeds/bookworm-nope.toml"), "suite = \"bookworm\"\n")
            .unwrap();
        let p = Plan::load(&plan).unwrap();
        assert_eq!(p.testbed_definition.unwrap(), dir.path().join("repo/testbeds/bookworm-nope.toml"));
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
