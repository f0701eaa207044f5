//! Verification: run an SRU plan on the old and new packages, in fresh testbeds, and prove
//! the behaviour where the bug lives. Reads a plan and two package sets; writes
//! `result.json` (the `result` types) and per-run logs into the output dir.

pub mod archive;
pub mod checks;
pub mod engine;
pub mod export;
pub mod families;
pub mod ini_edit;
pub mod iscsi;
pub mod packages;
pub mod plan;
pub mod redact;
pub mod result;
pub mod run;
pub mod update;
pub mod verdict;

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    #[error("packages under test: {0}")]
    Packages(String),
    /// The after packages are not an update of the before ones (issue 13): bad input.
    #[error("not an update: {0}")]
    NotAnUpdate(String),
    #[error("{0}")]
    Usage(String),
    #[error("{side}/{phase}: {message}")]
    Run { side: result::Side, phase: String, message: String },
    #[error(transparent)]
    Testbed(#[from] crate::testbed::TestbedError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

impl ExitCodeOf for VerifyError {
    fn exit(&self) -> Exit {
        match self {
            VerifyError::Plan(e) => e.exit(),
            VerifyError::Packages(_) | VerifyError::NotAnUpdate(_) | VerifyError::Usage(_) => Exit::BadInput,
            VerifyError::Testbed(e) => e.exit(),
            VerifyError::Fs(e) => e.exit(),
            VerifyError::Run { .. } | VerifyError::Process(_) => Exit::CouldNotRun,
        }
    }
}
