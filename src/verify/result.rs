//! The verification result: what `srukit verify` writes to `OUT/result.json` and what
//! `srukit report` reads. Owns the serde types and their stable field names (schema
//! version 3, documented in docs/result-schema.md and docs/result.schema.json).
//!
//! Field names are a contract with CI pipelines: renaming one is a schema version bump.
//! Readers ignore fields they do not know, so adding an optional field is not.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

mod dep8;
pub use dep8::{Dep8Outcome, Dep8Run, Dep8Source, Dep8Test};

/// The schema version this srukit writes.
pub const SCHEMA_VERSION: u32 = 3;
/// The oldest schema version this srukit reads: version 2 only added fields (`versions`,
/// `redactions`, `out_dir`), so a version 1 result reads as one without them; version 3 made
/// a check's `id` the plan's own and added `family` and the outcome names, all defaulted
/// for an older result (its checks were the iscsi family's).
pub const OLDEST_READABLE: u32 = 1;

/// One verification: a plan run on the old and new packages, every phase, every check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub schema_version: u32,
    /// The srukit that produced the result (`CARGO_PKG_VERSION`).
    pub srukit_version: String,
    pub plan: PlanInfo,
    pub verdict: Verdict,
    /// One sentence: why the verdict is what it is.
    pub reason: String,
    pub sides: Sides,
    /// What the update changes: one entry per after package, its before and after version
    /// (the SRU team's first question). Empty when only one side ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionChange>,
    /// One run per (side, phase), in the order they are reported: before then after, and the
    /// plan's phase order within a side.
    pub runs: Vec<Run>,
    /// The secrets redacted from the runs' evidence and logs (`<redacted>` in their place),
    /// per run, with a hash of each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redactions: Vec<Redacted>,
    /// RFC 3339, UTC.
    pub started: String,
    /// RFC 3339, UTC.
    pub finished: String,
    pub seconds: f64,
    /// The `verify --out` directory, absolute: the public reports give paths relative to it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub out_dir: String,
}

/// One package's version before and after the update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionChange {
    pub package: String,
    /// The source package both versions were built from.
    pub source_package: String,
    pub before: String,
    pub after: String,
}

impl std::fmt::Display for VersionChange {
    /// `cinder-volume 1:2014.1.5-0ubuntu1 -> 1:2014.1.5-0ubuntu2`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.package, self.before, self.after)
    }
}

/// A secret srukit removed from a run's evidence and logs: which run, what it was and a
/// hash, so two runs can still be compared (the same secret, the same hash) without showing it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Redacted {
    pub side: Side,
    pub phase: String,
    /// Where it was found: `incominguser password`, `provider_auth user`, `plan secret`...
    pub what: String,
    /// The first 16 hex digits of the secret's sha256.
    pub sha256_prefix: String,
}

/// The plan as it was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanInfo {
    pub name: String,
    /// The plan file, as given on the command line.
    pub path: String,
    pub bugs: Vec<BugRef>,
    /// The release the update targets (`trusty`, `bookworm`): names the verification tag.
    #[serde(default)]
    pub series: Option<String>,
    /// `ubuntu` or `debian`.
    pub distro: String,
    pub summary: String,
    /// The SRU test case in the verifier's words, when the plan carries it.
    #[serde(default)]
    pub test_case: Option<String>,
    /// What the update's own inputs warned about (`file:line: DEP-3: ...` of the patches
    /// taken with `dep3 = "warn"`): repeated by every report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A bug the update fixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BugRef {
    pub tracker: Tracker,
    pub id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tracker {
    Launchpad,
    Debian,
}

impl std::fmt::Display for BugRef {
    /// The changelog spelling: `LP: #1336568` (Ubuntu) or `Closes: #123456` (Debian).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tracker {
            Tracker::Launchpad => write!(f, "LP: #{}", self.id),
            Tracker::Debian => write!(f, "Closes: #{}", self.id),
        }
    }
}

/// The outcome of the whole verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every expectation held, before and after.
    VerificationDone,
    /// An expectation on the after side failed.
    VerificationFailed,
    /// The bug did not reproduce on the before side, or a value fell between thresholds.
    Inconclusive,
    /// A check could not run; nothing was proven either way.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::VerificationDone => "verification-done",
            Verdict::VerificationFailed => "verification-failed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }

    /// The Launchpad tag a verifier sets: `verification-done-<series>` or
    /// `verification-failed-<series>` (plain `verification-done` when no series is known).
    /// Inconclusive and error results name no tag: setting one would claim a verification
    /// that did not happen.
    pub fn tag(self, series: Option<&str>) -> Option<String> {
        let base = match self {
            Verdict::VerificationDone | Verdict::VerificationFailed => self.as_str(),
            Verdict::Inconclusive | Verdict::Error => return None,
        };
        Some(match series {
            Some(s) if !s.is_empty() => format!("{base}-{s}"),
            _ => base.to_string(),
        })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// The packages under test on each side; a side is absent when `verify --only` skipped it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sides {
    #[serde(default)]
    pub before: Option<PackageSet>,
    #[serde(default)]
    pub after: Option<PackageSet>,
}

/// Where a side's packages came from. The SRU process counts a verification only on the
/// packages the archive will ship: its proposed or security pocket ("verification used
/// packages from outside the archive (a local build or a PPA)" is a listed verification
/// defect in Ubuntu's SRU documentation, `docs/SRU/howto/common-issues.rst`). Anything else
/// is a pre-upload check, and the reports say so.
///
/// The variants are ordered from the weakest evidence to the strongest: a side's provenance
/// is the weakest of its packages' ([`Provenance::weakest`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// A `srukit build` output dir or a dir of .debs: built here, not by the archive.
    #[default]
    LocalBuild,
    /// `apt:NAME[=VERSION]` as the testbed image carries it: the archive's package, but from
    /// the image's suites, so no pocket is established.
    TestbedImage,
    /// From the archive's point release (`SERIES`, e.g. `bookworm`): what users have before
    /// the update, never the update itself.
    Release,
    /// From the archive's stable-updates pocket (`SERIES-updates`): released already.
    Updates,
    /// From the archive's proposed pocket (`SERIES-proposed`, Debian's `-proposed-updates`).
    Proposed,
    /// From the archive's security pocket (`SERIES-security`).
    Security,
}

impl Provenance {
    pub fn as_str(self) -> &'static str {
        match self {
            Provenance::LocalBuild => "local-build",
            Provenance::TestbedImage => "testbed-image",
            Provenance::Release => "release",
            Provenance::Updates => "updates",
            Provenance::Proposed => "proposed",
            Provenance::Security => "security",
        }
    }

    /// Whether a verdict on these packages is a verification the SRU team accepts.
    pub fn counts_as_verification(self) -> bool {
        matches!(self, Provenance::Proposed | Provenance::Security)
    }

    /// The weakest of several packages' provenances: one local build among archive packages
    /// makes the whole side a local build (the verdict is about all of them together).
    pub fn weakest(all: impl IntoIterator<Item = Provenance>) -> Option<Provenance> {
        all.into_iter().min()
    }
}

/// Where one package under test came from: the archive's suite (and so its pocket) and the
/// mirror it was fetched from, the testbed image, or a local build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub provenance: Provenance,
    /// The archive suite (`bookworm-security`); empty for a local build or the image's package.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suite: String,
    /// The archive's URI (`http://deb.debian.org/debian-security`), or the image's name for
    /// a package the testbed image carries.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub archive: String,
}

impl std::fmt::Display for Origin {
    /// `bookworm-security (security pocket) at http://deb.debian.org/debian-security`,
    /// `local build`, `the testbed image bookworm-tgt`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.provenance {
            Provenance::LocalBuild => f.write_str("local build"),
            Provenance::TestbedImage if self.archive.is_empty() => f.write_str("the testbed image"),
            Provenance::TestbedImage => write!(f, "the testbed image {}", self.archive),
            p => {
                match p {
                    Provenance::Release => write!(f, "{} (the point release)", self.suite)?,
                    p => write!(f, "{} ({} pocket)", self.suite, p.as_str())?,
                }
                if !self.archive.is_empty() {
                    write!(f, " at {}", self.archive)?;
                }
                Ok(())
            }
        }
    }
}

/// What one side installs, and what dpkg-query said was installed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackageSet {
    /// Where the packages came from; absent in results written before srukit recorded it,
    /// which count as a local build (they were srukit's own builds or the image's packages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    pub packages: Vec<PackageUnderTest>,
    /// `dpkg-query -W` inside the testbed, before any check ran.
    pub installed: Vec<InstalledPackage>,
    /// The dep8 gate on this side: one autopkgtest run per dep8 check and reverse dependency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dep8: Vec<Dep8Run>,
}

/// One binary package under test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageUnderTest {
    pub name: String,
    pub version: String,
    /// The .deb's file name (empty for an `apt:` package the image carries).
    pub file: String,
    pub sha256: String,
    /// Where it came from: the .deb's path, or `apt:NAME=VERSION[@SUITE]`.
    pub source: String,
    /// The archive suite and pocket, the image, or a local build; absent in results written
    /// before srukit recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// `apt-cache policy NAME` inside the testbed, before any check: the version installed
    /// and every suite that offers one (what SRU verifiers are asked to paste).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
    /// `dpkg-query -W -f '${db:Status-Abbrev} ${Version}'` inside the testbed, before any
    /// check (`ii  1.0-1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
}

/// A package dpkg-query reported installed in a testbed: a package under test, or another
/// binary of its source package pinned to the same upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    pub name: String,
    pub version: String,
    /// What the run read for the package under test (copied into its [`PackageUnderTest`],
    /// so not written twice).
    #[serde(skip)]
    pub status: String,
    #[serde(skip)]
    pub policy: String,
}

/// Which package version a run tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    Before,
    After,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Before => "before",
            Side::After => "after",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One (side, phase) pair, run in its own fresh testbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub side: Side,
    /// The plan's phase name (`default`, `off`).
    pub phase: String,
    /// The configuration the phase changed before the package was exercised.
    pub config_edits: Vec<ConfigEdit>,
    /// The plan's steps as this run ran them, in words (`run: tgt-admin --update ALL`,
    /// `daemon: tgtd -f (ready on port 3260)`) (v3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    pub testbed: Testbed,
    pub checks: Vec<CheckResult>,
    pub seconds: f64,
    /// Set when the run stopped before its checks (the testbed did not start, the packages
    /// under test were not the ones installed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One edit a phase made to a file before the package was exercised: `ini` sets `key = value`
/// in `section`; `set` a flat `KEY=VALUE` line; `append` adds the line `value`; `write`
/// replaces the file with `value` (mode in `section`); `remove` deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEdit {
    /// `ini`, `set`, `append`, `write` or `remove` (v3; absent: `ini`).
    #[serde(default = "ini_kind", skip_serializing_if = "is_ini")]
    pub kind: String,
    pub file: String,
    pub section: String,
    pub key: String,
    pub value: String,
}

fn ini_kind() -> String {
    "ini".to_string()
}

fn is_ini(kind: &String) -> bool {
    kind == "ini"
}

impl std::fmt::Display for ConfigEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind.as_str() {
            "set" => write!(f, "{}: {}={}", self.file, self.key, self.value),
            "append" => write!(f, "{}: append `{}`", self.file, self.value),
            "write" => write!(f, "{}: write {} bytes, mode {}", self.file, self.value.len(), self.section),
            "remove" => write!(f, "{}: remove", self.file),
            _ => write!(f, "{} [{}] {} = {}", self.file, self.section, self.key, self.value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Testbed {
    /// The image name (`bookworm-tgt`).
    pub image: String,
    /// sha256 of the image tarball the testbed was made from.
    pub image_sha256: String,
    /// `unshare`, `nspawn`, ..., or `virt:autopkgtest-virt-X` for a testbed behind a virt server.
    pub backend: String,
    /// The virt server a `virt:` testbed ran behind: its argv and the capabilities it
    /// reported at open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virt_server: Option<VirtServer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtServer {
    pub argv: Vec<String>,
    pub capabilities: Vec<String>,
}

/// The iscsi family's four built-in checks (the flagship's), each with its built-in outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IscsiCheck {
    /// The `write-cache` line of the tgt target file the package wrote.
    TargetFile,
    /// WCE in the caching mode page, read over iSCSI.
    Wce,
    /// O_DIRECT on the backing store's fd in tgtd.
    ODirect,
    /// Dirty page-cache KiB in tgtd's memory cgroup after N MiB written.
    DataAtRisk,
}

impl IscsiCheck {
    pub const ALL: [IscsiCheck; 4] =
        [IscsiCheck::TargetFile, IscsiCheck::Wce, IscsiCheck::ODirect, IscsiCheck::DataAtRisk];

    pub fn as_str(self) -> &'static str {
        match self {
            IscsiCheck::TargetFile => "target-file",
            IscsiCheck::Wce => "wce",
            IscsiCheck::ODirect => "o-direct",
            IscsiCheck::DataAtRisk => "data-at-risk",
        }
    }

    pub fn parse(s: &str) -> Option<IscsiCheck> {
        IscsiCheck::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for IscsiCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A check's outcome against what the plan expected for its (side, phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Pass,
    Fail,
    /// A value between thresholds: never a pass.
    Inconclusive,
    /// The check could not run.
    Error,
    /// The plan expects nothing of this check in this (side, phase): recorded as evidence,
    /// not counted (v3).
    Observed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
            Outcome::Observed => "observed",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One check in one run, with its evidence verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The plan's check id (`wce`, `crash`).
    pub id: String,
    /// The check's family: `command`, `file`, `package`, `port`, `log`, `service`, `iscsi`
    /// (v3; absent in a result before v3, whose checks were all iscsi: see [`Self::family`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    /// The iscsi family's built-in check (v3; iscsi only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IscsiCheck>,
    pub title: String,
    /// What the plan expected, in words (`write-cache off`, `WCE=0`, `exit 0, stderr /re/`).
    pub expected: String,
    /// What the check saw, in words (`on`, `exit status 139 (SIGSEGV)`).
    pub observed: String,
    /// The outcome name the plan expects in this (side, phase); empty when it expects none
    /// (v3).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub expected_outcome: String,
    /// The outcome that matched: its name, `unmatched` (none did) or, over several
    /// observation points that differ, `NAME (after `STEP`); ...` (v3).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub matched_outcome: String,
    /// Why that outcome matched and the others did not, matcher by matcher (v3).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    pub outcome: Outcome,
    /// The raw material: file lines, mode page bytes in hex, fdinfo flags, KiB dirty,
    /// bytes written, timings. Free-form per check; documented in docs/result-schema.md.
    pub evidence: serde_json::Value,
    pub seconds: f64,
}

fn iscsi_family() -> String {
    "iscsi".to_string()
}

impl CheckResult {
    /// A check of the iscsi family when `id` names one of its built-in checks, else of no
    /// family until [`Self::with_family`] says.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
        outcome: Outcome,
        evidence: serde_json::Value,
        seconds: f64,
    ) -> CheckResult {
        let id = id.into();
        let kind = IscsiCheck::parse(&id);
        CheckResult {
            family: if kind.is_some() { iscsi_family() } else { String::new() },
            kind,
            id,
            title: title.into(),
            expected: expected.into(),
            observed: observed.into(),
            expected_outcome: String::new(),
            matched_outcome: String::new(),
            why: String::new(),
            outcome,
            evidence,
            seconds,
        }
    }

    /// The family, `iscsi` for a check of a result before v3.
    pub fn family(&self) -> &str {
        if self.family.is_empty() { "iscsi" } else { &self.family }
    }

    pub fn with_family(mut self, family: impl Into<String>, kind: Option<IscsiCheck>) -> CheckResult {
        self.family = family.into();
        self.kind = kind;
        self
    }

    pub fn with_outcomes(mut self, expected: impl Into<String>, matched: impl Into<String>) -> CheckResult {
        self.expected_outcome = expected.into();
        self.matched_outcome = matched.into();
        self
    }
}

/// How many checks ended how, over a whole result or one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
    pub error: usize,
    /// Checks the plan expects nothing of in their run: not in `total`.
    pub observed: usize,
}

impl Counts {
    fn add(&mut self, outcome: Outcome) {
        if outcome == Outcome::Observed {
            self.observed += 1;
            return;
        }
        self.total += 1;
        match outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Inconclusive => self.inconclusive += 1,
            Outcome::Error => self.error += 1,
            Outcome::Observed => {}
        }
    }
}

impl PlanInfo {
    pub fn new(name: impl Into<String>, path: impl Into<String>, summary: impl Into<String>) -> PlanInfo {
        PlanInfo {
            name: name.into(),
            path: path.into(),
            bugs: Vec::new(),
            series: None,
            distro: "ubuntu".to_string(),
            summary: summary.into(),
            test_case: None,
            warnings: Vec::new(),
        }
    }
}

impl PackageUnderTest {
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        file: impl Into<String>,
        sha256: impl Into<String>,
        source: impl Into<String>,
    ) -> PackageUnderTest {
        PackageUnderTest {
            name: name.into(),
            version: version.into(),
            file: file.into(),
            sha256: sha256.into(),
            source: source.into(),
            origin: None,
            policy: String::new(),
            status: String::new(),
        }
    }
}

impl InstalledPackage {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            status: String::new(),
            policy: String::new(),
        }
    }
}

impl ConfigEdit {
    pub fn new(
        file: impl Into<String>,
        section: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> ConfigEdit {
        ConfigEdit {
            kind: ini_kind(),
            file: file.into(),
            section: section.into(),
            key: key.into(),
            value: value.into(),
        }
    }
}

impl Testbed {
    pub fn new(
        image: impl Into<String>,
        image_sha256: impl Into<String>,
        backend: impl Into<String>,
    ) -> Testbed {
        Testbed {
            image: image.into(),
            image_sha256: image_sha256.into(),
            backend: backend.into(),
            virt_server: None,
        }
    }
}

impl Run {
    pub fn new(side: Side, phase: impl Into<String>, testbed: Testbed) -> Run {
        Run {
            side,
            phase: phase.into(),
            config_edits: Vec::new(),
            steps: Vec::new(),
            testbed,
            checks: Vec::new(),
            seconds: 0.0,
            error: None,
        }
    }

    pub fn check(&self, id: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        self.checks.iter().for_each(|ch| c.add(ch.outcome));
        c
    }
}

impl VerifyResult {
    /// A result with no runs yet, verdict `error` until the engine decides otherwise: a
    /// result written half-way (srukit killed) must not read as a pass.
    pub fn new(plan: PlanInfo, started: DateTime<Utc>) -> VerifyResult {
        let ts = rfc3339(started);
        VerifyResult {
            schema_version: SCHEMA_VERSION,
            srukit_version: env!("CARGO_PKG_VERSION").to_string(),
            plan,
            verdict: Verdict::Error,
            reason: "the verification did not finish".to_string(),
            sides: Sides::default(),
            versions: Vec::new(),
            runs: Vec::new(),
            redactions: Vec::new(),
            started: ts.clone(),
            finished: ts,
            seconds: 0.0,
            out_dir: String::new(),
        }
    }

    /// Records the verdict and the end time.
    pub fn finish(&mut self, verdict: Verdict, reason: impl Into<String>, finished: DateTime<Utc>) {
        self.verdict = verdict;
        self.reason = reason.into();
        self.finished = rfc3339(finished);
        if let Ok(start) = DateTime::parse_from_rfc3339(&self.started) {
            self.seconds = (finished - start.with_timezone(&Utc)).num_milliseconds().max(0) as f64 / 1000.0;
        }
    }

    pub fn side(&self, side: Side) -> Option<&PackageSet> {
        match side {
            Side::Before => self.sides.before.as_ref(),
            Side::After => self.sides.after.as_ref(),
        }
    }

    pub fn run(&self, side: Side, phase: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.side == side && r.phase == phase)
    }

    /// The phase names in the order they first appear.
    pub fn phases(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.runs {
            if !out.contains(&r.phase.as_str()) {
                out.push(&r.phase);
            }
        }
        out
    }

    /// The check ids in the order they first appear in `phase`'s runs.
    pub fn check_ids(&self, phase: &str) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in self.runs.iter().filter(|r| r.phase == phase) {
            for c in &r.checks {
                if !out.contains(&c.id.as_str()) {
                    out.push(&c.id);
                }
            }
        }
        out
    }

    /// The config edits of a phase (the same on both sides by construction; the first run
    /// that has the phase says).
    pub fn phase_edits(&self, phase: &str) -> &[ConfigEdit] {
        self.runs.iter().find(|r| r.phase == phase).map(|r| r.config_edits.as_slice()).unwrap_or(&[])
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        self.runs.iter().flat_map(|r| &r.checks).for_each(|ch| c.add(ch.outcome));
        c
    }

    /// The series a report names: the one asked for, else the plan's.
    pub fn series<'a>(&'a self, asked: Option<&'a str>) -> Option<&'a str> {
        asked.or(self.plan.series.as_deref())
    }

    /// Where the packages under test came from: the after side's (the one the verdict is
    /// about), or the before side's when only that one ran.
    pub fn provenance(&self) -> Provenance {
        self.sides
            .after
            .as_ref()
            .or(self.sides.before.as_ref())
            .and_then(|s| s.provenance)
            .unwrap_or_default()
    }

    /// The tag to set on the bug: only for a verdict on packages from the archive's proposed
    /// or security pocket. A local build's verdict is a pre-upload check ([`Self::would_tag`]).
    pub fn tag(&self, series: Option<&str>) -> Option<String> {
        self.provenance().counts_as_verification().then(|| self.would_tag(series)).flatten()
    }

    /// The tag this verdict would set on packages from the proposed pocket.
    pub fn would_tag(&self, series: Option<&str>) -> Option<String> {
        self.verdict.tag(self.series(series))
    }

    pub fn to_json_pretty(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a result serializes");
        s.push('\n');
        s
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VerifyResult {
        let t0 = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap().with_timezone(&Utc);
        let mut r = VerifyResult::new(PlanInfo::new("lp1336568", "verify.toml", "write cache"), t0);
        let tb = Testbed::new("bookworm-tgt", "ab".repeat(32), "unshare");
        for side in [Side::Before, Side::After] {
            for phase in ["default", "off"] {
                let mut run = Run::new(side, phase, tb.clone());
                let outcome =
                    if side == Side::After && phase == "off" { Outcome::Fail } else { Outcome::Pass };
                run.checks.push(CheckResult::new(
                    "wce",
                    "WCE",
                    "WCE=1",
                    "WCE=1",
                    outcome,
                    serde_json::json!({"byte2": "0x14"}),
                    0.1,
                ));
                r.runs.push(run);
            }
        }
        r.finish(Verdict::VerificationFailed, "after/off", t0 + chrono::Duration::milliseconds(12_345));
        r
    }

    #[test]
    fn field_names_are_the_documented_ones() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["schema_version"], 3);
        assert_eq!(v["runs"][0]["checks"][0]["family"], "iscsi");
        assert_eq!(v["runs"][0]["checks"][0]["kind"], "wce");
        assert_eq!(v["verdict"], "verification-failed");
        assert_eq!(v["runs"][0]["side"], "before");
        assert_eq!(v["runs"][0]["checks"][0]["id"], "wce");
        assert_eq!(v["runs"][3]["checks"][0]["outcome"], "fail");
        assert_eq!(v["started"], "2026-11-25T10:00:00.000Z");
        assert_eq!(v["seconds"], 12.345);
        assert!(v["runs"][0].get("error").is_none(), "no error key when the run had none");
    }

    #[test]
    fn round_trips_through_json() {
        let r = sample();
        let back: VerifyResult = serde_json::from_str(&r.to_json_pretty()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn lookups_and_counts() {
        let r = sample();
        assert_eq!(r.phases(), ["default", "off"]);
        assert_eq!(r.run(Side::After, "off").unwrap().checks[0].outcome, Outcome::Fail);
        assert!(r.run(Side::After, "nope").is_none());
        let c = r.counts();
        assert_eq!((c.total, c.pass, c.fail), (4, 3, 1));
        assert_eq!(r.check_ids("off"), ["wce"]);
    }

    #[test]
    fn tags_only_for_done_and_failed() {
        assert_eq!(Verdict::VerificationDone.tag(Some("trusty")).unwrap(), "verification-done-trusty");
        assert_eq!(Verdict::VerificationFailed.tag(None).unwrap(), "verification-failed");
        assert_eq!(Verdict::Inconclusive.tag(Some("trusty")), None);
        assert_eq!(Verdict::Error.tag(Some("trusty")), None);
    }

    /// The SRU rule: a tag only for the after side from the proposed or security pocket;
    /// the point release, stable-updates, the image and local builds are pre-upload checks.
    #[test]
    fn only_proposed_and_security_tag() {
        let mut r = sample();
        r.plan.series = Some("bookworm".into());
        r.verdict = Verdict::VerificationDone;
        for (p, tag) in [
            (Provenance::LocalBuild, None),
            (Provenance::TestbedImage, None),
            (Provenance::Release, None),
            (Provenance::Updates, None),
            (Provenance::Proposed, Some("verification-done-bookworm")),
            (Provenance::Security, Some("verification-done-bookworm")),
        ] {
            r.sides.after = Some(PackageSet { provenance: Some(p), ..PackageSet::default() });
            assert_eq!(r.tag(None).as_deref(), tag, "{p:?}");
            assert_eq!(r.would_tag(None).as_deref(), Some("verification-done-bookworm"));
            let back: Provenance = serde_json::from_value(serde_json::json!(p.as_str())).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn a_side_is_as_weak_as_its_weakest_package() {
        use Provenance::*;
        assert_eq!(Provenance::weakest([Security, LocalBuild]), Some(LocalBuild));
        assert_eq!(Provenance::weakest([Security, Proposed]), Some(Proposed));
        assert_eq!(Provenance::weakest([Security, Release]), Some(Release));
        assert_eq!(Provenance::weakest([Updates, TestbedImage]), Some(TestbedImage));
        assert_eq!(Provenance::weakest([]), None);
    }

    #[test]
    fn origins_in_words_and_json() {
        let o = |p, suite: &str, archive: &str| Origin {
            provenance: p,
            suite: suite.into(),
            archive: archive.into(),
        };
        let sec = o(Provenance::Security, "bookworm-security", "http://deb.debian.org/debian-security");
        assert_eq!(
            sec.to_string(),
            "bookworm-security (security pocket) at http://deb.debian.org/debian-security"
        );
        assert_eq!(o(Provenance::Release, "bookworm", "").to_string(), "bookworm (the point release)");
        assert_eq!(o(Provenance::LocalBuild, "", "").to_string(), "local build");
        assert_eq!(
            o(Provenance::TestbedImage, "", "bookworm-tgt").to_string(),
            "the testbed image bookworm-tgt"
        );
        let mut p =
            PackageUnderTest::new("antiword", "0.37-16+deb12u1", "a.deb", "ab".repeat(32), "apt:antiword");
        p.origin = Some(sec);
        p.policy = "antiword:\n  Installed: 0.37-16+deb12u1".into();
        p.status = "ii 0.37-16+deb12u1".into();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["origin"]["provenance"], "security");
        assert_eq!(v["origin"]["suite"], "bookworm-security");
        assert_eq!(v["status"], "ii 0.37-16+deb12u1");
        assert_eq!(serde_json::from_value::<PackageUnderTest>(v).unwrap(), p);
        // A result written before origins were recorded still reads.
        let old =
            serde_json::json!({"name": "a", "version": "1", "file": "", "sha256": "", "source": "apt:a"});
        assert_eq!(serde_json::from_value::<PackageUnderTest>(old).unwrap().origin, None);
    }

    #[test]
    fn a_new_result_is_not_a_pass() {
        let r = VerifyResult::new(PlanInfo::new("p", "p.toml", "s"), Utc::now());
        assert_eq!(r.verdict, Verdict::Error);
    }
}
