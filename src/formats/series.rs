//! The quilt `series` file: which patches, in which order, with which `-pN` option. Reads and
//! writes it losslessly (comments, blank lines, options and line endings kept byte for byte).
//!
//! Syntax follows quilt's `patch_args` (patchfns): a `#` at the start of a line or after
//! blanks starts a comment; the first word is the patch name; a `-pN` word sets the strip
//! level (default `-p1`). dpkg-source refuses names with a `..` component; so do we.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    #[error("{}:{line}: patch name is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf, line: usize },
    #[error("{}:{line}: insecure patch name `{name}` (absolute or with a `..` component)", path.display())]
    Insecure { path: PathBuf, line: usize, name: String },
    #[error("{}:{line}: unsupported option `{option}` for patch `{name}` (only -pN is supported)", path.display())]
    Option { path: PathBuf, line: usize, name: String, option: String },
}

impl ExitCodeOf for SeriesError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
}

/// One patch named by the series, with its strip level and 1-based line in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesEntry {
    pub name: String,
    pub strip: u32,
    pub line: usize,
}

/// A parsed series file: its raw lines (each with its own line ending) and the entries found.
#[derive(Debug, Clone, Default)]
pub struct Series {
    lines: Vec<Vec<u8>>,
    path: PathBuf,
}

impl Series {
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Series, SeriesError> {
        let lines: Vec<Vec<u8>> = bytes.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        let s = Series { lines, path: path.to_path_buf() };
        s.try_entries()?;
        Ok(s)
    }

    /// An empty series (no file yet).
    pub fn empty(path: &Path) -> Series {
        Series { lines: Vec::new(), path: path.to_path_buf() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> Vec<SeriesEntry> {
        self.try_entries().expect("validated by parse")
    }

    fn try_entries(&self) -> Result<Vec<SeriesEntry>, SeriesError> {
        let mut out = Vec::new();
        for (i, raw) in self.lines.iter().enumerate() {
            let line = i + 1;
            let words = words_of(raw);
            let Some((name, opts)) = words.split_first() else { continue };
            let name = std::str::from_utf8(name)
                .map_err(|_| SeriesError::NotUtf8 { path: self.path.clone(), line })?
                .to_string();
            if name.starts_with('/') || name.split('/').any(|c| c == "..") {
                return Err(SeriesError::Insecure { path: self.path.clone(), line, name });
            }
            let mut strip = 1;
            for opt in opts {
                let o = String::from_utf8_lossy(opt).into_owned();
                match o.strip_prefix("-p").and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => strip = n,
                    None => {
                        return Err(SeriesError::Option { path: self.path.clone(), line, name, option: o });
                    }
                }
            }
            out.push(SeriesEntry { name, strip, line });
        }
        Ok(out)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries().iter().any(|e| e.name == name)
    }

    /// Adds `name` on a new line after the entry `after` (or at the end), keeping every other
    /// byte. The new line uses the file's line ending (CRLF if its first line has one).
    pub fn insert_after(&mut self, after: Option<&str>, name: &str) {
        let crlf = self.lines.first().is_some_and(|l| l.ends_with(b"\r\n"));
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut new_line = name.as_bytes().to_vec();
        new_line.extend_from_slice(eol);
        let idx = match after.and_then(|a| self.entries().into_iter().find(|e| e.name == a)) {
            Some(e) => e.line,
            None => self.lines.len(),
        };
        // The line we insert after must end with a newline, or the two names would merge.
        if idx > 0 && !self.lines[idx - 1].ends_with(b"\n") {
            self.lines[idx - 1].extend_from_slice(eol);
        }
        self.lines.insert(idx, new_line);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.lines.concat()
    }
}

/// The words of a series line after quilt's comment rule `(^|[ \t]+)#.*` is applied.
fn words_of(raw: &[u8]) -> Vec<&[u8]> {
    let mut end = raw.len();
    for (i, &b) in raw.iter().enumerate() {
        if b == b'#' && (i == 0 || raw[i - 1] == b' ' || raw[i - 1] == b'\t') {
            end = i;
            break;
        }
    }
    raw[..end].split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Series {
        Series::parse(s.as_bytes(), Path::new("series")).unwrap()
    }

    #[test]
    fn comments_blanks_and_options() {
        let s = p("# head\n\na.patch\nb.patch -p0 # why\n  c.patch\t-p2\n#d.patch\ne#x.patch\n");
        let names: Vec<(String, u32, usize)> =
            s.entries().into_iter().map(|e| (e.name, e.strip, e.line)).collect();
        assert_eq!(
            names,
            vec![
                ("a.patch".into(), 1, 3),
                ("b.patch".into(), 0, 4),
                ("c.patch".into(), 2, 5),
                ("e#x.patch".into(), 1, 7)
            ]
        );
        assert!(s.contains("b.patch") && !s.contains("d.patch"));
    }

    #[test]
    fn round_trip_is_byte_exact() {
        let cases: [&[u8]; 6] =
            [b"", b"a\n", b"a", b"# c\r\nx.patch -p1\r\n\r\n", b"a\n\n\n# end", b"x # \xff\n"];
        for bytes in cases {
            let s = Series::parse(bytes, Path::new("series")).unwrap();
            assert_eq!(s.to_bytes(), bytes);
        }
    }

    #[test]
    fn insert_after_keeps_other_bytes() {
        let mut s = p("# top\na.patch\n\nb.patch -p0 # keep\n");
        s.insert_after(Some("a.patch"), "new.patch");
        assert_eq!(s.to_bytes(), b"# top\na.patch\nnew.patch\n\nb.patch -p0 # keep\n");
        s.insert_after(None, "last.patch");
        assert_eq!(s.to_bytes(), b"# top\na.patch\nnew.patch\n\nb.patch -p0 # keep\nlast.patch\n");
        let mut t = p("a.patch");
        t.insert_after(None, "b.patch");
        assert_eq!(t.to_bytes(), b"a.patch\nb.patch\n");
        let mut u = p("a\r\n");
        u.insert_after(Some("a"), "b");
        assert_eq!(u.to_bytes(), b"a\r\nb\r\n");
    }

    #[test]
    fn refusals() {
        let bad: [&[u8]; 5] =
            [b"../x.patch\n", b"a/../../x\n", b"/etc/x\n", b"a.patch -R\n", b"\xff.patch\n"];
        for bytes in bad {
            assert!(Series::parse(bytes, Path::new("series")).is_err(), "{bytes:?} accepted");
        }
        let e = Series::parse(b"ok\n../x\n", Path::new("s")).unwrap_err();
        assert!(e.to_string().starts_with("s:2:"), "{e}");
    }
}
