//! Kill test: SIGKILL `srukit patches push --all` of bash's series (19 patches) at 54
//! moments spread over the whole push, and check that the tree is exactly before or after
//! the push, or that the next srukit command restores it (and says so); every other push
//! starts from a tree without `.pc/` (the push creates it, and its journal leaves out the
//! files inside it); then 16 kills of `pop --all`.

mod patches_common;

use std::time::{Duration, Instant};

use patches_common::*;
use srukit::process::Cmd;

const TRIALS: usize = 54;

/// Polls until the push's journal (or the staging `.pc` that carries it) appears, or the
/// process ends; returns when that was.
fn wait_for_journal(tree: &std::path::Path, handle: &duct::Handle) -> Instant {
    let started = Instant::now();
    while !tree.join(".pc/.srukit-journal").exists()
        && !tree.join(".pc.srukit-tmp").exists()
        && handle.try_wait().ok().flatten().is_none()
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_micros(50));
    }
    Instant::now()
}
/// Slows every write step down (a test hook in the journal) so kills land between them.
const PAUSE_US: &str = "400";

#[test]
fn sigkill_during_push_leaves_before_or_after_or_is_rolled_back() {
    let (un, re) = extracted("bash");
    let focus = touched(&snapshot(&un, false), &snapshot(&re, false));
    assert!(focus.len() > 10, "bash's series touches many files");
    let (_t, tree) = copy_of(&un, "bash");
    let snap = |with_pc| snapshot_focused(&tree, with_pc, Some(&focus));
    let bin = env!("CARGO_BIN_EXE_srukit");
    let push = Cmd::new(bin)
        .args(["patches", "push", "--all", "--tree"])
        .arg(&tree)
        .env("SRUKIT_TEST_PAUSE_US", PAUSE_US);

    // The "after" state, and how long a slowed push spends writing (journal to exit).
    let before_first = snap(true);
    let handle = push.start_captured().unwrap();
    let journal_seen = wait_for_journal(&tree, &handle);
    handle.wait().unwrap();
    let duration = journal_seen.elapsed();
    let after = snap(true);
    ok(&srukit(&["patches", "pop", "--all"], &tree));

    let (mut saw_before, mut saw_after, mut saw_rollback, mut saw_rollback_new_pc) = (0, 0, 0, 0);
    for i in 0..TRIALS {
        if i % 2 == 1 && tree.join(".pc").exists() {
            // A tree never pushed: what `pop --all` left in `.pc/` goes too.
            std::fs::remove_dir_all(tree.join(".pc")).unwrap();
        }
        let new_pc = !tree.join(".pc").exists();
        let before = snap(true);
        if i == 0 {
            // After a pop, `.pc/` keeps quilt's metadata files; the first trial starts without.
            assert_eq!(diff(&before_first, &before).iter().filter(|d| !d.contains(".pc")).count(), 0);
        }
        let handle = push.start_captured().unwrap();
        // Every 6th kill lands early (while srukit reads and computes); the others are spread
        // from the moment the journal appears to past the end of the writes.
        let at = if i % 6 == 0 {
            Duration::from_micros(2000 * (i as u64 / 6))
        } else {
            wait_for_journal(&tree, &handle);
            duration.mul_f64(1.1 * i as f64 / TRIALS as f64)
        };
        std::thread::sleep(at);
        let _ = handle.kill();
        let killed = snap(true);
        let next = srukit(&["patches", "list"], &tree);
        ok(&next);
        let stderr = String::from_utf8_lossy(&next.stderr).into_owned();
        let now = snap(true);
        let stray: Vec<String> = walkdir::WalkDir::new(&tree)
            .into_iter()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("srukit"))
            .map(|e| e.path().display().to_string())
            .collect();
        assert!(stray.is_empty(), "trial {i}: leftovers after recovery: {stray:?}");
        if now == after {
            assert!(killed == after, "trial {i}: a completed push must not need recovery");
            saw_after += 1;
            ok(&srukit(&["patches", "pop", "--all"], &tree));
        } else {
            assert!(
                now == before,
                "trial {i} (kill at {at:?}): neither before nor after:\n{}",
                diff(&before, &now).join("\n")
            );
            if killed != before {
                assert!(
                    stderr.contains("rolled back") || stderr.contains("removed"),
                    "trial {i}: recovery not said: {stderr}"
                );
                saw_rollback += 1;
                saw_rollback_new_pc += usize::from(new_pc);
            } else {
                saw_before += 1;
            }
        }
    }
    eprintln!(
        "kill test: {saw_before} before, {saw_rollback} rolled back ({saw_rollback_new_pc} of a new .pc), \
         {saw_after} after ({duration:?} per push)"
    );
    assert!(saw_rollback >= 10, "too few kills landed inside the push: {saw_rollback}");
    assert!(
        saw_rollback_new_pc >= 4,
        "too few kills landed inside a push that creates .pc: {saw_rollback_new_pc}"
    );
    assert!(saw_after >= 1 && saw_before + saw_after + saw_rollback == TRIALS);
}

/// The same for `pop --all` of the fully pushed series (fewer trials: the code path that
/// writes is the same journal).
#[test]
fn sigkill_during_pop_leaves_before_or_after_or_is_rolled_back() {
    const POP_TRIALS: usize = 16;
    let (un, re) = extracted("bash");
    let focus = touched(&snapshot(&un, false), &snapshot(&re, false));
    let (_t, tree) = copy_of(&un, "bash");
    let snap = || snapshot_focused(&tree, true, Some(&focus));
    let pop = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .args(["patches", "pop", "--all", "--tree"])
        .arg(&tree)
        .env("SRUKIT_TEST_PAUSE_US", PAUSE_US);
    ok(&srukit(&["patches", "push", "--all"], &tree));
    let pushed = snap();
    let handle = pop.start_captured().unwrap();
    let seen = wait_for_journal(&tree, &handle);
    handle.wait().unwrap();
    let duration = seen.elapsed();
    let popped = snap();
    ok(&srukit(&["patches", "push", "--all"], &tree));
    assert!(snap() == pushed);

    let mut rolled_back = 0;
    for i in 0..POP_TRIALS {
        let handle = pop.start_captured().unwrap();
        wait_for_journal(&tree, &handle);
        std::thread::sleep(duration.mul_f64(1.1 * i as f64 / POP_TRIALS as f64));
        let _ = handle.kill();
        let killed = snap();
        ok(&srukit(&["patches", "list"], &tree));
        let now = snap();
        if now == popped {
            ok(&srukit(&["patches", "push", "--all"], &tree));
        } else {
            assert!(
                now == pushed,
                "pop trial {i}: neither before nor after:\n{}",
                diff(&pushed, &now).join("\n")
            );
            rolled_back += usize::from(killed != pushed);
        }
    }
    assert!(rolled_back >= 4, "too few kills landed inside the pop: {rolled_back}");
}
