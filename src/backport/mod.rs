//! Backports: the `patches/<name>/` folder and its manifest, applying it to a distro tree,
//! and turning an upstream commit into a DEP-3 patch (`srukit backport`: `command` reads top
//! to bottom; `cherry_pick` merges, `unified` renders, `export` writes the patch,
//! `manifest_edit` lists it, `continue_` owns the conflict work dir).

pub mod apply;
pub mod cherry_pick;
pub mod command;
pub mod continue_;
pub mod error;
pub mod export;
pub mod glob;
pub mod manifest;
pub mod manifest_edit;
pub mod snapshot;
pub mod trailers;
pub mod unified;
pub mod upstream;

pub use command::{Report, Request, backport};
pub use continue_::continue_backport;
pub use error::BackportError;
