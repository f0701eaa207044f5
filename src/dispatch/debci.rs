//! debci itself: its config dir under the state dir (debci reads `debci_config_dir` from the
//! environment, so /etc/debci is never written), the commands run with it, and the two
//! things debci's CLI cannot do, done through debci's own Ruby library: create a job with an
//! extra apt source (`debci enqueue` has no option for one), and read jobs back.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::state::Paths;
use super::{DispatchError, Result};
use crate::fsx;
use crate::process::Cmd;

pub const BACKEND: &str = "srukit";
pub const BACKEND_DIR: &str = "/usr/share/debci/backends/srukit";
/// The backend's scripts, shipped by srukit's .deb; `debci up` installs them when missing.
pub const TEST_PACKAGE: &str = include_str!("../../debian/debci-backend/test-package");
pub const CREATE_TESTBED: &str = include_str!("../../debian/debci-backend/create-testbed");

pub fn check_installed() -> Result<()> {
    for (tool, hint) in [
        ("/usr/bin/debci", "apt-get install debci (never debci-worker)"),
        ("/usr/share/debci/bin/debci-enqueue", "apt-get install debci-collector"),
        ("/usr/bin/amqp-consume", "apt-get install amqp-tools"),
        ("/usr/bin/autopkgtest", "apt-get install autopkgtest"),
        ("/usr/bin/apt-ftparchive", "apt-get install apt-utils"),
    ] {
        if !Path::new(tool).exists() {
            return Err(DispatchError::Missing {
                tool: tool.into(),
                hint: format!("{hint}; scripts/setup.sh"),
            });
        }
    }
    Ok(())
}

/// debci's shell config: lower-case variables, read from `$debci_config_dir/debci.conf`.
pub fn conf(paths: &Paths, amqp: &str, arch: &str) -> String {
    format!(
        "# Written by `srukit debci up`; debci reads it through debci_config_dir.\n\
         debci_backend={BACKEND}\n\
         debci_arch={arch}\n\
         debci_amqp_server={amqp}\n\
         debci_data_basedir={}\n\
         debci_lock_dir={}\n",
        paths.data().display(),
        paths.tmp().display()
    )
}

pub fn write_config(paths: &Paths, amqp: &str, arch: &str) -> Result<()> {
    fsx::create_dir_all(&paths.config())?;
    fsx::create_dir_all(&paths.data())?;
    fsx::create_dir_all(&paths.tmp())?;
    fsx::write_atomic(&paths.config().join("debci.conf"), conf(paths, amqp, arch))?;
    let yaml = paths.config().join("extra_apt_sources_list.yaml");
    if !yaml.exists() {
        fsx::write_atomic(&yaml, "{}\n")?;
    }
    Ok(())
}

/// A debci command (`debci ARGS...`) with the state dir's config.
pub fn cmd(paths: &Paths, args: &[&str]) -> Cmd {
    Cmd::new("debci").args(args).env("debci_config_dir", paths.config()).cwd("/usr/share/debci")
}

/// Creates debci's database in the data dir.
pub fn migrate(paths: &Paths) -> Result<()> {
    cmd(paths, &["migrate"]).timeout(Duration::from_secs(120)).run()?;
    Ok(())
}

/// Ruby with debci's library and the state dir's config.
fn ruby(paths: &Paths, script: &str, input: String) -> Cmd {
    Cmd::new("ruby")
        .args(["-e", script])
        .env("debci_config_dir", paths.config())
        .stdin_bytes(input)
        .timeout(Duration::from_secs(120))
}

/// One job to create.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewJob {
    pub package: String,
    pub suite: String,
    pub arch: String,
    pub trigger: String,
    /// `[["src:PKG", RELEASE]]`: autopkgtest then takes the source from RELEASE too.
    pub pin_packages: Vec<Vec<String>>,
    /// Names in extra_apt_sources_list.yaml.
    pub extra_apt_sources: Vec<String>,
}

const ENQUEUE: &str = r#"
require 'json'
require 'debci'
require 'debci/job'
require 'debci/user'
require 'debci/package'
user = Debci::User.find_or_create_by!(username: 'srukit')
ids = JSON.parse(STDIN.read).map do |j|
  job = Debci::Job.create!(
    package: Debci::Package.find_or_create_by!(name: j['package']),
    suite: j['suite'], arch: j['arch'], requestor: user, trigger: j['trigger'],
    pin_packages: j['pin_packages'], extra_apt_sources: j['extra_apt_sources'])
  job.enqueue
  job.id
end
puts JSON.generate(ids)
"#;

/// Creates and enqueues the jobs (debci's own `Job#enqueue`: the message the workers parse);
/// returns their ids (= run ids) in order.
pub fn enqueue(paths: &Paths, jobs: &[NewJob]) -> Result<Vec<u64>> {
    ruby_json(paths, ENQUEUE, jobs, "enqueue")
}

/// Runs one of the Ruby scripts above with `input` as JSON on its stdin; its last stdout
/// line is the JSON answer (debci's library may print before it).
fn ruby_json<I: serde::Serialize + ?Sized, O: serde::de::DeserializeOwned>(
    paths: &Paths,
    script: &str,
    input: &I,
    what: &str,
) -> Result<O> {
    let input = serde_json::to_string(input).map_err(|e| DispatchError::Debci(e.to_string()))?;
    let out = ruby(paths, script, input).read()?;
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .map_err(|e| DispatchError::Debci(format!("{what} answered {out:?}: {e}")))
}

/// A job as debci's database has it.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct JobRow {
    pub id: u64,
    pub package: String,
    pub suite: String,
    pub status: Option<String>,
    pub message: Option<String>,
    pub version: Option<String>,
    pub worker: Option<String>,
    pub created_at: Option<String>,
    pub date: Option<String>,
    pub duration_seconds: Option<u64>,
    /// Where the collector put the job's log.gz and artifacts.tar.gz.
    pub data_dir: String,
}

const JOBS: &str = r#"
require 'json'
require 'debci'
require 'debci/job'
ids = JSON.parse(STDIN.read)
rows = Debci::Job.where(run_id: ids).includes(:package, :worker).map do |j|
  { id: j.id, package: j.package.name, suite: j.suite, status: j.status, message: j.message,
    version: j.version, worker: j.worker && j.worker.name,
    created_at: j.created_at && j.created_at.utc.iso8601(3), date: j.date && j.date.utc.iso8601(3),
    duration_seconds: j.duration_seconds, data_dir: j.autopkgtest_data_dir.to_s }
end
puts JSON.generate(rows)
"#;

pub fn jobs(paths: &Paths, ids: &[u64]) -> Result<Vec<JobRow>> {
    ruby_json(paths, JOBS, ids, "the job query")
}

/// Adds named sources to extra_apt_sources_list.yaml (a YAML map; JSON is YAML).
pub fn add_extra_sources(paths: &Paths, entries: &[(String, String)]) -> Result<()> {
    let file = paths.config().join("extra_apt_sources_list.yaml");
    let text = fsx::read_to_string(&file).unwrap_or_else(|_| "{}".into());
    let mut map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    for (name, entry) in entries {
        map.insert(name.clone(), serde_json::json!({ "entry": entry }));
    }
    let text = serde_json::to_string_pretty(&map).map_err(|e| DispatchError::Debci(e.to_string()))?;
    fsx::write_atomic(&file, text + "\n")?;
    Ok(())
}

/// Installs the backend into debci's backends dir unless srukit's .deb has (a file dpkg owns
/// is left alone); a copy no package owns (an earlier `debci up`'s) is replaced by this
/// srukit's. Returns whether it wrote them (then `debci up` removes them at stop).
pub fn install_backend() -> Result<bool> {
    let dir = Path::new(BACKEND_DIR);
    let script = dir.join("test-package");
    if script.exists() {
        let owned = Cmd::new("dpkg-query").arg("-S").arg(&script).output_unchecked()?.status.success();
        if owned {
            return Ok(false);
        }
    }
    fsx::create_dir_all(dir)?;
    for (name, text) in [("test-package", TEST_PACKAGE), ("create-testbed", CREATE_TESTBED)] {
        fsx::remove_file_if_exists(&dir.join(name))?;
        fsx::write_new(&dir.join(name), text.as_bytes(), 0o755)?;
    }
    Ok(true)
}

pub fn remove_backend() {
    let dir = Path::new(BACKEND_DIR);
    for name in ["test-package", "create-testbed"] {
        let _ = fsx::remove_file_if_exists(&dir.join(name));
    }
    let _ = fsx::remove_dir(dir);
}
