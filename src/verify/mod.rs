//! Verification: run an SRU plan on the old and new packages, in fresh testbeds, and prove
//! the behaviour where the bug lives.

pub mod checks;
pub mod ini_edit;
pub mod iscsi;
pub mod plan;
pub mod result;
