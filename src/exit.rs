//! The documented exit codes, and the walk of an error chain to one.
//!
//! Every command uses the same four codes, so a CI pipeline can tell "the thing checked is
//! not true" from "you called me wrong" from "I could not run at all". This floor knows no
//! stage: the list of stage error types lives at the top (`cli::exit_code`), where every
//! stage is already known, and is handed to `exit_of_chain`.
//!
//! `srukit run` over several `[[target]]`s exits with the worst target's code: the highest
//! of the codes each target alone would give (a verdict's as `verify` maps it, a target's
//! error by its type), so one target's unverified patch (1) or broken testbed (3) is never
//! hidden by another target's success. Bad input found before any target starts is 2.

use std::error::Error;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exit {
    /// 0: success; the thing checked is true.
    Success,
    /// 1: the thing checked is not true (a patch does not apply, a verification failed).
    NotTrue,
    /// 2: bad input or usage.
    BadInput,
    /// 3: could not run (missing tool, environment).
    CouldNotRun,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::NotTrue => 1,
            Exit::BadInput => 2,
            Exit::CouldNotRun => 3,
        }
    }
}

/// Implemented by every stage's error type: which exit code the error means.
pub trait ExitCodeOf {
    fn exit(&self) -> Exit;
}

/// One error type the top registers: its name (for messages and the test that every type
/// is registered) and how to tell a cause of that type.
#[derive(Clone, Copy)]
pub struct Known {
    pub name: fn() -> &'static str,
    pub classify: fn(&(dyn Error + 'static)) -> Option<Exit>,
}

impl Known {
    /// The entry for error type `E`.
    pub const fn of<E: ExitCodeOf + Error + 'static>() -> Known {
        Known { name: std::any::type_name::<E>, classify: classify_as::<E> }
    }
}

/// `Some(exit code)` when `cause` is an `E`.
fn classify_as<E: ExitCodeOf + Error + 'static>(cause: &(dyn Error + 'static)) -> Option<Exit> {
    cause.downcast_ref::<E>().map(ExitCodeOf::exit)
}

/// Walks an error chain and returns the exit code of the first cause of a `known` type (the
/// outermost one: it says what the command was doing). An error of no known type (it
/// cannot happen by design) counts as "could not run".
pub fn exit_of_chain(err: &anyhow::Error, known: &[Known]) -> Exit {
    err.chain().find_map(|cause| known.iter().find_map(|k| (k.classify)(cause))).unwrap_or(Exit::CouldNotRun)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    impl ExitCodeOf for Outer {
        fn exit(&self) -> Exit {
            Exit::NotTrue
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    impl ExitCodeOf for Inner {
        fn exit(&self) -> Exit {
            Exit::BadInput
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("unregistered")]
    struct Unregistered(#[source] Inner);

    const BOTH: &[Known] = &[Known::of::<Inner>(), Known::of::<Outer>()];

    #[test]
    fn codes_are_the_documented_ones() {
        let codes: Vec<i32> =
            [Exit::Success, Exit::NotTrue, Exit::BadInput, Exit::CouldNotRun].map(Exit::code).into();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn the_outermost_known_cause_decides_whatever_the_list_order() {
        let err = anyhow::Error::new(Outer(Inner)).context("doing something");
        assert_eq!(exit_of_chain(&err, BOTH), Exit::NotTrue);
        let reversed = [BOTH[1], BOTH[0]];
        assert_eq!(exit_of_chain(&err, &reversed), Exit::NotTrue);
    }

    #[test]
    fn an_unknown_wrapper_is_walked_through() {
        let err = anyhow::Error::new(Unregistered(Inner)).context("doing something");
        assert_eq!(exit_of_chain(&err, BOTH), Exit::BadInput);
    }

    #[test]
    fn nothing_known_is_could_not_run() {
        let err = anyhow::anyhow!("plain").context("doing something");
        assert_eq!(exit_of_chain(&err, BOTH), Exit::CouldNotRun);
        let err = anyhow::Error::new(Outer(Inner));
        assert_eq!(exit_of_chain(&err, &[]), Exit::CouldNotRun);
    }

    #[test]
    fn a_known_entry_names_its_type() {
        assert!((BOTH[0].name)().ends_with("::Inner"), "{}", (BOTH[0].name)());
    }
}
