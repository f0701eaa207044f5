//! The built-in checks, each proving behaviour at one layer and recording its evidence verbatim.

pub mod o_direct;
