//! The log family: the lines a file gained since the phase began (its size is recorded
//! after the edits, before the first step), matched with `contains` patterns. A file that
//! shrank was rotated or truncated: then all of it is new, and the evidence says so.

use std::collections::BTreeMap;

use serde_json::json;

use super::matchers::{EXCERPT, excerpt, patterns_hold};
use super::{Ctx, Family, Observation, exec, script, select};
use crate::verify::plan::{Check, LogSpec, expand};

pub struct Log<'a> {
    pub check: &'a Check,
    pub spec: &'a LogSpec,
    pub start: &'a BTreeMap<String, u64>,
}

/// The size of `path` in the testbed, 0 when it does not exist yet.
pub fn size(tb: &mut dyn crate::testbed::Testbed, path: &str) -> Result<u64, String> {
    let out = exec(tb, &script(r#"[ -e "$1" ] || { echo 0; exit 0; }; stat -L -c %s -- "$1""#, &[path]))?;
    if !out.success() {
        return Err(format!("stat {path}: {}", out.stderr_str().trim()));
    }
    out.stdout_str().trim().parse().map_err(|_| format!("stat {path}: `{}`", out.stdout_str().trim()))
}

impl Family for Log<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let path = expand(&self.spec.file, ctx.vars)?;
        let from = *self
            .start
            .get(&path)
            .ok_or_else(|| format!("the size of {path} was not recorded when the phase began"))?;
        let out = exec(
            ctx.tb,
            &script(
                r#"[ -e "$1" ] || exit 3; s=$(stat -L -c %s -- "$1"); echo "$s"; if [ "$s" -ge "$2" ]; then tail -c +$(($2 + 1)) -- "$1"; else cat -- "$1"; fi"#,
                &[&path, &from.to_string()],
            ),
        )?;
        let (exists, now, new) = match out.status {
            3 => (false, 0, Vec::new()),
            0 => {
                let nl = out.stdout.iter().position(|b| *b == b'\n').unwrap_or(out.stdout.len());
                let now: u64 = String::from_utf8_lossy(&out.stdout[..nl]).trim().parse().unwrap_or(0);
                (true, now, out.stdout.get(nl + 1..).unwrap_or_default().to_vec())
            }
            s => return Err(format!("reading {path} exited with status {s}: {}", out.stderr_str().trim())),
        };
        let rotated = exists && now < from;
        let text = String::from_utf8_lossy(&new).into_owned();
        let (outcome, why) = select(self.check, |m, why| patterns_hold("contains", &m.contains, &text, why))?;
        let lines = text.lines().count();
        let observed = match (exists, rotated) {
            (false, _) => format!("{path} does not exist"),
            (true, true) => format!("{path}: shrank from {from} to {now} bytes (rotated); {lines} lines now"),
            (true, false) => format!("{path}: {lines} new lines since the phase began"),
        };
        let evidence = json!({
            "file": path,
            "exists": exists,
            "from_byte": from,
            "size": now,
            "rotated": rotated,
            "new_lines": excerpt(&new, EXCERPT),
            "object": { "file": path },
            "under_test": { "file": path },
        });
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}
