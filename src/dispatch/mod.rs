//! Scaling out through debci on RabbitMQ: `srukit debci up` supervises a loopback broker, a
//! collector and N debci workers running the `srukit` backend (`supervise`, `broker`,
//! `debci`); `srukit dispatch` publishes a run's packages to local apt repositories (`repo`,
//! `layout`), enqueues one debci job per (target, side), waits for the collector and folds
//! the exported tests' results into the run's reports (`jobs`, `fold`).

pub mod broker;
pub mod debci;
pub mod fold;
pub mod jobs;
pub mod layout;
pub mod repo;
pub mod state;
pub mod supervise;

use std::path::PathBuf;

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{path}: {message}")]
    BadRunOut { path: PathBuf, message: String },
    #[error(
        "{path}: not a `srukit debci up` state dir ({message}); start one with `srukit debci up --state DIR`"
    )]
    NoEngine { path: PathBuf, message: String },
    #[error("port {port} on 127.0.0.1 is already in use: another broker or epmd runs here; stop it first")]
    PortBusy { port: u16 },
    #[error("{tool} is missing ({hint})")]
    Missing { tool: String, hint: String },
    #[error("the broker did not answer within {seconds}s (log: {log})")]
    BrokerTimeout { seconds: u64, log: PathBuf },
    #[error("{what} exited during start-up (log: {log})")]
    DiedAtStart { what: String, log: PathBuf },
    #[error("the workers did not all consume within {seconds}s: {consumers} of {workers} (log dir: {log})")]
    WorkersTimeout { seconds: u64, consumers: u64, workers: usize, log: PathBuf },
    #[error("debci said something srukit cannot read: {0}")]
    Debci(String),
    #[error("{pending} of {total} jobs had no result after {seconds}s: {jobs}")]
    WaitTimeout { pending: usize, total: usize, seconds: u64, jobs: String },
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error(transparent)]
    Fs(#[from] crate::fsx::FsError),
}

impl ExitCodeOf for DispatchError {
    fn exit(&self) -> Exit {
        match self {
            DispatchError::BadRunOut { .. } => Exit::BadInput,
            _ => Exit::CouldNotRun,
        }
    }
}

pub type Result<T> = std::result::Result<T, DispatchError>;
