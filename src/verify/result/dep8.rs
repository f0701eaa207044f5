//! The dep8 gate's part of the result: per side, one run of autopkgtest per dep8 check and
//! per reverse dependency named, with each test's outcome, the source its tests came from,
//! the command, autopkgtest's exit code and where its output lies. Additive to schema v3.

use serde::{Deserialize, Serialize};

/// One test's result as autopkgtest's `summary` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dep8Outcome {
    Pass,
    Fail,
    Skip,
    /// autopkgtest's NEUTRAL, and a `flaky` test's FAIL (reported as FLAKY): not a verdict.
    Neutral,
}

impl Dep8Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Dep8Outcome::Pass => "pass",
            Dep8Outcome::Fail => "fail",
            Dep8Outcome::Skip => "skip",
            Dep8Outcome::Neutral => "neutral",
        }
    }
}

/// One test of one autopkgtest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep8Test {
    pub name: String,
    pub outcome: Dep8Outcome,
    /// The rest of autopkgtest's summary line (`non-zero exit status 1`, a skip's reason).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The source package whose tests ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dep8Source {
    pub name: String,
    pub version: String,
    /// The .dsc autopkgtest was given.
    pub dsc: String,
    /// `local build` or `apt-get source NAME=VERSION from SUITE`.
    pub from: String,
}

/// One autopkgtest run: one dep8 check's tests (or one reverse dependency's) on one side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dep8Run {
    /// The plan's dep8 check id.
    pub check: String,
    /// `None`: the package's own tests; `Some(src:NAME)`: a reverse dependency's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdepend: Option<String>,
    pub source: Dep8Source,
    /// The autopkgtest command line, shell-quoted.
    pub command: String,
    /// autopkgtest's exit status (0 pass, 2 skips, 4 failures, 6 both, 8 no test; 12, 14,
    /// 16, 20: it could not test); `None`: it did not run or was killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub tests: Vec<Dep8Test>,
    /// The binding evidence: `testpkg-version` and each package under test at the version
    /// the tests ran on (`NAME VERSION`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ran_on: Vec<String>,
    /// autopkgtest's `--output-dir` and log, relative to the result's `out_dir`.
    pub output_dir: String,
    pub log: String,
    pub seconds: f64,
    /// Why this run proves nothing (it could not run, or ran on something else): an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Dep8Run {
    /// Whose tests, in words: `libmodbus 3.1.6-2.1` or `src:foo 1.0-1 (reverse dependency)`.
    pub fn whose(&self) -> String {
        match &self.rdepend {
            Some(r) => format!("{r} {} (reverse dependency)", self.source.version),
            None => format!("{} {}", self.source.name, self.source.version),
        }
    }

    pub fn test(&self, name: &str) -> Option<&Dep8Test> {
        self.tests.iter().find(|t| t.name == name)
    }
}
