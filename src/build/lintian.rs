//! Runs lintian over the built artifacts and parses its tag lines into counts by severity
//! and a list of tags, so a pipeline can gate on them rather than read them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BuildError;
use super::log::Log;
use crate::process::Cmd;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Tag {
    /// One letter, as lintian prints it: E error, W warning, I info, P pedantic,
    /// X experimental, O overridden, M masked, C classification.
    pub severity: String,
    /// `hello source`, `hello`, `hello-dbgsym` ...
    pub package: String,
    pub tag: String,
    pub info: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct LintianResult {
    pub counts: BTreeMap<String, u32>,
    pub tags: Vec<Tag>,
    /// The full output, in the build log directory.
    pub log: String,
}

impl LintianResult {
    pub fn count(&self, severity: &str) -> u32 {
        self.counts.get(severity).copied().unwrap_or(0)
    }
}

/// Lintian over the given files (.dsc, .deb), every severity shown, overrides included.
/// `--fail-on none`: the result is data for the manifest, not a build failure.
pub fn run(dir: &Path, files: &[String], log: &mut Log) -> Result<LintianResult, BuildError> {
    let cmd = Cmd::new("lintian")
        .args([
            "--display-info",
            "--pedantic",
            "--display-experimental",
            "--show-overrides",
            "--fail-on",
            "none",
        ])
        .args(files)
        .cwd(dir);
    let out = log.run("lintian", &cmd)?;
    let mut result = parse(&String::from_utf8_lossy(&out.stdout));
    result.log = log.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(result)
}

/// Parses lintian's tag lines: `E: hello source: tag-name extra info`. Other lines
/// (`N:` notes, headers) are not tags.
pub fn parse(text: &str) -> LintianResult {
    let mut r = LintianResult::default();
    for line in text.lines() {
        let Some((sev, rest)) = line.split_once(": ") else { continue };
        if sev.len() != 1 || !"EWIPXOMC".contains(sev) {
            continue;
        }
        let Some((package, tagpart)) = rest.split_once(": ") else { continue };
        let (tag, info) = tagpart.split_once(' ').unwrap_or((tagpart, ""));
        if tag.is_empty() {
            continue;
        }
        *r.counts.entry(sev.to_string()).or_default() += 1;
        r.tags.push(Tag {
            severity: sev.into(),
            package: package.into(),
            tag: tag.into(),
            info: info.trim().into(),
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lintian_2_116_output() {
        let out = "W: hello source: orig-tarball-missing-upstream-signature hello_2.10.orig.tar.gz\n\
                   P: hello source: no-dep5-copyright [debian/copyright]\n\
                   N: masked by screen autotools/long-lines\n\
                   M: hello source: very-long-line-length-in-source-file 604 > 512 [m4/po.m4:410]\n\
                   E: hello: binary-without-manpage usr/bin/hello\n\
                   E: hello: binary-without-manpage usr/bin/hi\n";
        let r = parse(out);
        assert_eq!(r.count("E"), 2);
        assert_eq!(r.count("W"), 1);
        assert_eq!(r.count("P"), 1);
        assert_eq!(r.count("M"), 1);
        assert_eq!(r.count("N"), 0);
        assert_eq!(r.tags[0].package, "hello source");
        assert_eq!(r.tags[0].tag, "orig-tarball-missing-upstream-signature");
        assert_eq!(r.tags[1].info, "[debian/copyright]");
        assert_eq!(r.tags[4].package, "hello");
    }
}
