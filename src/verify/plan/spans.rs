//! Where things are in a plan file: a second, tolerant read of `verify.toml` that keeps the
//! place of every string a run expands or a check names, so a load error points at the line
//! (and column) of the problem instead of line 1. Also the `${name}` scanner the loader uses.

use serde::Deserialize;
use toml::Spanned;

/// The parts of a plan whose places errors name. Unknown keys are ignored here: the strict
/// read (`RawPlan`, deny_unknown_fields) has already refused them.
#[derive(Debug, Deserialize)]
pub struct Spans {
    pub testbed: Spanned<String>,
    #[serde(default)]
    pub sides: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub needs: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub daemon: Option<DaemonSpans>,
    #[serde(rename = "phase")]
    pub phases: Vec<PhaseSpans>,
    #[serde(rename = "step", default)]
    pub steps: Vec<StepSpans>,
    #[serde(default)]
    pub target: Option<TargetSpans>,
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckSpans>,
    #[serde(default)]
    pub secrets: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct DaemonSpans {
    pub argv: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
pub struct PhaseSpans {
    pub name: Spanned<String>,
    #[serde(default)]
    pub edits: Vec<EditSpans>,
}

/// Every string of an edit, whatever its kind.
#[derive(Debug, Default, Deserialize)]
pub struct EditSpans {
    pub file: Option<Spanned<String>>,
    pub ini: Option<Spanned<String>>,
    pub set: Option<Spanned<String>>,
    pub append: Option<Spanned<String>>,
    pub write: Option<Spanned<String>>,
    pub remove: Option<Spanned<String>>,
    pub section: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub value: Option<Spanned<String>>,
    pub line: Option<Spanned<String>>,
    pub content: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
}

impl EditSpans {
    /// The strings a run expands.
    pub fn strings(&self) -> Vec<&Spanned<String>> {
        [
            &self.file,
            &self.ini,
            &self.set,
            &self.append,
            &self.write,
            &self.remove,
            &self.section,
            &self.key,
            &self.value,
            &self.line,
            &self.content,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct StepSpans {
    pub name: Spanned<String>,
    #[serde(default)]
    pub run: Vec<Spanned<String>>,
    #[serde(default)]
    pub sh: Option<Spanned<String>>,
    #[serde(default)]
    pub write: Option<WriteSpans>,
    #[serde(default)]
    pub daemon: Option<DaemonStepSpans>,
    #[serde(default)]
    pub upgrade: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct WriteSpans {
    pub path: Spanned<String>,
    #[serde(default)]
    pub content: Option<Spanned<String>>,
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct DaemonStepSpans {
    #[serde(default)]
    pub argv: Vec<Spanned<String>>,
    #[serde(default, rename = "ready-file", alias = "ready_file")]
    pub ready_file: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct TargetSpans {
    pub file: Spanned<String>,
    #[serde(default)]
    pub portal: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct CheckSpans {
    pub id: Spanned<String>,
    #[serde(default)]
    pub command: Option<CommandSpans>,
    #[serde(default)]
    pub file: Option<PathSpans>,
    #[serde(default)]
    pub log: Option<LogSpans>,
    #[serde(default)]
    pub package: Option<NameSpans>,
    #[serde(default)]
    pub service: Option<NameSpans>,
    #[serde(default)]
    pub port: Option<ListenSpans>,
}

#[derive(Debug, Deserialize)]
pub struct CommandSpans {
    #[serde(default)]
    pub run: Vec<Spanned<String>>,
    #[serde(default)]
    pub sh: Option<Spanned<String>>,
    #[serde(default)]
    pub stdin: Option<Spanned<String>>,
    #[serde(default)]
    pub user: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
pub struct PathSpans {
    pub path: Spanned<String>,
}

#[derive(Debug, Deserialize)]
pub struct LogSpans {
    pub file: Spanned<String>,
}

#[derive(Debug, Deserialize)]
pub struct NameSpans {
    pub name: Spanned<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListenSpans {
    pub listen: Spanned<String>,
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
    (line, col)
}

/// Every `${name}` in a template with its byte offset; an unclosed `${` is a name of `None`.
/// `$${` is a literal `${` (a shell script's own variables), not a variable.
pub fn variables(template: &str) -> Vec<(Option<&str>, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = template[from..].find("${") {
        let start = from + i;
        if start > 0 && template.as_bytes()[start - 1] == b'$' {
            from = start + 2;
            continue;
        }
        match template[start + 2..].find('}') {
            Some(end) => {
                out.push((Some(&template[start + 2..start + 2 + end]), start));
                from = start + 2 + end + 1;
            }
            None => {
                out.push((None, start));
                break;
            }
        }
    }
    out
}

/// The offset in the file of `needle` inside the TOML value at `span` (its literal, quotes and
/// escapes included): a `${name}` has no character TOML escapes, so it is found verbatim.
pub fn offset_in_value(text: &str, span: std::ops::Range<usize>, needle: &str) -> usize {
    let raw = text.get(span.clone()).unwrap_or_default();
    raw.find(needle).map_or(span.start, |i| span.start + i)
}

/// The offset of the last `[[header]]` line that starts before `offset` (the table a key at
/// `offset` belongs to), else `offset` itself.
pub fn header_before(text: &str, offset: usize, header: &str) -> usize {
    let want = format!("[[{header}]]");
    let mut found = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if at > offset {
            break;
        }
        let squeezed: String = line.split('#').next().unwrap_or_default().split_whitespace().collect();
        if squeezed == want {
            found = Some(at + (line.len() - line.trim_start().len()));
        }
        at += line.len();
    }
    found.unwrap_or(offset)
}

/// The offset of a `[name]` table header line, if the file has one.
pub fn table_header(text: &str, name: &str) -> Option<usize> {
    let want = format!("[{name}]");
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let squeezed: String = line.split('#').next().unwrap_or_default().split_whitespace().collect();
        if squeezed == want {
            return Some(at + (line.len() - line.trim_start().len()));
        }
        at += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_variables_and_their_offsets() {
        assert_eq!(variables("a ${x} b ${yy}"), [(Some("x"), 2), (Some("yy"), 9)]);
        assert_eq!(variables("$HOME ${open"), [(None, 6)]);
        assert!(variables("no vars $x").is_empty());
        assert_eq!(variables("$${HOME} ${x}"), [(Some("x"), 9)]);
    }

    #[test]
    fn lines_columns_and_headers() {
        let text = "a = 1\n[[phase]]\nname = \"x\"\n  [[ phase ]] # again\nname = \"y\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, text.find("name").unwrap()), (3, 1));
        let y = text.rfind("name").unwrap();
        assert_eq!(line_col(text, header_before(text, y, "phase")), (4, 3));
        let x = text.find("name").unwrap();
        assert_eq!(line_col(text, header_before(text, x, "phase")), (2, 1));
    }
}
