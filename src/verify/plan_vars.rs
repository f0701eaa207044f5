//! The `${name}` rule of a plan, checked when it is loaded: every variable a run expands is
//! one the engine or the phase defines, and none sits where nothing expands. Reads the plan's
//! text, its strict and its spanned form; errors name `file:line:col`.

use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::verify::plan::{BUILTIN_VARS, Phase, PlanError, RawPlan};
use crate::verify::plan_spans::{self, Spans, line_col};

const SECRETS: &str = "secrets";

/// Every `${name}` a run expands (step argv, written paths and contents, the target file,
/// the plan's secrets) must be a built-in or the phase's own variable, in every phase: an
/// unknown one would otherwise stop the run after its testbed started. Where nothing
/// expands (daemon argv, config edits, the portal), a `${` would reach the program
/// verbatim, so it is refused too.
pub fn check(
    text: &str,
    path: &Path,
    raw: &RawPlan,
    spans: &Spans,
    content_from: &[Option<PathBuf>],
) -> Result<(), PlanError> {
    let at = |file: &Path, text: &str, offset: usize, message: String| {
        let (line, column) = line_col(text, offset);
        PlanError::Invalid { path: file.into(), line, column: Some(column), message }
    };
    // (where, the template, its span in the plan)
    let mut expanded: Vec<(String, &Spanned<String>)> = Vec::new();
    for (step, sp) in raw.steps.iter().zip(&spans.steps) {
        expanded.extend(sp.run.iter().map(|a| (format!("step `{}`", step.name), a)));
        if let Some(w) = &sp.write {
            expanded.push((format!("step `{}`: write path", step.name), &w.path));
            if let Some(c) = &w.content {
                expanded.push((format!("step `{}`: write content", step.name), c));
            }
        }
    }
    expanded.push(("[target] file".to_string(), &spans.target.file));
    // A secret is known before the run starts: the phase's own variables, not the engine's.
    expanded.extend(spans.secrets.iter().map(|s| (SECRETS.to_string(), s)));

    let builtin = |what: &str| if what == SECRETS { &[][..] } else { BUILTIN_VARS };
    let known = |phase: &Phase, name: &str, what: &str| {
        builtin(what).contains(&name) || phase.vars.contains_key(name)
    };
    let unknown = |name: &str, phase: &Phase, what: &str| {
        let mut names: Vec<&str> = builtin(what).to_vec();
        names.extend(phase.vars.keys().map(String::as_str));
        format!(
            "{what}: unknown variable `${{{name}}}` in phase `{}` (known: {})",
            phase.name,
            names.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", ")
        )
    };
    for (what, value) in &expanded {
        for (name, offset) in plan_spans::variables(value.get_ref()) {
            let Some(name) = name else {
                let o = plan_spans::offset_in_value(text, value.span(), &value.get_ref()[offset..]);
                return Err(at(path, text, o, format!("{what}: unclosed `${{`")));
            };
            if let Some(phase) = raw.phases.iter().find(|p| !known(p, name, what)) {
                let o = plan_spans::offset_in_value(text, value.span(), &format!("${{{name}}}"));
                return Err(at(path, text, o, unknown(name, phase, what)));
            }
        }
    }
    // A driver script read from `source`: the error names that file and its line.
    for ((step, file), sp) in raw.steps.iter().zip(content_from).zip(&spans.steps) {
        let (Some(file), Some(w)) = (file, &step.write) else { continue };
        for (name, offset) in plan_spans::variables(&w.content) {
            let what = format!(
                "step `{}` (line {} of {})",
                step.name,
                line_col(text, sp.name.span().start).0,
                path.display()
            );
            let Some(name) = name else {
                return Err(at(file, &w.content, offset, format!("{what}: unclosed `${{`")));
            };
            if let Some(phase) = raw.phases.iter().find(|p| !known(p, name, &what)) {
                return Err(at(file, &w.content, offset, unknown(name, phase, &what)));
            }
        }
    }
    let mut verbatim: Vec<(String, &Spanned<String>)> = Vec::new();
    verbatim.extend(spans.daemon.argv.get_ref().iter().map(|a| ("[daemon] argv".to_string(), a)));
    for ph in &spans.phases {
        for e in &ph.edits {
            let what = format!("phase `{}`: edits", ph.name.get_ref());
            verbatim.extend([&e.file, &e.section, &e.key, &e.value].map(|v| (what.clone(), v)));
        }
    }
    verbatim.extend(spans.target.portal.iter().map(|p| ("[target] portal".to_string(), p)));
    for (what, value) in verbatim {
        if let Some((_, offset)) = plan_spans::variables(value.get_ref()).first() {
            let o = plan_spans::offset_in_value(text, value.span(), &value.get_ref()[*offset..]);
            return Err(at(
                path,
                text,
                o,
                format!("{what}: variables do not expand here, `{}` would be used verbatim", value.get_ref()),
            ));
        }
    }
    Ok(())
}
