//! The Debian file formats srukit reads and writes, each losslessly: quilt series, DEP-3
//! headers, changelogs, versions and distro releases, tgt target configuration.

pub mod changelog;
pub mod dep3;
pub mod distro_info;
pub mod series;
pub mod tgt_config;
pub mod tgt_tree;
pub mod tgtadm_show;
pub mod version;
