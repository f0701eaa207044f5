//! The build log: every command a build runs, with its output, in one file per phase. A
//! failing command becomes `BuildError::StepFailed` quoting the log's last lines.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::BuildError;
use crate::fsx;
use crate::process::{Cmd, ProcessError};

/// How many log lines a failure quotes.
pub const TAIL_LINES: usize = 25;

pub struct Log {
    path: PathBuf,
    buf: Vec<u8>,
}

impl Log {
    pub fn create(path: &Path) -> Result<Log, BuildError> {
        let log = Log { path: path.to_path_buf(), buf: Vec::new() };
        fsx::write(&log.path, b"")?;
        Ok(log)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends text and saves, so the log on disk is current even if srukit is killed.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), BuildError> {
        self.buf.extend_from_slice(bytes);
        fsx::write(&self.path, &self.buf)?;
        Ok(())
    }

    /// Runs a host command, logging the command line and its output.
    pub fn run(&mut self, step: &str, cmd: &Cmd) -> Result<Output, BuildError> {
        self.append(format!("$ {}\n", cmd.display()).as_bytes())?;
        let started = std::time::Instant::now();
        let out = match cmd.output_unchecked() {
            Ok(o) => o,
            Err(source) => {
                self.append(format!("srukit: {source}\n").as_bytes())?;
                return Err(BuildError::Tool { step: step.into(), source: Box::new(source) });
            }
        };
        self.append(&out.stdout)?;
        self.append(&out.stderr)?;
        self.append(format!("srukit: {:.1}s\n", started.elapsed().as_secs_f64()).as_bytes())?;
        if out.status.success() {
            Ok(out)
        } else {
            let status = match cmd.failed(&out) {
                ProcessError::Failed { status, .. } => status,
                other => other.to_string(),
            };
            self.append(format!("srukit: {step} failed: {status}\n").as_bytes())?;
            Err(self.failure(step, &cmd.display(), &status))
        }
    }

    /// The error for a step whose command failed, quoting this log's tail.
    pub fn failure(&self, step: &str, cmd: &str, status: &str) -> BuildError {
        BuildError::StepFailed {
            step: step.into(),
            cmd: cmd.into(),
            status: status.into(),
            log: self.path.clone(),
            tail: crate::process::tail(&self.buf, TAIL_LINES),
        }
    }
}
