//! The `${name}` rule of a plan, checked when it is loaded: every variable a run expands is
//! one the engine or the phase defines, and none sits where nothing expands. Reads the plan's
//! text, its strict and its spanned form; errors name `file:line:col`.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::raw::{RawPhase, RawPlan};
use super::spans::{self, Spans, line_col};
use super::{BUILTIN_VARS, PlanError};

const SECRETS: &str = "secrets";

/// Every `${name}` a run expands (steps, edits, the checks' commands and paths, the target
/// file, the plan's secrets) must be a built-in or the phase's own variable, in every phase:
/// an unknown one would otherwise stop the run after its testbed started. Where nothing
/// expands (the legacy daemon argv, the portal, package, unit and port names), a `${` would
/// reach the program verbatim, so it is refused too. `$${` is a literal `${` everywhere.
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
        let what = format!("step `{}`", step.name);
        expanded.extend(sp.run.iter().map(|a| (what.clone(), a)));
        expanded.extend(sp.sh.iter().map(|a| (what.clone(), a)));
        expanded.extend(sp.user.iter().map(|a| (what.clone(), a)));
        if let Some(w) = &sp.write {
            expanded.push((format!("step `{}`: write path", step.name), &w.path));
            if let Some(c) = &w.content {
                expanded.push((format!("step `{}`: write content", step.name), c));
            }
        }
        if let Some(d) = &sp.daemon {
            expanded.extend(d.argv.iter().map(|a| (format!("step `{}`: daemon argv", step.name), a)));
            expanded.extend(d.ready_file.iter().map(|a| (format!("step `{}`: ready-file", step.name), a)));
        }
    }
    // A phase's edits expand with that phase's variables only.
    let mut own: Vec<(usize, String, &Spanned<String>)> = Vec::new();
    for (i, ph) in spans.phases.iter().enumerate() {
        for e in &ph.edits {
            let what = format!("phase `{}`: edits", ph.name.get_ref());
            own.extend(e.strings().into_iter().map(|v| (i, what.clone(), v)));
        }
    }
    for c in &spans.checks {
        let what = format!("check `{}`", c.id.get_ref());
        if let Some(cmd) = &c.command {
            expanded.extend(
                cmd.run.iter().chain(&cmd.sh).chain(&cmd.stdin).chain(&cmd.user).map(|a| (what.clone(), a)),
            );
        }
        expanded.extend(c.file.iter().map(|f| (format!("{what}: file path"), &f.path)));
        expanded.extend(c.log.iter().map(|f| (format!("{what}: log file"), &f.file)));
    }
    if let Some(t) = &spans.target {
        expanded.push(("[target] file".to_string(), &t.file));
    }
    // A secret is known before the run starts: the phase's own variables, not the engine's.
    expanded.extend(spans.secrets.iter().map(|s| (SECRETS.to_string(), s)));

    let builtin = |what: &str| if what == SECRETS { &[][..] } else { BUILTIN_VARS };
    let known = |phase: &RawPhase, name: &str, what: &str| {
        builtin(what).contains(&name) || phase.vars.contains_key(name)
    };
    let unknown = |name: &str, phase: &RawPhase, what: &str| {
        let mut names: Vec<&str> = builtin(what).to_vec();
        names.extend(phase.vars.keys().map(String::as_str));
        format!(
            "{what}: unknown variable `${{{name}}}` in phase `{}` (known: {}; `$${{` is a literal `${{`)",
            phase.name,
            names.iter().map(|n| format!("${{{n}}}")).collect::<Vec<_>>().join(", ")
        )
    };
    let everywhere = expanded.iter().map(|(what, value)| (None, what, *value));
    let in_phase = own.iter().map(|(i, what, value)| (Some(*i), what, *value));
    for (only, what, value) in everywhere.chain(in_phase) {
        for (name, offset) in spans::variables(value.get_ref()) {
            let Some(name) = name else {
                let o = spans::offset_in_value(text, value.span(), &value.get_ref()[offset..]);
                return Err(at(path, text, o, format!("{what}: unclosed `${{`")));
            };
            let phases = raw.phases.iter().enumerate().filter(|(i, _)| only.is_none_or(|o| o == *i));
            if let Some((_, phase)) = phases.into_iter().find(|(_, p)| !known(p, name, what)) {
                let o = spans::offset_in_value(text, value.span(), &format!("${{{name}}}"));
                return Err(at(path, text, o, unknown(name, phase, what)));
            }
        }
    }
    // A driver script read from `source`: the error names that file and its line.
    for ((step, file), sp) in raw.steps.iter().zip(content_from).zip(&spans.steps) {
        let (Some(file), Some(w)) = (file, &step.write) else { continue };
        for (name, offset) in spans::variables(&w.content) {
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
    if let Some(d) = &spans.daemon {
        verbatim.extend(d.argv.get_ref().iter().map(|a| ("[daemon] argv".to_string(), a)));
    }
    if let Some(t) = &spans.target {
        verbatim.extend(t.portal.iter().map(|p| ("[target] portal".to_string(), p)));
    }
    for c in &spans.checks {
        let what = format!("check `{}`", c.id.get_ref());
        verbatim.extend(c.package.iter().map(|n| (format!("{what}: package name"), &n.name)));
        verbatim.extend(c.service.iter().map(|n| (format!("{what}: unit name"), &n.name)));
        verbatim.extend(c.port.iter().map(|n| (format!("{what}: listen"), &n.listen)));
    }
    for (what, value) in verbatim {
        if let Some((_, offset)) = spans::variables(value.get_ref()).first() {
            let o = spans::offset_in_value(text, value.span(), &value.get_ref()[*offset..]);
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
