//! Which exit code an error means: every stage's error type, registered here at the top,
//! where every stage is known, so the exit-code floor (`crate::exit`) imports none of them.
//!
//! A stage that adds an error type (one that implements `ExitCodeOf`) adds one line to
//! `STAGE_ERRORS`; a test below fails on any `impl ExitCodeOf for` in src/ missing here.

use crate::exit::{Exit, Known, exit_of_chain};

/// One line per stage error type. The order does not matter: the outermost cause of a
/// listed type decides.
pub const STAGE_ERRORS: &[Known] = &[
    Known::of::<crate::UsageError>(),
    Known::of::<crate::process::ProcessError>(),
    Known::of::<crate::fsx::FsError>(),
    Known::of::<crate::formats::series::SeriesError>(),
    Known::of::<crate::formats::tgt_config::TgtConfigError>(),
    Known::of::<crate::formats::version::VersionError>(),
    Known::of::<crate::formats::distro_info::DistroInfoError>(),
    Known::of::<crate::formats::changelog::ChangelogError>(),
    Known::of::<crate::formats::changelog::DpkgParseError>(),
    Known::of::<crate::patch::PatchError>(),
    Known::of::<crate::backport::BackportError>(),
    Known::of::<crate::backport::manifest::ManifestError>(),
    Known::of::<crate::backport::apply::ApplyError>(),
    Known::of::<crate::build::BuildError>(),
    Known::of::<crate::testbed::TestbedError>(),
    Known::of::<crate::testbed::virt_server::VirtError>(),
    Known::of::<crate::verify::plan::PlanError>(),
    Known::of::<crate::verify::VerifyError>(),
    Known::of::<crate::verify::iscsi::IscsiError>(),
    Known::of::<crate::verify::checks::data_at_risk::DataAtRiskError>(),
    Known::of::<crate::report::ReportError>(),
    Known::of::<crate::verify::export::ExportError>(),
    Known::of::<crate::verify::export::result::ResultError>(),
    Known::of::<crate::pipeline::PipelineError>(),
    Known::of::<crate::dispatch::DispatchError>(),
];

/// The exit code of a command's error: its outermost stage error decides.
pub fn of_error(err: &anyhow::Error) -> Exit {
    exit_of_chain(err, STAGE_ERRORS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::error::Error;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::exit::ExitCodeOf;

    struct Row {
        name: &'static str,
        err: anyhow::Error,
        want: Exit,
    }

    fn row<E: ExitCodeOf + Error + Send + Sync + 'static>(e: E, want: Exit) -> Row {
        Row { name: std::any::type_name::<E>(), err: anyhow::Error::new(e), want }
    }

    fn p() -> PathBuf {
        PathBuf::from("/x/file")
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    /// One value of every stage error type, with the exit code it means.
    fn one_of_each() -> Vec<Row> {
        use crate::backport::apply::ApplyError;
        use crate::backport::manifest::ManifestError;
        use crate::formats::changelog::{ChangelogError, DpkgParseError};
        use crate::formats::distro_info::DistroInfoError;
        use crate::formats::{series::SeriesError, tgt_config::TgtConfigError, version::VersionError};
        use crate::process::ProcessError;
        vec![
            row(crate::UsageError(s("--a with --b")), Exit::BadInput),
            row(
                ProcessError::Timeout { cmd: s("sleep 9"), timeout: Duration::from_secs(1) },
                Exit::CouldNotRun,
            ),
            row(
                crate::fsx::FsError { op: "read", path: p(), source: io::ErrorKind::PermissionDenied.into() },
                Exit::CouldNotRun,
            ),
            row(SeriesError::NotUtf8 { path: p(), line: 3 }, Exit::BadInput),
            row(TgtConfigError::Unclosed { path: p(), line: 1, block: s("target") }, Exit::BadInput),
            row(VersionError::Invalid { text: s("1.0-"), why: "revision number is empty" }, Exit::BadInput),
            row(DistroInfoError::Malformed { path: p(), line: 2, why: s("short") }, Exit::CouldNotRun),
            row(ChangelogError::NoMaintainer, Exit::BadInput),
            row(
                DpkgParseError::Rejected(ProcessError::Failed {
                    cmd: s("dpkg-parsechangelog"),
                    status: s("exited 255"),
                    code: Some(255),
                    stdout_tail: String::new(),
                    stderr_tail: s("badly formatted"),
                }),
                Exit::BadInput,
            ),
            row(crate::patch::PatchError::LocalChanges { patch: p(), file: s("a.c") }, Exit::NotTrue),
            row(crate::backport::BackportError::Empty { commit: s("abc"), onto: s("v1") }, Exit::NotTrue),
            row(ManifestError::Invalid { path: p(), line: 1, col: 1, message: s("no name") }, Exit::BadInput),
            row(
                ApplyError::DoesNotApply {
                    patch: p(),
                    line: 9,
                    file: s("a.c"),
                    hunk: 1,
                    reason: s("context"),
                },
                Exit::NotTrue,
            ),
            row(crate::build::BuildError::NotATree { path: p(), what: s("no debian/") }, Exit::BadInput),
            row(crate::testbed::TestbedError::UnknownImage(s("deadbeef")), Exit::BadInput),
            row(crate::testbed::virt_server::VirtError::NotOpen("close"), Exit::BadInput),
            row(
                crate::verify::plan::PlanError::Invalid { path: p(), line: 4, column: None, message: s("?") },
                Exit::BadInput,
            ),
            row(crate::verify::VerifyError::Usage(s("no --before")), Exit::BadInput),
            row(crate::verify::iscsi::IscsiError::Protocol(s("short PDU")), Exit::CouldNotRun),
            row(crate::verify::checks::data_at_risk::DataAtRiskError::BadSize(0), Exit::BadInput),
            row(crate::report::ReportError::Render { format: "junit", message: s("?") }, Exit::CouldNotRun),
            row(crate::pipeline::PipelineError::Input(s("no backport folder")), Exit::BadInput),
            row(
                crate::verify::export::ExportError::Refused { path: p(), line: 3, message: s("iscsi") },
                Exit::BadInput,
            ),
            row(crate::verify::export::result::ResultError::None { path: p() }, Exit::BadInput),
            row(
                crate::dispatch::DispatchError::BadRunOut { path: p(), message: s("no build") },
                Exit::BadInput,
            ),
        ]
    }

    fn registered() -> BTreeSet<&'static str> {
        STAGE_ERRORS.iter().map(|k| (k.name)()).collect()
    }

    #[test]
    fn every_stage_error_type_maps_to_its_exit_code() {
        for Row { name, err, want } in one_of_each() {
            assert!(registered().contains(name), "{name} is not in STAGE_ERRORS");
            let err = err.context("doing the command's work");
            assert_eq!(of_error(&err), want, "{name}: {err:#}");
        }
    }

    #[test]
    fn the_table_has_one_value_of_every_registered_type() {
        assert_eq!(registered().len(), STAGE_ERRORS.len(), "a type is registered twice");
        let tested: BTreeSet<&str> = one_of_each().iter().map(|r| r.name).collect();
        let untested: Vec<&str> = registered().difference(&tested).copied().collect();
        assert!(untested.is_empty(), "add a row to one_of_each for {untested:?}");
    }

    #[test]
    fn the_outer_stage_decides_over_the_cause_it_wraps() {
        // A failed build wraps the testbed's error; the build's own verdict is what counts.
        let build = crate::build::BuildError::StepFailed {
            step: s("binary build"),
            cmd: s("dpkg-buildpackage"),
            status: s("exited 2"),
            log: p(),
            tail: String::new(),
        };
        assert_eq!(of_error(&anyhow::Error::new(build)), Exit::NotTrue);
        let wrapped =
            crate::build::BuildError::Testbed(Box::new(crate::testbed::TestbedError::UnknownImage(s("x"))));
        assert_eq!(of_error(&anyhow::Error::new(wrapped)), Exit::BadInput);
        assert_eq!(of_error(&anyhow::anyhow!("no stage said this")), Exit::CouldNotRun);
    }

    /// `impl ExitCodeOf for NAME` in every file under src/, but exit.rs's own test types.
    fn implementors() -> Vec<(PathBuf, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for entry in walkdir::WalkDir::new(&src).into_iter().map(|e| e.expect("src/ is readable")) {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "rs") || path == src.join("exit.rs") {
                continue;
            }
            let text = crate::fsx::read_to_string(path).expect("a source file reads");
            // Only code lines: a comment may name the trait too.
            for rest in text.lines().filter_map(|l| l.trim_start().strip_prefix("impl ExitCodeOf for ")) {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                found.push((path.to_path_buf(), name));
            }
        }
        found
    }

    #[test]
    fn every_error_type_in_src_is_registered() {
        let found = implementors();
        assert!(found.len() >= STAGE_ERRORS.len(), "the scan found only {found:?}");
        for (path, name) in found {
            let suffix = format!("::{name}");
            assert!(
                registered().iter().any(|r| r.ends_with(&suffix)),
                "{}: {name} implements ExitCodeOf but is not in cli::exit_code::STAGE_ERRORS",
                path.display()
            );
        }
    }

    #[test]
    fn the_exit_floor_imports_no_stage() {
        let exit_rs = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exit.rs");
        let text = crate::fsx::read_to_string(&exit_rs).unwrap();
        let above: Vec<&str> =
            text.lines().filter(|l| l.contains("crate::") || l.contains("super::super")).collect();
        assert!(above.is_empty(), "src/exit.rs reaches above its floor: {above:?}");
    }
}
