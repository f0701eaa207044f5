//! What `dpkg-source -b` leaves out of a native source package: the `tar-ignore` patterns of
//! `debian/source/options` and `local-options`, or dpkg's default list when none are given
//! (a bare `tar-ignore` adds the default to given ones), matched the way GNU tar's
//! `--exclude` matches them: unanchored, `*` crossing `/`. The staging copy skips these, so
//! building from a checkout does not first copy its build directories.

use std::path::Path;

use super::BuildError;
use crate::fsx;

/// dpkg's `@tar_ignore_default_pattern` (Dpkg::Source::Package, dpkg 1.21).
const DEFAULT: &[&str] = &[
    "*.a",
    "*.la",
    "*.o",
    "*.so",
    ".*.sw?",
    "*/*~",
    ",,*",
    ".[#~]*",
    ".arch-ids",
    ".arch-inventory",
    ".be",
    ".bzr",
    ".bzr.backup",
    ".bzr.tags",
    ".bzrignore",
    ".cvsignore",
    ".deps",
    ".git",
    ".gitattributes",
    ".gitignore",
    ".gitmodules",
    ".gitreview",
    ".hg",
    ".hgignore",
    ".hgsigs",
    ".hgtags",
    ".mailmap",
    ".mtn-ignore",
    ".shelf",
    ".svn",
    "CVS",
    "DEADJOE",
    "RCS",
    "_MTN",
    "_darcs",
    "{arch}",
];

/// Always appended by dpkg-source, whatever the options say.
const ALWAYS: &[&str] =
    &["debian/source/local-options", "debian/source/local-patch-header", "debian/files", "debian/files.new"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarIgnore {
    patterns: Vec<String>,
}

impl TarIgnore {
    /// The patterns in force for the tree.
    pub fn for_tree(tree: &Path) -> Result<TarIgnore, BuildError> {
        let mut given = Vec::new();
        let mut bare = false;
        for name in ["options", "local-options"] {
            let path = tree.join("debian/source").join(name);
            if !path.is_file() {
                continue;
            }
            for line in fsx::read_to_string(&path)?.lines() {
                let line = line.trim();
                if line.starts_with('#') {
                    continue;
                }
                let (key, value) = match line.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim())),
                    None => (line, None),
                };
                if key.trim_start_matches("--") != "tar-ignore" {
                    continue;
                }
                match value {
                    Some(v) if !v.is_empty() => given.push(v.to_string()),
                    _ => bare = true,
                }
            }
        }
        Ok(TarIgnore::from_options(given, bare))
    }

    fn from_options(given: Vec<String>, bare: bool) -> TarIgnore {
        let mut patterns = if given.is_empty() || bare {
            DEFAULT.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        patterns.extend(given);
        patterns.extend(ALWAYS.iter().map(|s| s.to_string()));
        TarIgnore { patterns }
    }

    /// Whether tar leaves out this path (relative to the tree's top, `/`-separated) when it
    /// meets it; what lies below an excluded directory is never met (callers walk that way).
    /// As in the tarball, members carry the top directory's name, so `*/x` matches a
    /// top-level `x`, and a pattern may match from the start of any component.
    pub fn excludes(&self, rel: &str) -> bool {
        let member = format!("top/{rel}");
        let starts = std::iter::once(0).chain(member.match_indices('/').map(|(i, _)| i + 1));
        let suffixes: Vec<&str> = starts.map(|i| &member[i..]).collect();
        self.patterns.iter().any(|p| suffixes.iter().any(|s| fnmatch(p.as_bytes(), s.as_bytes())))
    }
}

/// fnmatch(3) without flags: `*` and `?` match `/` too, `[...]` classes with `!`/`^` and
/// ranges, `\` escapes.
fn fnmatch(pat: &[u8], s: &[u8]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| fnmatch(&pat[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && fnmatch(&pat[1..], &s[1..]),
        Some(b'[') => match (s.first(), class(&pat[1..])) {
            (Some(&c), Some(cl)) => {
                cl.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != cl.negated
                    && fnmatch(&pat[1 + cl.len..], &s[1..])
            }
            // An unclosed `[` is a literal.
            (Some(&c), None) => c == b'[' && fnmatch(&pat[1..], &s[1..]),
            (None, _) => false,
        },
        Some(b'\\') if pat.len() > 1 => s.first() == Some(&pat[1]) && fnmatch(&pat[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && fnmatch(&pat[1..], &s[1..]),
    }
}

/// A bracket expression: its byte ranges, whether negated, and its length after the `[`
/// up to and including the `]`.
struct Class {
    ranges: Vec<(u8, u8)>,
    negated: bool,
    len: usize,
}

/// Parses a bracket expression after its `[`; `None` when it has no closing `]`.
fn class(p: &[u8]) -> Option<Class> {
    let mut i = 0;
    let negated = matches!(p.first(), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut set = Vec::new();
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some(Class { ranges: set, negated, len: i + 1 });
        }
        first = false;
        let lo = p[i];
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            set.push((lo, p[i + 2]));
            i += 3;
        } else {
            set.push((lo, lo));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list_applies_without_options() {
        let t = TarIgnore::from_options(Vec::new(), false);
        for rel in [".git", "sub/.git", "src/.gitignore", "a/b.o", "foo~", "src/.x.swp", "debian/files"] {
            assert!(t.excludes(rel), "{rel}");
        }
        for rel in ["target", "src/main.rs", "gitignore", "a/b.orig", "debian/control"] {
            assert!(!t.excludes(rel), "{rel}");
        }
    }

    #[test]
    fn given_patterns_replace_the_default_unless_bare() {
        let only = TarIgnore::from_options(vec!["target".into(), "debian/cargo-target".into()], false);
        assert!(only.excludes("target") && only.excludes("src/target"), "unanchored, as tar matches");
        assert!(only.excludes("debian/cargo-target"));
        assert!(!only.excludes(".git"), "explicit patterns drop dpkg's default list");
        assert!(only.excludes("debian/source/local-options"));
        let both = TarIgnore::from_options(vec!["target".into()], true);
        assert!(both.excludes(".git") && both.excludes("target"));
    }

    #[test]
    fn options_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("debian/source")).unwrap();
        std::fs::write(
            dir.path().join("debian/source/options"),
            "# build dirs\ntar-ignore\ntar-ignore = target\nextend-diff-ignore = \"x\"\n",
        )
        .unwrap();
        let t = TarIgnore::for_tree(dir.path()).unwrap();
        assert!(t.excludes("target") && t.excludes(".git"));
        assert!(!t.excludes("x"));
    }

    #[test]
    fn fnmatch_follows_glob_rules() {
        assert!(fnmatch(b".[#~]*", b".#lock"));
        assert!(!fnmatch(b".[#~]*", b".git"));
        assert!(fnmatch(b"*/*~", b"top/a/b~"));
        assert!(fnmatch(b"[!a-c]x", b"dx") && !fnmatch(b"[!a-c]x", b"bx"));
        assert!(fnmatch(b"a\\*", b"a*") && !fnmatch(b"a\\*", b"ab"));
        assert!(fnmatch(b"{arch}", b"{arch}"));
    }
}
