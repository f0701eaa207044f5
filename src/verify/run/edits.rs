//! A phase's edits, applied inside the testbed after the packages are installed and before
//! any step: the INI and flat `KEY=VALUE` forms change one line and keep every other byte;
//! `append` adds a line; `write` replaces a file (mode given); `remove` deletes one.

use super::{Fallible, exec_ok, write_file};
use crate::testbed::{ExecRequest, Testbed};
use crate::verify::plan::Edit;

pub fn apply(tb: &mut dyn Testbed, edit: &Edit) -> Fallible<()> {
    match edit {
        Edit::Ini { file, section, key, value } => {
            let text = read(tb, file)?;
            let new = crate::verify::ini_edit::set(&text, section, key, value);
            exec_ok(tb, write_file(file, new))?;
        }
        Edit::Set { file, key, value } => {
            let text = read(tb, file)?;
            exec_ok(tb, write_file(file, set_line(&text, key, value)))?;
        }
        Edit::Append { file, line } => {
            let mut text = read(tb, file)?;
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(line);
            text.push('\n');
            exec_ok(tb, write_file(file, text))?;
        }
        Edit::Write { file, content, mode } => {
            exec_ok(tb, write_file(file, content.clone()))?;
            exec_ok(tb, ExecRequest::new(["chmod", mode.as_str(), file.as_str()]))?;
        }
        Edit::Remove { file } => {
            // A file that is not there is a plan that edits something else than it thinks.
            exec_ok(tb, ExecRequest::new(["rm", "--", file.as_str()]))
                .map_err(|e| format!("edit `remove` {file}: {e}"))?;
        }
    }
    Ok(())
}

/// The file's text, empty when it does not exist yet (the edit creates it).
fn read(tb: &mut dyn Testbed, file: &str) -> Fallible<String> {
    let current = tb.exec(&ExecRequest::new(["cat", file])).map_err(|e| e.to_string())?;
    Ok(if current.success() { current.stdout_str() } else { String::new() })
}

/// Sets `KEY=VALUE` in a flat shell-style file (/etc/default/*): the first `KEY=` line,
/// or a commented-out `#KEY=` one (as a verifier uncomments the shipped example), is
/// replaced; else the line is appended. Every other byte stays.
pub fn set_line(text: &str, key: &str, value: &str) -> String {
    let new_line = format!("{key}={value}\n");
    let is_key = |line: &str, commented: bool| {
        let t = line.trim_start();
        let t = if commented { t.strip_prefix('#').map(str::trim_start) } else { Some(t) };
        t.and_then(|t| t.strip_prefix(key)).is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let at =
        lines.iter().position(|l| is_key(l, false)).or_else(|| lines.iter().position(|l| is_key(l, true)));
    match at {
        Some(i) => [lines[..i].concat(), new_line, lines[i + 1..].concat()].concat(),
        None => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&new_line);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::set_line;

    #[test]
    fn set_table() {
        let cases: &[(&str, &str)] = &[
            ("ENABLED=1\nOTHER=2\n", "ENABLED=0\nOTHER=2\n"),
            ("# comment\n#ENABLED=1\nOTHER=2\n", "# comment\nENABLED=0\nOTHER=2\n"),
            ("#ENABLED=1\nENABLED=1\n", "#ENABLED=1\nENABLED=0\n"),
            ("ENABLED_X=1\n", "ENABLED_X=1\nENABLED=0\n"),
            ("OTHER=2", "OTHER=2\nENABLED=0\n"),
            ("", "ENABLED=0\n"),
            ("  ENABLED = 1\n", "ENABLED=0\n"),
        ];
        for (input, want) in cases {
            assert_eq!(set_line(input, "ENABLED", "0"), *want, "input: {input:?}");
        }
    }
}
