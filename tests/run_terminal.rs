//! `srukit run` of the shipped flagship as a user sees it in a real 120-column terminal
//! (tmux, its screen captured with `capture-pane -J`, wrapped lines joined): exactly one line
//! per stage, no spinner frame left behind, no line past 120 columns, and no warning (the
//! fixture's orig is made by its folder's make-orig.sh, not invented by the build).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use srukit::process::Cmd;

const STAGES: &[&str] = &["resolve", "build-before", "apply", "build-after", "verify", "report"];

/// A tmux server of this test's own (`-L`), killed when the test ends, pass or fail.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Cmd {
        Cmd::new("tmux").arg("-L").arg(&self.socket)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output_unchecked();
    }
}

#[test]
fn flagship_run_in_a_terminal() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let script = format!(
        "cd '{}' && '{}' run patches/lp1336568-iscsi-write-cache --out '{}'; echo EXIT=$?; sleep 900",
        repo.display(),
        env!("CARGO_BIN_EXE_srukit"),
        out.display()
    );
    let tmux = Tmux { socket: format!("srukit-test-{}", std::process::id()) };
    tmux.cmd()
        .args(["new-session", "-d", "-x", "120", "-y", "60", "-s", "run"])
        .arg(&script)
        .run()
        .expect("tmux starts (scripts/setup.sh installs it)");
    // The first run on a machine builds the testbed images: minutes, not seconds.
    let deadline = Instant::now() + Duration::from_secs(1200);
    let screen = loop {
        let s = tmux.cmd().args(["capture-pane", "-p", "-J", "-S", "-", "-t", "run"]).read().unwrap();
        if s.lines().any(|l| l.starts_with("EXIT=")) {
            break s;
        }
        assert!(Instant::now() < deadline, "srukit run did not finish:\n{s}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
    let shown = lines.join("\n");
    assert!(lines.contains(&"EXIT=0"), "{shown}");
    for stage in STAGES {
        let of_stage: Vec<&&str> =
            lines.iter().filter(|l| l.split_whitespace().next() == Some(*stage)).collect();
        assert_eq!(of_stage.len(), 1, "one line for {stage}:\n{shown}");
        assert!(of_stage[0].contains(" done ("), "{stage}: {shown}");
    }
    let stage_order: Vec<&str> =
        lines.iter().filter_map(|l| l.split_whitespace().next()).filter(|w| STAGES.contains(w)).collect();
    assert_eq!(stage_order, STAGES, "{shown}");
    // Braille patterns are indicatif's spinner frames: none may stay on the screen.
    assert!(!screen.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c)), "stale spinner:\n{shown}");
    for l in &lines {
        assert!(l.chars().count() <= 120, "wraps past 120 columns: {l:?}");
    }
    assert!(!screen.to_lowercase().contains("warning"), "{shown}");
    assert!(lines.iter().any(|l| l.ends_with(": verification-done")), "{shown}");
    // Shown with --nocapture: the screen as the user saw it.
    println!("{shown}");
}
