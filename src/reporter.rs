//! How stages talk to the user without printing: progress, notes and warnings go through a
//! `Reporter`, and the edge decides whether that is a terminal bar, JSON events or nothing.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// What a stage may say while it works.
pub trait Reporter: Send + Sync {
    /// A long step begins; the returned guard ends it when dropped or finished.
    fn step(&self, name: &str) -> Step;
    /// Something the user should know that is not an error.
    fn note(&self, msg: &str);
    /// Something that may be wrong but did not stop the stage.
    fn warn(&self, msg: &str);
}

/// A running step. `finish` (or drop) closes it and reports the elapsed time.
pub struct Step {
    name: String,
    started: Instant,
    bar: Option<indicatif::ProgressBar>,
    json: bool,
    /// A plain line at the end (no terminal, but `-v`).
    plain: bool,
    done: bool,
}

impl Step {
    pub fn set_message(&self, msg: &str) {
        if let Some(b) = &self.bar {
            b.set_message(format!("{}: {msg}", self.name));
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn finish(mut self, outcome: &str) -> Duration {
        self.close(outcome)
    }

    fn close(&mut self, outcome: &str) -> Duration {
        let elapsed = self.started.elapsed();
        if self.done {
            return elapsed;
        }
        self.done = true;
        let had_bar = self.bar.take().map(|b| b.finish_and_clear()).is_some();
        if had_bar || self.plain {
            eprintln!("{:<28} {outcome} ({:.1}s)", self.name, elapsed.as_secs_f64());
        } else if self.json {
            let ev = serde_json::json!({"event": "step-end", "step": self.name, "outcome": outcome,
                "seconds": elapsed.as_secs_f64()});
            println!("{ev}");
        }
        elapsed
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.close("done");
    }
}

/// Prints nothing; for tests and library users.
pub struct Quiet;

impl Reporter for Quiet {
    fn step(&self, name: &str) -> Step {
        Step {
            name: name.to_string(),
            started: Instant::now(),
            bar: None,
            json: false,
            plain: false,
            done: false,
        }
    }
    fn note(&self, _msg: &str) {}
    fn warn(&self, _msg: &str) {}
}

/// A spinner per step on a terminal, plain lines on stderr otherwise.
pub struct Terminal {
    pub verbose: bool,
}

impl Reporter for Terminal {
    fn step(&self, name: &str) -> Step {
        let bar = if std::io::stderr().is_terminal() {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.set_message(name.to_string());
            b.enable_steady_tick(Duration::from_millis(100));
            Some(b)
        } else {
            None
        };
        // Quiet when stderr is not a terminal, unless asked to say more.
        let plain = bar.is_none() && self.verbose;
        Step { name: name.to_string(), started: Instant::now(), bar, json: false, plain, done: false }
    }
    fn note(&self, msg: &str) {
        if self.verbose {
            eprintln!("note: {msg}");
        }
    }
    fn warn(&self, msg: &str) {
        eprintln!("warning: {msg}");
    }
}

/// Newline-delimited JSON events on stdout, for CI pipelines that asked for `--json` on a
/// long command (`run`).
pub struct JsonEvents;

impl Reporter for JsonEvents {
    fn step(&self, name: &str) -> Step {
        println!("{}", serde_json::json!({"event": "step-start", "step": name}));
        Step {
            name: name.to_string(),
            started: Instant::now(),
            bar: None,
            json: true,
            plain: false,
            done: false,
        }
    }
    fn note(&self, msg: &str) {
        println!("{}", serde_json::json!({"event": "note", "message": msg}));
    }
    fn warn(&self, msg: &str) {
        println!("{}", serde_json::json!({"event": "warning", "message": msg}));
    }
}
