//! The Debian file formats srukit reads and writes, each losslessly: quilt series, DEP-3
//! headers, changelogs, versions and distro releases, tgt target configuration.
pub mod series;

pub mod tgt_config;
