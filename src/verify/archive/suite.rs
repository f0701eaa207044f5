//! Suite names: a series distro-info-data knows (`/usr/share/distro-info/{debian,ubuntu}.csv`)
//! and one of its stable-update pockets, which is what a package's provenance is.

use std::collections::BTreeSet;
use std::path::Path;

use crate::verify::result::Provenance;

/// Where distro-info-data lists every release's series (`debian.csv`, `ubuntu.csv`).
const DISTRO_INFO: &str = "/usr/share/distro-info";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distro {
    Debian,
    Ubuntu,
}

/// A suite of the archive: a series and one of its pockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// `bookworm-security`, as apt and the archive spell it.
    pub name: String,
    /// `bookworm`.
    pub series: String,
    pub distro: Distro,
    pub provenance: Provenance,
}

impl Suite {
    /// A suite name: a series distro-info-data knows, then a stable-update pocket. Debian's
    /// are `-updates`, `-security`, `-proposed-updates`; Ubuntu's `-updates`, `-security`,
    /// `-proposed`. Backports are refused: they are not an update of the release's package.
    pub fn parse(name: &str) -> Result<Suite, String> {
        let (series, pocket) = name.split_once('-').unwrap_or((name, ""));
        let distro = if known_series(Distro::Debian)?.contains(series) {
            Distro::Debian
        } else if known_series(Distro::Ubuntu)?.contains(series) {
            Distro::Ubuntu
        } else {
            return Err(format!(
                "suite `{name}`: `{series}` is not a Debian or Ubuntu series ({DISTRO_INFO}/debian.csv, ubuntu.csv)"
            ));
        };
        let provenance = match (distro, pocket) {
            (_, "") => Provenance::Release,
            (_, "updates") => Provenance::Updates,
            (_, "security") => Provenance::Security,
            (Distro::Debian, "proposed-updates") | (Distro::Ubuntu, "proposed") => Provenance::Proposed,
            (_, "backports") => {
                return Err(format!(
                    "suite `{name}`: backports are not a stable update of {series}; give {}",
                    pockets(distro, series)
                ));
            }
            _ => {
                return Err(format!(
                    "suite `{name}`: no such pocket of {series}; give {}",
                    pockets(distro, series)
                ));
            }
        };
        Ok(Suite { name: name.to_string(), series: series.to_string(), distro, provenance })
    }

    /// The archive components apt is given: every one, so a package outside `main` is found.
    pub fn components(&self) -> &'static str {
        match self.distro {
            Distro::Debian => "main contrib non-free non-free-firmware",
            Distro::Ubuntu => "main restricted universe multiverse",
        }
    }

    /// The keyring that signs the archive's Release files (debian-archive-keyring,
    /// ubuntu-keyring).
    pub fn keyring(&self) -> &'static str {
        match self.distro {
            Distro::Debian => "/usr/share/keyrings/debian-archive-keyring.gpg",
            Distro::Ubuntu => "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
        }
    }
}

fn pockets(distro: Distro, series: &str) -> String {
    let names: &[&str] = match distro {
        Distro::Debian => &["", "-updates", "-security", "-proposed-updates"],
        Distro::Ubuntu => &["", "-updates", "-security", "-proposed"],
    };
    names.iter().map(|p| format!("{series}{p}")).collect::<Vec<_>>().join(", ")
}

/// The series column of distro-info-data's table for `distro`.
fn known_series(distro: Distro) -> Result<BTreeSet<String>, String> {
    let file = Path::new(DISTRO_INFO).join(match distro {
        Distro::Debian => "debian.csv",
        Distro::Ubuntu => "ubuntu.csv",
    });
    let text = crate::fsx::read_to_string(&file).map_err(|e| format!("{e} (install distro-info-data)"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "series")
        .ok_or_else(|| format!("{}: no `series` column", file.display()))?;
    Ok(lines.filter_map(|l| l.split(',').nth(col)).filter(|s| !s.is_empty()).map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_name_their_pocket() {
        for (name, series, distro, provenance) in [
            ("bookworm", "bookworm", Distro::Debian, Provenance::Release),
            ("bookworm-updates", "bookworm", Distro::Debian, Provenance::Updates),
            ("bookworm-security", "bookworm", Distro::Debian, Provenance::Security),
            ("bookworm-proposed-updates", "bookworm", Distro::Debian, Provenance::Proposed),
            ("trixie-security", "trixie", Distro::Debian, Provenance::Security),
            ("jammy-proposed", "jammy", Distro::Ubuntu, Provenance::Proposed),
            ("noble-updates", "noble", Distro::Ubuntu, Provenance::Updates),
        ] {
            let s = Suite::parse(name).unwrap();
            assert_eq!((s.series.as_str(), s.distro, s.provenance), (series, distro, provenance), "{name}");
        }
    }

    #[test]
    fn bad_suites_are_named_with_the_good_ones() {
        let err = Suite::parse("bokworm-security").unwrap_err();
        assert!(err.contains("suite `bokworm-security`") && err.contains("`bokworm` is not"), "{err}");
        let err = Suite::parse("bookworm-proposed").unwrap_err();
        assert!(err.contains("bookworm-proposed-updates"), "{err}");
        let err = Suite::parse("jammy-proposed-updates").unwrap_err();
        assert!(err.contains("jammy-proposed"), "{err}");
        let err = Suite::parse("bookworm-backports").unwrap_err();
        assert!(err.contains("backports are not a stable update"), "{err}");
    }
}
