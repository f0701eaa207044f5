//! A run's out dir as dispatch reads it: the single-target layout `OUT/{build-before,
//! build-after,apply,verify}`, or the multi-target one `OUT/<series>/...` that a combined
//! `OUT/result.json` (`targets`) lists.

use std::path::{Path, PathBuf};

use super::{DispatchError, Result};
use crate::build::manifest::Manifest;
use crate::fsx;

/// One target of a run: its two builds and what names its tests.
#[derive(Debug, Clone)]
pub struct Target {
    pub series: String,
    pub dir: PathBuf,
    pub before: Side,
    pub after: Side,
    /// The plan `verify` ran (from its result.json), to export when the after source lacks
    /// srukit's tests.
    pub plan: Option<PathBuf>,
    /// The after tree `apply` left, when there is one.
    pub tree: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Side {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Side {
    pub fn files(&self, kind: &str) -> Vec<PathBuf> {
        self.manifest.file(kind).map(|f| self.dir.join(&f.name)).collect()
    }

    /// The .dsc and the files it names.
    pub fn source_files(&self) -> Vec<PathBuf> {
        ["dsc", "orig", "debian-tarball", "native-tarball"].iter().flat_map(|k| self.files(k)).collect()
    }

    pub fn debs(&self) -> Vec<PathBuf> {
        ["deb", "udeb"].iter().flat_map(|k| self.files(k)).collect()
    }
}

fn bad(path: &Path, message: impl Into<String>) -> DispatchError {
    DispatchError::BadRunOut { path: path.to_path_buf(), message: message.into() }
}

fn side(dir: &Path, stage: &str) -> Result<Side> {
    let d = dir.join(stage);
    let manifest =
        Manifest::read(&d).map_err(|e| bad(&d, format!("no build here ({e}); run `srukit run` first")))?;
    let s = Side { dir: d.clone(), manifest };
    if s.files("dsc").is_empty() {
        return Err(bad(
            &d,
            "the build has no .dsc (dispatch needs the source: debci tests a source package)",
        ));
    }
    if s.debs().is_empty() {
        return Err(bad(&d, "the build has no .deb"));
    }
    Ok(s)
}

/// The plan `verify` ran and the series it names, from `verify/result.json`.
fn verify_plan(dir: &Path) -> (Option<PathBuf>, Option<String>) {
    let Ok(text) = fsx::read_to_string(&dir.join("verify/result.json")) else { return (None, None) };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { return (None, None) };
    (
        v["plan"]["path"].as_str().map(PathBuf::from),
        v["plan"]["series"].as_str().filter(|s| !s.is_empty()).map(str::to_string),
    )
}

fn target(dir: &Path, series: Option<String>) -> Result<Target> {
    let before = side(dir, "build-before")?;
    let after = side(dir, "build-after")?;
    if before.manifest.source != after.manifest.source {
        return Err(bad(
            dir,
            format!(
                "build-before is source {}, build-after {}",
                before.manifest.source, after.manifest.source
            ),
        ));
    }
    let (plan, plan_series) = verify_plan(dir);
    // A pocket (bookworm-security) is a suite of the series: the testbed is the series'.
    let series = series
        .or(plan_series)
        .unwrap_or_else(|| after.manifest.distribution.split('-').next().unwrap_or_default().to_string());
    let tree = Some(dir.join("apply/tree")).filter(|t| t.join("debian/changelog").is_file());
    Ok(Target { series, dir: dir.to_path_buf(), before, after, plan, tree })
}

/// The targets of a run out dir.
pub fn targets(out: &Path) -> Result<Vec<Target>> {
    if !out.is_dir() {
        return Err(bad(out, "not a directory"));
    }
    let combined = out.join("result.json");
    if let Ok(text) = fsx::read_to_string(&combined)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(list) = v["targets"].as_array()
    {
        let mut out_targets = Vec::new();
        for t in list {
            let series = t["series"].as_str().ok_or_else(|| bad(&combined, "a target without \"series\""))?;
            out_targets.push(target(&out.join(series), Some(series.to_string()))?);
        }
        if out_targets.is_empty() {
            return Err(bad(&combined, "\"targets\" is empty"));
        }
        return Ok(out_targets);
    }
    Ok(vec![target(out, None)?])
}
