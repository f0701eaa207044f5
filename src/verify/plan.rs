//! The verification plan (`verify.toml`, format v2): which testbed and what it must give
//! (`needs`), which packages, the phases (edits), the steps that exercise the package, the
//! checks (a family each, with named outcomes), and the outcome every (side, phase) expects
//! of each. Read once, validated whole, errors name file and line; v1 plans (`[checks]`,
//! `[daemon]`, `[target]`) read as the same plan with iscsi checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::exit::{Exit, ExitCodeOf};

mod checks;
mod expect;
pub mod raw;
mod rules;
pub mod spans;
mod vars;

pub use checks::{Check, CheckSpec, Dep8Check, Listen, OutcomeDef, iscsi_outcomes};
pub use raw::{
    CommandSpec, Daemon, DaemonStep, Dep8Spec, FileSpec, LogSpec, Lun, Need, PackageSpec, RawPlan,
    ServiceSpec, Step, Target, WriteFile,
};
use spans::{Spans, line_col};

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

pub use crate::verify::result::{IscsiCheck, Side};

/// The variables the engine defines for every run, besides a phase's own `vars`: a `${name}`
/// outside these and the phase's is refused when the plan is loaded. `${lun}` names a fresh
/// sparse file on real disk when the plan has an iscsi check or a `[lun]`.
pub const BUILTIN_VARS: &[&str] = &["volume_id", "iqn", "lun", "data", "side", "phase"];

/// Both sides of an SRU: the package in -updates (the bug must reproduce) and the one in
/// -proposed (it must be fixed).
pub const BOTH_SIDES: [Side; 2] = [Side::Before, Side::After];

/// Where load errors point: the plan's text and path.
pub(crate) struct Loc<'a> {
    pub text: &'a str,
    pub path: &'a Path,
}

impl Loc<'_> {
    pub fn line(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
    }
    pub fn at(&self, offset: usize, message: impl Into<String>) -> PlanError {
        self.at_line(self.line(offset), message)
    }
    pub fn at_line(&self, line: usize, message: impl Into<String>) -> PlanError {
        PlanError::Invalid { path: self.path.into(), line, column: None, message: message.into() }
    }
}

/// One phase: a configuration state the package is exercised in.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub description: String,
    pub edits: Vec<Edit>,
    /// Extra `${name}` variables for this phase.
    pub vars: BTreeMap<String, String>,
}

/// One edit a phase makes to a file, after the packages are installed and before any step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Edit {
    /// `key = value` in an INI `[section]` (oslo.config style), as a verifier sets it.
    Ini {
        file: String,
        section: String,
        key: String,
        value: String,
    },
    /// A flat `KEY=VALUE` file (/etc/default/*): replaces the first `KEY=` line, commented
    /// or not, else appends.
    Set {
        file: String,
        key: String,
        value: String,
    },
    Append {
        file: String,
        line: String,
    },
    Write {
        file: String,
        content: String,
        mode: String,
    },
    Remove {
        file: String,
    },
}

impl Edit {
    pub fn file(&self) -> &str {
        match self {
            Edit::Ini { file, .. }
            | Edit::Set { file, .. }
            | Edit::Append { file, .. }
            | Edit::Write { file, .. }
            | Edit::Remove { file } => file,
        }
    }

    /// The edit as the result records it.
    pub fn to_result(&self) -> crate::verify::result::ConfigEdit {
        let mut e = crate::verify::result::ConfigEdit::new(self.file(), "", "", "");
        match self {
            Edit::Ini { section, key, value, .. } => {
                (e.section, e.key, e.value) = (section.clone(), key.clone(), value.clone())
            }
            Edit::Set { key, value, .. } => {
                (e.kind, e.key, e.value) = ("set".into(), key.clone(), value.clone())
            }
            Edit::Append { line, .. } => (e.kind, e.value) = ("append".into(), line.clone()),
            Edit::Write { content, mode, .. } => {
                (e.kind, e.section, e.value) = ("write".into(), mode.clone(), content.clone())
            }
            Edit::Remove { .. } => e.kind = "remove".into(),
        }
        e
    }

    /// The edit with `${name}` expanded in every string.
    pub fn expand(&self, vars: &BTreeMap<String, String>) -> Result<Edit, String> {
        let x = |s: &String| expand(s, vars);
        Ok(match self {
            Edit::Ini { file, section, key, value } => {
                Edit::Ini { file: x(file)?, section: x(section)?, key: x(key)?, value: x(value)? }
            }
            Edit::Set { file, key, value } => Edit::Set { file: x(file)?, key: x(key)?, value: x(value)? },
            Edit::Append { file, line } => Edit::Append { file: x(file)?, line: x(line)? },
            Edit::Write { file, content, mode } => {
                Edit::Write { file: x(file)?, content: x(content)?, mode: mode.clone() }
            }
            Edit::Remove { file } => Edit::Remove { file: x(file)? },
        })
    }
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
    pub checks: Vec<Check>,
    /// The dep8 gates (`dep8 = {...}` checks): run once per side on the host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dep8: Vec<Dep8Check>,
    /// (side, phase) -> check id -> expected outcome name; wildcard rows resolved.
    pub expect: BTreeMap<(Side, String), BTreeMap<String, String>>,
}

/// What of the raw plan a run uses (the checks and the expectations are typed apart).
#[derive(Debug, Clone, Serialize)]
pub struct RawPlanView {
    pub name: String,
    pub summary: String,
    pub testbed: String,
    pub needs: Vec<Need>,
    pub install: Vec<String>,
    pub sides: Vec<Side>,
    pub lun: Lun,
    /// Whether `[lun]` was given (a `${lun}` file is made for iscsi checks or `[lun]`).
    pub lun_given: bool,
    pub daemon: Option<Daemon>,
    pub phases: Vec<Phase>,
    pub steps: Vec<Step>,
    pub target: Option<Target>,
    pub data_at_risk_mib: u64,
    /// The plan's `secrets`, unexpanded (the run expands them with its variables).
    pub secrets: Vec<String>,
}

/// `60s`, `2m`, `1h`, `500ms`, or plain seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("duration `{text}`: want e.g. 30s, 2m, 500ms"))?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" | "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("duration `{text}`: want e.g. 30s, 2m, 500ms")),
    };
    if d.is_zero() {
        return Err(format!("duration `{text}` is zero"));
    }
    Ok(d)
}

impl Plan {
    /// Reads, validates and resolves a plan: its testbed definition must exist (beside the
    /// plan's repository, then the installed ones), so a typo stops here, before any testbed,
    /// and it must give what the plan `needs`.
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
        let def_text = crate::fsx::read_to_string(&found)?;
        // A virt server's testbed says at open whether it isolates what the plan needs
        // (`isolation-machine`, `isolation-container`); srukit's own testbeds are known now.
        let virt = crate::testbed::definition::is_virt_server(&def_text);
        if plan.needs(Need::Machine) && !virt {
            let at = spans.needs.as_ref().map(|n| n.span().start).unwrap_or(0);
            return Err(Loc { text: &text, path }.at(
                at,
                format!(
                    "needs = [\"machine\"]: no srukit testbed is a machine (it is a container sharing the host's kernel); run this plan in a VM lane: a testbed definition naming a virt server with isolation-machine (`virt-server = [\"autopkgtest-virt-qemu\", ...]`), not `{}`",
                    plan.raw.testbed
                ),
            ));
        }
        if plan.needs(Need::Init) && !virt {
            // A service manager as pid 1 needs one in the image: Debian's is systemd-sysv.
            let def = crate::testbed::Definition::parse(&def_text, &found).map_err(|e| {
                PlanError::Invalid { path: found.clone(), line: 1, column: None, message: e.to_string() }
            })?;
            if !def.packages.iter().any(|p| p == "systemd-sysv") {
                let at = spans.needs.as_ref().map(|n| n.span().start).unwrap_or(0);
                return Err(Loc { text: &text, path }.at(
                    at,
                    format!(
                        "needs = [\"init\"], but testbed `{}` ({}) has no init: its `packages` must hold systemd-sysv",
                        plan.raw.testbed,
                        found.display()
                    ),
                ));
            }
        }
        plan.testbed_definition = Some(found);
        Ok(plan)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        let mut raw: RawPlan = toml::from_str(text).map_err(|e| syntax(text, path, &e))?;
        let spans: Spans = toml::from_str(text).map_err(|e| syntax(text, path, &e))?;
        let loc = Loc { text, path };
        let invalid = |offset: usize, message: String| loc.at(offset, message);

        if raw.phases.is_empty() {
            return Err(loc.at_line(1, "a plan needs at least one [[phase]]"));
        }
        if let (Some(d), Some(sp)) = (&raw.daemon, &spans.daemon)
            && d.argv.is_empty()
        {
            return Err(invalid(sp.argv.span().start, "[daemon] argv is empty".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (p, sp) in raw.phases.iter().zip(&spans.phases) {
            if !seen.insert(p.name.as_str()) {
                return Err(invalid(sp.name.span().start, format!("phase `{}` is declared twice", p.name)));
            }
        }
        let phases = raw
            .phases
            .iter()
            .map(|p| {
                let edits = p.edits.iter().map(|e| rules::edit(&loc, e)).collect::<Result<Vec<_>, _>>()?;
                Ok(Phase {
                    name: p.name.clone(),
                    description: p.description.clone(),
                    edits,
                    vars: p.vars.clone(),
                })
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        for (s, sp) in raw.steps.iter().zip(&spans.steps) {
            rules::step(&loc, &raw, s, sp)?;
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
        vars::check(text, path, &raw, &spans, &content_from)?;

        let (checks, data_at_risk_mib, dep8) = checks::checks(&loc, &raw)?;
        rules::objects(&loc, &raw, &checks)?;
        expect::no_dep8_rows(&loc, &raw, &dep8)?;
        let expect = expect::expectations(&loc, &raw, &spans, &checks)?;

        Ok(Plan {
            path: path.to_path_buf(),
            raw: RawPlanView {
                name: raw.name,
                summary: raw.summary,
                testbed: raw.testbed,
                needs: raw.needs,
                install: raw.install,
                sides: raw.sides,
                lun_given: raw.lun.is_some(),
                lun: raw.lun.unwrap_or_default(),
                daemon: raw.daemon,
                phases,
                steps: raw.steps,
                target: raw.target,
                data_at_risk_mib,
                secrets: raw.secrets,
            },
            testbed_definition: None,
            checks,
            dep8,
            expect,
        })
    }

    /// The outcome the plan expects of check `id` in (side, phase), if any.
    pub fn expected(&self, side: Side, phase: &str, id: &str) -> Option<&str> {
        self.expect.get(&(side, phase.to_string())).and_then(|t| t.get(id)).map(String::as_str)
    }

    pub fn check_ids(&self) -> Vec<&str> {
        self.checks.iter().map(|c| c.id.as_str()).collect()
    }

    pub fn needs(&self, need: Need) -> bool {
        self.raw.needs.contains(&need)
    }

    pub fn has_iscsi(&self) -> bool {
        self.checks.iter().any(|c| c.iscsi().is_some())
    }

    /// A plan with an `upgrade` step starts every run on the before side's packages.
    pub fn upgrades(&self) -> bool {
        self.raw.steps.iter().any(|s| s.upgrade.is_some())
    }
}

/// A TOML error (syntax, unknown key, wrong type) as `file:line:col: message`.
fn syntax(text: &str, path: &Path, e: &toml::de::Error) -> PlanError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
    // toml's message may run over lines (`invalid string\nexpected ...`): one line here.
    let message = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(": ");
    PlanError::Syntax { path: path.into(), line, column, message }
}

/// Expands `${name}` in a plan string (`$${` is a literal `${`). An unknown variable is an
/// error, not an empty string: a command run with a silently empty argument would test
/// something else.
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        if start > 0 && rest.as_bytes()[start - 1] == b'$' {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
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
        assert_eq!(p.check_ids(), ["wce"]);
        assert_eq!(p.checks[0].iscsi(), Some(IscsiCheck::Wce));
        assert_eq!(p.expected(Side::After, "default", "wce"), Some("off"));
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

    /// An edit expands with its own phase's variables: another phase need not define them.
    #[test]
    fn edits_expand_with_their_own_phases_variables() {
        let text = MINIMAL.replace(
            "name = \"default\"\n",
            "name = \"default\"\nvars = { v = \"off\" }\nedits = [{ set = \"/etc/default/x\", key = \"A\", value = \"${v}\" }]\n[[phase]]\nname = \"other\"\n",
        ) + "[expect.before.other]\nwce = \"on\"\n[expect.after.other]\nwce = \"off\"\n";
        let p = parse(&text).unwrap();
        let e =
            p.raw.phases[0].edits[0].expand(&BTreeMap::from([("v".to_string(), "off".to_string())])).unwrap();
        assert_eq!(e, Edit::Set { file: "/etc/default/x".into(), key: "A".into(), value: "off".into() });
        let err = parse(&text.replace("${v}", "${w}")).unwrap_err().to_string();
        assert!(err.contains("unknown variable `${w}` in phase `default`"), "{err}");
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
        assert_eq!(expand("for f in $${HOME}/${volume_id}", &vars).unwrap(), "for f in ${HOME}/42");
    }
}
