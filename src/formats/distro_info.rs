//! Series names to release numbers (`bookworm` -> `12`, `jammy` -> `22.04`), read from
//! distro-info-data's CSV files (`/usr/share/distro-info/{debian,ubuntu}.csv`).
//!
//! Never a table in the code: dch's hard-coded numbers go stale every release, the CSV is
//! updated by the distribution.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::exit::{Exit, ExitCodeOf};

/// Where distro-info-data installs its tables.
pub const DEFAULT_DIR: &str = "/usr/share/distro-info";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distro {
    Ubuntu,
    Debian,
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distro::Ubuntu => "ubuntu",
            Distro::Debian => "debian",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DistroInfoError {
    #[error("could not read {}: install distro-info-data", source.path.display())]
    Unreadable {
        #[source]
        source: crate::fsx::FsError,
    },
    #[error("{}:{line}: malformed row: {why}", path.display())]
    Malformed { path: PathBuf, line: usize, why: String },
    #[error("unknown {distro} series `{series}` (not in {})", path.display())]
    UnknownSeries { distro: Distro, series: String, path: PathBuf },
    #[error("{distro} series `{series}` has no release number yet ({}:{line})", path.display())]
    NoNumber { distro: Distro, series: String, path: PathBuf, line: usize },
}

impl ExitCodeOf for DistroInfoError {
    fn exit(&self) -> Exit {
        match self {
            DistroInfoError::Unreadable { .. } | DistroInfoError::Malformed { .. } => Exit::CouldNotRun,
            DistroInfoError::UnknownSeries { .. } | DistroInfoError::NoNumber { .. } => Exit::BadInput,
        }
    }
}

/// One release of a distribution, as its CSV row says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    pub distro: Distro,
    pub series: String,
    /// `12`, `22.04` (Ubuntu's ` LTS` dropped); None for `sid` and `experimental`.
    pub number: Option<String>,
    pub line: usize,
}

/// The distribution's table, read once.
#[derive(Debug, Clone)]
pub struct DistroInfo {
    pub distro: Distro,
    pub path: PathBuf,
    releases: Vec<Release>,
}

impl DistroInfo {
    /// Reads the system's table for `distro`.
    pub fn load(distro: Distro) -> Result<DistroInfo, DistroInfoError> {
        Self::load_from(distro, Path::new(DEFAULT_DIR))
    }

    pub fn load_from(distro: Distro, dir: &Path) -> Result<DistroInfo, DistroInfoError> {
        let path = dir.join(format!("{distro}.csv"));
        let text =
            crate::fsx::read_to_string(&path).map_err(|source| DistroInfoError::Unreadable { source })?;
        let releases = parse_csv(distro, &path, &text)?;
        Ok(DistroInfo { distro, path, releases })
    }

    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// The release a series name (`bookworm`, or a pocket like `bookworm-backports`,
    /// `trusty-updates`) belongs to.
    pub fn release(&self, series: &str) -> Result<&Release, DistroInfoError> {
        let base = ["-backports", "-updates", "-security", "-proposed", "-sloppy"]
            .iter()
            .find_map(|p| series.strip_suffix(p))
            .unwrap_or(series);
        self.releases.iter().find(|r| r.series == base).ok_or_else(|| DistroInfoError::UnknownSeries {
            distro: self.distro,
            series: series.to_string(),
            path: self.path.clone(),
        })
    }

    /// The release number of a series: `bookworm` -> `12`, `jammy` -> `22.04`.
    pub fn number(&self, series: &str) -> Result<&str, DistroInfoError> {
        let r = self.release(series)?;
        r.number.as_deref().ok_or_else(|| DistroInfoError::NoNumber {
            distro: self.distro,
            series: series.to_string(),
            path: self.path.clone(),
            line: r.line,
        })
    }
}

/// The CSV has a header naming its columns; we find `version` and `series` by name, so a
/// column added by a later distro-info-data does not break us.
fn parse_csv(distro: Distro, path: &Path, text: &str) -> Result<Vec<Release>, DistroInfoError> {
    let malformed =
        |line, why: &str| DistroInfoError::Malformed { path: path.to_path_buf(), line, why: why.into() };
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines.next().ok_or_else(|| malformed(1, "empty file"))?.1.split(',').collect();
    let col = |name| header.iter().position(|h| *h == name).ok_or_else(|| malformed(1, "no such column"));
    let (version_col, series_col) = (col("version")?, col("series")?);
    let mut out = Vec::new();
    for (i, row) in lines {
        if row.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = row.split(',').collect();
        let series = cells.get(series_col).ok_or_else(|| malformed(i + 1, "missing series column"))?;
        let number =
            cells.get(version_col).map(|v| v.trim_end_matches(" LTS").trim()).filter(|v| !v.is_empty());
        out.push(Release {
            distro,
            series: series.to_string(),
            number: number.map(str::to_string),
            line: i + 1,
        });
    }
    Ok(out)
}

/// Which distribution a changelog distribution belongs to, and its series, by
/// distro-info-data (`trusty-proposed` is Ubuntu's `trusty`). `UNRELEASED` belongs to none.
pub fn distro_of(dist: &str) -> Option<(Distro, String)> {
    // Debian's suite names, which distro-info-data lists by codename only.
    if let Some(suite) =
        ["unstable", "experimental", "stable", "testing", "oldstable"].iter().find(|s| dist == **s)
    {
        return Some((Distro::Debian, suite.to_string()));
    }
    [Distro::Ubuntu, Distro::Debian].into_iter().find_map(|d| {
        let info = DistroInfo::load(d).ok()?;
        let series = info.release(dist).ok()?.series.clone();
        Some((d, series))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tables_map_series_to_numbers() {
        let debian = DistroInfo::load(Distro::Debian).unwrap();
        let ubuntu = DistroInfo::load(Distro::Ubuntu).unwrap();
        for (info, series, number) in [
            (&debian, "bookworm", "12"),
            (&debian, "bookworm-backports", "12"),
            (&debian, "bullseye", "11"),
            (&ubuntu, "jammy", "22.04"),
            (&ubuntu, "trusty", "14.04"),
            (&ubuntu, "trusty-updates", "14.04"),
        ] {
            assert_eq!(info.number(series).unwrap(), number, "{series}");
        }
        assert!(matches!(debian.number("sid"), Err(DistroInfoError::NoNumber { .. })));
        let err = ubuntu.number("bookworm").unwrap_err();
        assert!(matches!(err, DistroInfoError::UnknownSeries { .. }), "{err}");
        assert_eq!(err.exit(), Exit::BadInput);
    }

    #[test]
    fn a_new_release_needs_only_a_new_row() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("debian.csv"),
            "version,codename,series,created,release,eol,extra-column\n12,Bookworm,bookworm,2021-08-14\n\
             15,Duke,duke,2029-01-01,,,x\n,Sid,sid,1993-08-16\n",
        )
        .unwrap();
        let info = DistroInfo::load_from(Distro::Debian, dir.path()).unwrap();
        assert_eq!(info.number("duke").unwrap(), "15");
        assert_eq!(info.release("sid").unwrap().line, 4);
    }

    #[test]
    fn missing_table_is_could_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = DistroInfo::load_from(Distro::Ubuntu, dir.path()).unwrap_err();
        assert_eq!(err.exit(), Exit::CouldNotRun);
        assert!(err.to_string().contains("ubuntu.csv"), "{err}");
    }
}
