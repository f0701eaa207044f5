//! The plan's rules beyond its shape: each edit and step has exactly one kind and only its
//! own fields, durations and modes parse, and every check's object can exist (an iscsi
//! check has its target and daemon, a service check an init, a package check a version to
//! assert). Errors name `file:line`.

use super::checks::{Check, CheckSpec};
use super::raw::{self, Need, RawPlan, Step};
use super::{Edit, Loc, PlanError, duration, spans};

/// An octal file mode (`0644`), as text.
fn mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode `{text}` is not an octal mode such as \"0644\""))
}

/// One edit, validated: exactly one kind, its fields and no other.
pub fn edit(loc: &Loc, e: &toml::Spanned<raw::RawEdit>) -> Result<Edit, PlanError> {
    let at = e.span().start;
    let r = e.get_ref();
    let kinds: Vec<(&str, &String)> = [
        ("file", &r.file),
        ("ini", &r.ini),
        ("set", &r.set),
        ("append", &r.append),
        ("write", &r.write),
        ("remove", &r.remove),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let [(kind, file)] = kinds.as_slice() else {
        return Err(loc.at(
            at,
            "an edit takes exactly one of `ini` (or the legacy `file`), `set`, `append`, `write`, `remove`",
        ));
    };
    let file = (*file).clone();
    if !file.starts_with('/') {
        return Err(loc.at(at, format!("edit `{kind}`: `{file}` is not an absolute path")));
    }
    let given: Vec<&str> = [
        ("section", r.section.is_some()),
        ("key", r.key.is_some()),
        ("value", r.value.is_some()),
        ("line", r.line.is_some()),
        ("content", r.content.is_some()),
        ("mode", r.mode.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let wants: &[&str] = match *kind {
        "file" | "ini" => &["section", "key", "value"],
        "set" => &["key", "value"],
        "append" => &["line"],
        "write" => &["content", "mode"],
        _ => &[],
    };
    if let Some(extra) = given.iter().find(|g| !wants.contains(g)) {
        return Err(loc.at(at, format!("edit `{kind}` takes no `{extra}` (it takes: {})", wants.join(", "))));
    }
    let need = |v: &Option<String>, name: &str| {
        v.clone().ok_or_else(|| loc.at(at, format!("edit `{kind}` needs `{name}`")))
    };
    Ok(match *kind {
        "file" | "ini" => Edit::Ini {
            file,
            section: need(&r.section, "section")?,
            key: need(&r.key, "key")?,
            value: need(&r.value, "value")?,
        },
        "set" => Edit::Set { file, key: need(&r.key, "key")?, value: need(&r.value, "value")? },
        "append" => Edit::Append { file, line: need(&r.line, "line")? },
        "write" => {
            let m = r.mode.clone().unwrap_or_else(|| "0644".into());
            mode(&m).map_err(|e| loc.at(at, format!("edit `write`: {e}")))?;
            Edit::Write { file, content: need(&r.content, "content")?, mode: m }
        }
        _ => Edit::Remove { file },
    })
}

/// One step, validated: exactly one kind; `user` only where a command runs.
pub fn step(loc: &Loc, raw: &RawPlan, s: &Step, sp: &spans::StepSpans) -> Result<(), PlanError> {
    let at = sp.name.span().start;
    let kinds: Vec<&str> = [
        ("run", !s.run.is_empty()),
        ("sh", s.sh.is_some()),
        ("write", s.write.is_some()),
        ("daemon", s.daemon.is_some()),
        ("upgrade", s.upgrade.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    let [kind] = kinds.as_slice() else {
        return Err(loc.at(
            at,
            format!("step `{}` needs exactly one of `run`, `sh`, `write`, `daemon` or `upgrade`", s.name),
        ));
    };
    if s.user.is_some() && !matches!(*kind, "run" | "sh") {
        return Err(loc.at(at, format!("step `{}`: `user` applies to `run` and `sh` steps only", s.name)));
    }
    if let (Some(t), Some(tsp)) = (&s.timeout, &sp.timeout) {
        duration(t).map_err(|e| loc.at(tsp.span().start, format!("step `{}`: {e}", s.name)))?;
    }
    if let Some(w) = &s.write
        && let Some(m) = &w.mode
    {
        mode(m).map_err(|e| loc.at(at, format!("step `{}`: {e}", s.name)))?;
    }
    if let Some(d) = &s.daemon {
        if d.argv.is_empty() {
            return Err(loc.at(at, format!("step `{}`: daemon argv is empty", s.name)));
        }
        if d.ready_port.is_some() && d.ready_file.is_some() {
            return Err(
                loc.at(at, format!("step `{}`: daemon takes ready-port or ready-file, not both", s.name))
            );
        }
        if let Some(t) = &d.timeout {
            duration(t).map_err(|e| loc.at(at, format!("step `{}`: {e}", s.name)))?;
        }
    }
    if s.upgrade.is_some() && raw.sides.len() < 2 {
        return Err(loc.at(
            at,
            format!(
                "step `{}`: an upgrade installs the run's side over the before side's packages; a plan with one side has nothing to upgrade from",
                s.name
            ),
        ));
    }
    Ok(())
}

/// "A check whose object does not exist", refused at load: an iscsi check without the
/// `[target]` and `[daemon]` it talks to, a service check without an init, a package check
/// whose default version (the side's) refers to no package under test.
pub fn objects(loc: &Loc, raw: &RawPlan, checks: &[Check]) -> Result<(), PlanError> {
    for c in checks {
        match &c.spec {
            CheckSpec::Iscsi(_) if raw.target.is_none() || raw.daemon.is_none() => {
                let missing = if raw.target.is_none() { "[target]" } else { "[daemon]" };
                return Err(loc.at_line(
                    c.line,
                    format!("check `{}` (iscsi) needs {missing}: the target it reads and the daemon that serves it", c.id),
                ));
            }
            CheckSpec::Service(s) if !raw.needs.contains(&Need::Init) => {
                return Err(loc.at_line(
                    c.line,
                    format!(
                        "check `{}` observes unit `{}`, which needs a service manager: add needs = [\"init\"] (and a testbed with systemd-sysv)",
                        c.id, s.name
                    ),
                ));
            }
            CheckSpec::Package(p) if !raw.install.contains(&p.name) => {
                if let Some(o) = c
                    .outcomes
                    .iter()
                    .find(|o| o.matchers.version.is_none() && o.matchers.installed != Some(false))
                {
                    return Err(loc.at_line(
                        o.line,
                        format!(
                            "outcome `{}` of check `{}` asserts the side's version of `{}`, which is not under test (not in `install`): give `version = \"...\"` (or \"*\")",
                            o.name, c.id, p.name
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}
