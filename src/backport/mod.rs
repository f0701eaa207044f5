//! Backports: the `patches/<name>/` folder and its manifest, applying it to a distro tree,
//! and turning an upstream commit into a DEP-3 patch.

pub mod apply;
pub mod manifest;
pub mod snapshot;
