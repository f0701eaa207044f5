//! How stages talk to the user without printing: progress, notes and warnings go through a
//! `Reporter`, and the edge decides whether that is a terminal bar, JSON events or nothing.
//!
//! On a terminal every spinner lives in one `MultiProgress` and every line is printed through
//! it (`suspend`): a step inside a step (the build's phases inside a pipeline stage) gets its
//! own spinner below its parent's, and a finished step leaves exactly one line, never a
//! spinner frame. A line never wraps: it is cut to the terminal's width.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What a stage may say while it works.
pub trait Reporter: Send + Sync {
    /// A long step begins; the returned guard ends it when dropped or finished.
    fn step(&self, name: &str) -> Step;
    /// Something the user should know that is not an error.
    fn note(&self, msg: &str);
    /// Something that may be wrong but did not stop the stage.
    fn warn(&self, msg: &str);
    /// This reporter's own form for one target of a multi-target run, when it has one
    /// (JSON events carry `"target"`); `None`: lines prefixed with the series (`for_target`).
    fn target_form(&self, _series: &str) -> Option<Box<dyn Reporter>> {
        None
    }
}

/// The reporter for one target of a multi-target run: every step, note and warning says
/// its series.
pub fn for_target<'a>(rep: &'a dyn Reporter, series: &str) -> Box<dyn Reporter + 'a> {
    match rep.target_form(series) {
        Some(own) => own,
        None => Box::new(Prefixed { inner: rep, prefix: format!("{series}: ") }),
    }
}

/// Another reporter's lines, each prefixed (a target's series).
struct Prefixed<'a> {
    inner: &'a dyn Reporter,
    prefix: String,
}

impl Reporter for Prefixed<'_> {
    fn step(&self, name: &str) -> Step {
        self.inner.step(&format!("{}{name}", self.prefix))
    }
    fn note(&self, msg: &str) {
        self.inner.note(&format!("{}{msg}", self.prefix))
    }
    fn warn(&self, msg: &str) {
        self.inner.warn(&format!("{}{msg}", self.prefix))
    }
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
    /// Counted in `OPEN` (a terminal step): uncounted when closed.
    counted: bool,
    /// The target series a JSON event carries (multi-target runs).
    target: Option<String>,
}

/// Terminal steps open right now: a step opened inside another is indented below it.
static OPEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

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
        if self.counted {
            OPEN.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        let had_bar = self
            .bar
            .take()
            .map(|b| {
                b.finish_and_clear();
                multi().remove(&b);
            })
            .is_some();
        if had_bar || self.plain {
            let line = format!("{:<28} {outcome} ({:.1}s)", self.name, elapsed.as_secs_f64());
            print_line(&line);
        } else if self.json {
            let mut ev = serde_json::json!({"event": "step-end", "step": self.name, "outcome": outcome,
                "seconds": elapsed.as_secs_f64()});
            if let Some(t) = &self.target {
                ev["target"] = t.as_str().into();
            }
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
            counted: false,
            target: None,
        }
    }
    fn note(&self, _msg: &str) {}
    fn warn(&self, _msg: &str) {}
}

/// The one set of spinners on stderr: all of a process's steps draw into it.
fn multi() -> &'static indicatif::MultiProgress {
    static MULTI: OnceLock<indicatif::MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr()))
}

/// The terminal's width in columns, when stderr is one.
fn terminal_width() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the zeroed struct we pass; fd 2 is
    // stderr, which stays open for the whole process.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// `line` cut to `width` columns (characters), ending with `…` when cut.
pub fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width || width == 0 {
        return line.to_string();
    }
    let mut out: String = line.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A line on stderr: above the spinners, cut to the terminal's width.
fn print_line(line: &str) {
    let line = match terminal_width() {
        Some(w) => fit(line, w),
        None => line.to_string(),
    };
    multi().suspend(|| eprintln!("{line}"));
}

/// A spinner per step on a terminal, plain lines on stderr otherwise.
pub struct Terminal {
    pub verbose: bool,
}

impl Reporter for Terminal {
    fn step(&self, name: &str) -> Step {
        let depth = OPEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("{}{name}", "  ".repeat(depth));
        let name = name.as_str();
        let bar = if std::io::stderr().is_terminal() {
            let b = multi().add(indicatif::ProgressBar::new_spinner());
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {wide_msg} [{elapsed}]")
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
        Step {
            name: name.to_string(),
            started: Instant::now(),
            bar,
            json: false,
            plain,
            done: false,
            counted: true,
            target: None,
        }
    }
    fn note(&self, msg: &str) {
        if self.verbose {
            print_line(&format!("note: {msg}"));
        }
    }
    fn warn(&self, msg: &str) {
        // Warnings are not cut: they are what the user has to act on.
        multi().suspend(|| eprintln!("warning: {msg}"));
    }
}

/// Newline-delimited JSON events on stdout, for CI pipelines that asked for `--json` on a
/// long command (`run`).
pub struct JsonEvents;

impl Reporter for JsonEvents {
    fn step(&self, name: &str) -> Step {
        json_step(name, None)
    }
    fn note(&self, msg: &str) {
        json_event(serde_json::json!({"event": "note", "message": msg}), None);
    }
    fn warn(&self, msg: &str) {
        json_event(serde_json::json!({"event": "warning", "message": msg}), None);
    }
    fn target_form(&self, series: &str) -> Option<Box<dyn Reporter>> {
        Some(Box::new(JsonEventsFor { target: series.to_string() }))
    }
}

/// The events of one target of a multi-target run: each carries `"target": SERIES`.
pub struct JsonEventsFor {
    pub target: String,
}

impl Reporter for JsonEventsFor {
    fn step(&self, name: &str) -> Step {
        json_step(name, Some(&self.target))
    }
    fn note(&self, msg: &str) {
        json_event(serde_json::json!({"event": "note", "message": msg}), Some(&self.target));
    }
    fn warn(&self, msg: &str) {
        json_event(serde_json::json!({"event": "warning", "message": msg}), Some(&self.target));
    }
}

fn json_event(mut ev: serde_json::Value, target: Option<&str>) {
    if let Some(t) = target {
        ev["target"] = t.into();
    }
    println!("{ev}");
}

fn json_step(name: &str, target: Option<&str>) -> Step {
    json_event(serde_json::json!({"event": "step-start", "step": name}), target);
    Step {
        name: name.to_string(),
        started: Instant::now(),
        bar: None,
        json: true,
        plain: false,
        done: false,
        counted: false,
        target: target.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_the_width() {
        assert_eq!(fit("abcdef", 10), "abcdef");
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("äöüäöü", 3), "äö…");
        assert_eq!(fit("x", 0), "x");
    }
}
