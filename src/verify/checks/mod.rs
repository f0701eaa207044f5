//! The checks a verification plan runs, each recording its evidence verbatim.

pub mod binding;
pub mod data_at_risk;
pub mod o_direct;
pub mod target_file;
pub mod wce;
