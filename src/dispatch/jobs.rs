//! `srukit dispatch`: per target, the after source (with srukit's exported tests) and each
//! side's binaries published to a local apt repo; one debci job per (target, side), pinned to
//! its repo; then the wait for the collector's results.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::Target;
use super::repo::{self, Repo};
use super::state::{Paths, State};
use super::{DispatchError, Result, debci};
use crate::fsx;
use crate::process::Cmd;
use crate::verify::export::{self, ExportOptions};

pub const SIDES: [&str; 2] = ["before", "after"];

/// One job as dispatch planned and enqueued it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Job {
    pub id: u64,
    pub run_out: PathBuf,
    pub series: String,
    pub side: String,
    pub package: String,
    pub repo: Repo,
    pub enqueued: String,
    /// Filled in by the wait.
    pub row: Option<debci::JobRow>,
}

/// A short stable tag for a run out dir and series: repo and release names.
pub fn tag(run_out: &Path, series: &str) -> String {
    let mut h = Sha256::new();
    h.update(run_out.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    h.update(series.as_bytes());
    let hex = crate::digest::hex(&h.finalize());
    format!("{series}-{}", &hex[..10])
}

/// Whether an unpacked source tree carries srukit's exported tests.
fn has_srukit_tests(tree: &Path) -> bool {
    fsx::read_to_string(&tree.join("debian/tests/control")).is_ok_and(|t| {
        t.lines().any(|l| {
            let l = l.trim_start();
            (l.starts_with("Tests:") || l.starts_with("Features:")) && l.contains("srukit-")
        })
    })
}

/// The after source files to publish: the build's own when its tree has srukit's tests;
/// otherwise the plan exported into an unpacked copy and the SOURCE rebuilt with dpkg-source
/// (never the binaries: the jobs test the binaries `srukit run` built).
pub fn after_source(t: &Target, work: &Path) -> Result<Vec<PathBuf>> {
    let dsc = t.after.files("dsc").remove(0);
    if let Some(tree) = &t.tree
        && has_srukit_tests(tree)
    {
        return Ok(t.after.source_files());
    }
    if work.exists() {
        fsx::remove_dir_all(work)?;
    }
    fsx::create_dir_all(work)?;
    Cmd::new("dpkg-source").args(["--no-check", "-x"]).arg(&dsc).arg(work.join("src")).run()?;
    if has_srukit_tests(&work.join("src")) {
        return Ok(t.after.source_files());
    }
    let plan = t.plan.clone().ok_or_else(|| DispatchError::BadRunOut {
        path: t.dir.clone(),
        message: "the after source has no srukit DEP-8 test and verify/result.json names no plan to export"
            .into(),
    })?;
    export::export(&plan, &work.join("src"), &ExportOptions { depends: Vec::new() })
        .map_err(|e| DispatchError::BadRunOut { path: plan.clone(), message: e.to_string() })?;
    for orig in t.after.files("orig") {
        let to = work.join(orig.file_name().unwrap_or_default());
        fsx::copy(&orig, &to)?;
    }
    Cmd::new("dpkg-source").args(["-b", "src"]).cwd(work).timeout(Duration::from_secs(600)).run()?;
    let mut files = Vec::new();
    for e in fsx::read_dir(work)? {
        let p = e.map_err(|e| DispatchError::Debci(e.to_string()))?.path();
        if p.is_file() {
            files.push(p);
        }
    }
    Ok(files)
}

/// Publishes a target's two repos and creates its two jobs (not yet enqueued).
pub fn plan_target(
    paths: &Paths,
    state: &State,
    run_out: &Path,
    t: &Target,
) -> Result<Vec<(debci::NewJob, Job)>> {
    let tag = tag(run_out, &t.series);
    let source = after_source(t, &paths.root.join("work").join(&tag))?;
    let mut out = Vec::new();
    for side in SIDES {
        let debs = if side == "before" { t.before.debs() } else { t.after.debs() };
        let files: Vec<PathBuf> = source.iter().cloned().chain(debs).collect();
        // The backend reads the side from this name's suffix (srukit-*-before).
        let suite = format!("srukit-{tag}-{side}");
        let r = repo::publish(&paths.repos().join(&suite), &suite, &files)?;
        let package = t.after.manifest.source.clone();
        let new = debci::NewJob {
            package: package.clone(),
            suite: t.series.clone(),
            arch: state.arch.clone(),
            trigger: format!("srukit {} {side}", t.after.manifest.version),
            pin_packages: vec![vec![format!("src:{package}"), suite.clone()]],
            extra_apt_sources: vec![suite.clone()],
        };
        let job = Job {
            id: 0,
            run_out: run_out.to_path_buf(),
            series: t.series.clone(),
            side: side.to_string(),
            package,
            repo: r,
            enqueued: String::new(),
            row: None,
        };
        out.push((new, job));
    }
    Ok(out)
}

/// Enqueues every job at once (one debci call), recording when.
pub fn enqueue(paths: &Paths, planned: Vec<(debci::NewJob, Job)>) -> Result<Vec<Job>> {
    let sources: Vec<(String, String)> =
        planned.iter().map(|(_, j)| (j.repo.suite.clone(), j.repo.entry())).collect();
    debci::add_extra_sources(paths, &sources)?;
    let news: Vec<debci::NewJob> = planned.iter().map(|(n, _)| n.clone()).collect();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let ids = debci::enqueue(paths, &news)?;
    if ids.len() != planned.len() {
        return Err(DispatchError::Debci(format!("{} jobs enqueued, {} ids back", planned.len(), ids.len())));
    }
    Ok(planned
        .into_iter()
        .zip(ids)
        .map(|((_, mut j), id)| {
            j.id = id;
            j.enqueued = now.clone();
            j
        })
        .collect())
}

/// The jobs of a run out dir's last dispatch: `RUN_OUT/dispatch/jobs.json`.
pub fn jobs_file(run_out: &Path) -> PathBuf {
    run_out.join("dispatch/jobs.json")
}

pub fn save(run_out: &Path, jobs: &[Job]) -> Result<()> {
    fsx::create_dir_all(&run_out.join("dispatch"))?;
    let text = serde_json::to_string_pretty(jobs).map_err(|e| DispatchError::Debci(e.to_string()))?;
    fsx::write_atomic(&jobs_file(run_out), text + "\n")?;
    Ok(())
}

pub fn load(run_out: &Path) -> Result<Vec<Job>> {
    let f = jobs_file(run_out);
    let text = fsx::read_to_string(&f).map_err(|e| DispatchError::BadRunOut {
        path: f.clone(),
        message: format!("no earlier dispatch ({e})"),
    })?;
    serde_json::from_str(&text).map_err(|e| DispatchError::BadRunOut { path: f, message: e.to_string() })
}

/// Waits until debci has a status for every job (the collector received its result).
pub fn wait(paths: &Paths, jobs: &mut [Job], timeout: Duration) -> Result<()> {
    let t0 = Instant::now();
    loop {
        let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
        let rows = debci::jobs(paths, &ids)?;
        for j in jobs.iter_mut() {
            j.row = rows.iter().find(|r| r.id == j.id).cloned();
        }
        let pending: Vec<String> = jobs
            .iter()
            .filter(|j| j.row.as_ref().and_then(|r| r.status.as_ref()).is_none())
            .map(|j| format!("{} ({} {})", j.id, j.series, j.side))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        if t0.elapsed() > timeout {
            return Err(DispatchError::WaitTimeout {
                pending: pending.len(),
                total: jobs.len(),
                seconds: timeout.as_secs(),
                jobs: pending.join(", "),
            });
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_stable_apt_suite_names() {
        let a = tag(Path::new("/x/out"), "bookworm");
        assert_eq!(a, tag(Path::new("/x/out"), "bookworm"));
        assert_ne!(a, tag(Path::new("/y/out"), "bookworm"));
        assert!(a.starts_with("bookworm-") && a.len() == "bookworm-".len() + 10);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn srukit_tests_are_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("debian/tests")).unwrap();
        std::fs::write(d.path().join("debian/tests/control"), "Tests: upstream\nDepends: @\n").unwrap();
        assert!(!has_srukit_tests(d.path()));
        std::fs::write(d.path().join("debian/tests/control"), "Tests: srukit-x-default\nDepends: @\n")
            .unwrap();
        assert!(has_srukit_tests(d.path()));
    }
}
