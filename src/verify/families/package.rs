//! The package family: whether a binary package is installed in the testbed and at which
//! version (dpkg-query). An outcome without `version` asserts exactly the side's version of
//! a package under test; `version = "*"` any; `version = "1.2-3"` that one.

use serde_json::json;

use super::matchers::note;
use super::{Ctx, Family, Observation, exec, select};
use crate::testbed::ExecRequest;
use crate::verify::plan::{Check, PackageSpec};

pub struct Package<'a> {
    pub check: &'a Check,
    pub spec: &'a PackageSpec,
}

impl Family for Package<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let name = &self.spec.name;
        let out = exec(
            ctx.tb,
            &ExecRequest::new(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Version}", name.as_str()]),
        )?;
        // dpkg-query exits 1 for a package it has never heard of: not installed.
        let text = if out.success() { out.stdout_str() } else { String::new() };
        let (status, version) = text.split_once('\t').unwrap_or(("", ""));
        let status = status.trim().to_string();
        // The second letter of the abbreviated status is the current state: `i` installed.
        let installed = status.chars().nth(1) == Some('i');
        let side_version = ctx.under_test.iter().find(|p| &p.name == name).map(|p| p.version.clone());
        let (outcome, why) = select(self.check, |m, why| {
            let mut ok = true;
            if let Some(want) = m.installed {
                ok &= note(
                    why,
                    installed == want,
                    if want { "installed".into() } else { "not installed".into() },
                );
            }
            let want = match &m.version {
                Some(v) => Some(v.clone()),
                // The default: the side's version, unless the outcome is about absence.
                None if m.installed != Some(false) => side_version.clone(),
                None => None,
            };
            match want.as_deref() {
                Some("*") => ok &= note(why, installed, "version *".into()),
                Some(v) => ok &= note(why, installed && version == v, format!("version {v}")),
                None if m.version.is_none() && m.installed != Some(false) => {
                    ok &= note(why, false, "the side's version (the package is not under test)".into())
                }
                None => {}
            }
            ok
        })?;
        let observed = if installed {
            format!("{name} {version} installed")
        } else if status.is_empty() {
            format!("{name} not installed (unknown to dpkg)")
        } else {
            format!("{name} not installed (dpkg status {status})")
        };
        let evidence = json!({
            "package": name,
            "status": status,
            "version": version,
            "side_version": side_version,
            "object": { "package": name, "version": version },
            "under_test": { "package": name },
        });
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}
