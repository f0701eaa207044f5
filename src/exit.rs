//! The documented exit codes, and how an error chain maps to one.
//!
//! Every command uses the same four codes, so a CI pipeline can tell "the thing checked is
//! not true" from "you called me wrong" from "I could not run at all".

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// 0: success; the thing checked is true.
    Success,
    /// 1: the thing checked is not true (a patch does not apply, a verification failed).
    NotTrue,
    /// 2: bad input or usage.
    BadInput,
    /// 3: could not run (missing tool, environment).
    CouldNotRun,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::NotTrue => 1,
            Exit::BadInput => 2,
            Exit::CouldNotRun => 3,
        }
    }
}

/// Implemented by every stage's error type: which exit code the error means.
pub trait ExitCodeOf {
    fn exit(&self) -> Exit;
}

/// Walks an error chain and returns the exit code of the first srukit error in it.
/// An error that no stage classified (it cannot happen by design) counts as "could not run".
pub fn exit_of(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(exit) = classify(cause) {
            return exit;
        }
    }
    Exit::CouldNotRun
}

/// One line per stage error type. A stage that adds an error type adds it here.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<Exit> {
    macro_rules! try_types {
        ($($ty:ty),* $(,)?) => {
            $(if let Some(e) = cause.downcast_ref::<$ty>() { return Some(e.exit()); })*
        };
    }
    try_types!(
        crate::build::BuildError,
        crate::process::ProcessError,
        crate::fsx::FsError,
        crate::UsageError,
        crate::patch::PatchError,
        crate::formats::series::SeriesError,
        crate::formats::tgt_config::TgtConfigError,
        crate::verify::plan::PlanError,
        crate::verify::VerifyError,
        crate::pipeline::PipelineError,
        crate::report::ReportError,
        crate::testbed::TestbedError,
        crate::formats::version::VersionError,
        crate::formats::distro_info::DistroInfoError,
        crate::formats::changelog::ChangelogError,
        crate::formats::changelog::DpkgParseError,
        crate::backport::manifest::ManifestError,
        crate::backport::apply::ApplyError,
        crate::verify::iscsi::IscsiError,
        crate::verify::checks::data_at_risk::DataAtRiskError,
        crate::backport::BackportError,
    );
    None
}
