//! A local apt repository (flat, `deb [trusted=yes] URI ./`) made with apt-ftparchive: one
//! per (run, target, side), named by its Suite so a job can pin the source package to it.

use std::path::{Path, PathBuf};

use super::Result;
use crate::fsx;
use crate::process::Cmd;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Repo {
    pub dir: PathBuf,
    /// Suite and Codename of its Release: the release name a pin names.
    pub suite: String,
}

impl Repo {
    /// The sources lines a testbed that can read `dir` uses (copied in, or on a shared path).
    pub fn entry(&self) -> String {
        let uri = format!("file://{}", self.dir.display());
        format!("deb [trusted=yes] {uri} ./\ndeb-src [trusted=yes] {uri} ./")
    }
}

/// Puts `files` (hard links, else copies) into a fresh `dir` and indexes them. The Release
/// file is written outside the dir first: apt-ftparchive would otherwise list it in itself.
pub fn publish(dir: &Path, suite: &str, files: &[PathBuf]) -> Result<Repo> {
    if dir.exists() {
        fsx::remove_dir_all(dir)?;
    }
    fsx::create_dir_all(dir)?;
    for f in files {
        let name = f.file_name().unwrap_or_default();
        let to = dir.join(name);
        if std::fs::hard_link(f, &to).is_err() {
            fsx::copy(f, &to)?;
        }
    }
    let packages = Cmd::new("apt-ftparchive").args(["packages", "."]).cwd(dir).run()?;
    fsx::write(&dir.join("Packages"), &packages.stdout)?;
    let sources = Cmd::new("apt-ftparchive").args(["sources", "."]).cwd(dir).run()?;
    fsx::write(&dir.join("Sources"), &sources.stdout)?;
    let release = Cmd::new("apt-ftparchive")
        .arg(format!("-oAPT::FTPArchive::Release::Suite={suite}"))
        .arg(format!("-oAPT::FTPArchive::Release::Codename={suite}"))
        .arg("-oAPT::FTPArchive::Release::Origin=srukit")
        .arg("-oAPT::FTPArchive::Release::Label=srukit")
        .args(["release", "."])
        .cwd(dir)
        .run()?;
    let outside = dir.with_extension("Release.tmp");
    fsx::write(&outside, &release.stdout)?;
    fsx::rename(&outside, &dir.join("Release"))?;
    Ok(Repo { dir: dir.to_path_buf(), suite: suite.to_string() })
}
