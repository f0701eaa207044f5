//! Reports: a verification result rendered for Launchpad, Markdown, JSON and JUnit.
//! Reads `RESULT_DIR/result.json` (the `verify` stage's output); writes nothing itself: the
//! command decides where the rendered text goes.

use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitCodeOf};
use crate::fsx::{self, FsError};
use crate::verify::result::{OLDEST_READABLE, SCHEMA_VERSION, VerifyResult};

mod evidence;
mod gate;
pub use evidence::versions_line;
pub mod combined;
mod junit;
mod launchpad;
mod markdown;

/// The file a result directory holds.
pub const RESULT_FILE: &str = "result.json";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{} holds no {RESULT_FILE}: is it a `srukit verify --out` directory?", dir.display())]
    NoResult { dir: PathBuf },
    #[error("{}:{line}:{column}: not a verification result: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: schema_version {found}; this srukit reads versions {OLDEST_READABLE} to {SCHEMA_VERSION}", path.display())]
    SchemaVersion { path: PathBuf, found: u64 },
    #[error("could not render the {format} report: {message}")]
    Render { format: &'static str, message: String },
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl ExitCodeOf for ReportError {
    fn exit(&self) -> Exit {
        match self {
            ReportError::NoResult { .. } | ReportError::Parse { .. } | ReportError::SchemaVersion { .. } => {
                Exit::BadInput
            }
            ReportError::Render { .. } => Exit::CouldNotRun,
            ReportError::Fs(e) => e.exit(),
        }
    }
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// The verifier's comment for the bug: plain text, the tag to set.
    Launchpad,
    /// The same for a merge request or wiki page, a table per phase.
    Markdown,
    /// The result itself (docs/result-schema.md).
    Json,
    /// JUnit XML: a testsuite per (side, phase), a testcase per check.
    Junit,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Launchpad => "launchpad",
            Format::Markdown => "markdown",
            Format::Json => "json",
            Format::Junit => "junit",
        }
    }
}

/// The result file of `path`: `path/result.json` for a directory, `path` itself otherwise.
pub fn result_path(path: &Path) -> PathBuf {
    if path.is_dir() { path.join(RESULT_FILE) } else { path.to_path_buf() }
}

/// Reads and checks a result: the schema version first, so a newer result says so instead of
/// failing on a field it does not recognise.
pub fn load(path: &Path) -> Result<VerifyResult, ReportError> {
    let file = result_path(path);
    if path.is_dir() && !file.exists() {
        return Err(ReportError::NoResult { dir: path.to_path_buf() });
    }
    let text = fsx::read_to_string(&file)?;
    let parse_err = |e: serde_json::Error| ReportError::Parse {
        path: file.clone(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let raw: serde_json::Value = serde_json::from_str(&text).map_err(parse_err)?;
    match raw.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if (u64::from(OLDEST_READABLE)..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
        Some(found) => return Err(ReportError::SchemaVersion { path: file, found }),
        None => {
            return Err(ReportError::Parse {
                path: file,
                line: 1,
                column: 1,
                message: "no schema_version".into(),
            });
        }
    }
    // Parse the text again rather than the Value, so a type error names its line.
    serde_json::from_str(&text).map_err(parse_err)
}

/// Renders a result. `series` overrides the plan's for the verification tag.
pub fn render(result: &VerifyResult, format: Format, series: Option<&str>) -> Result<String, ReportError> {
    Ok(match format {
        Format::Launchpad => launchpad::render(result, series),
        Format::Markdown => markdown::render(result, series),
        Format::Json => result.to_json_pretty(),
        Format::Junit => junit::render(result)?,
    })
}
