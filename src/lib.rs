//! srukit: stable release updates for Debian and Ubuntu, as a library.
//!
//! The modules follow the pipeline: `formats` (the Debian file formats srukit reads and
//! writes), `patch` (the strict quilt engine), `backport` (manifests, apply, upstream
//! cherry-picks), `build`, `testbed`, `verify`, `report`. `process` and `fsx` are the only
//! doors to external commands and the filesystem; `reporter` is how stages talk.

pub mod debcache;
pub mod digest;
pub mod exit;
pub mod fsx;
pub mod process;
pub mod reporter;

pub mod backport;
pub mod build;
pub mod dispatch;
pub mod formats;
pub mod patch;
pub mod pipeline;
pub mod report;
pub mod testbed;
pub mod verify;

pub mod cli;

use exit::{Exit, ExitCodeOf};

/// A command called with arguments that cannot work together, found after clap's own checks.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl ExitCodeOf for UsageError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}
