//! `--exclude GLOB` matching on repository paths: `*` and `?` stay within one path
//! component, `**` crosses components, and a pattern that matches a leading directory
//! excludes everything below it (as a .gitignore directory pattern does).

/// Does `pattern` exclude `path` (relative, `/`-separated)?
pub fn excludes(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
    if matches(pattern.as_bytes(), path.as_bytes()) {
        return true;
    }
    // A leading directory of the path: `tests` or `tests/*` excludes `tests/a/b.py`.
    path.match_indices('/').any(|(i, _)| matches(pattern.as_bytes(), &path.as_bytes()[..i]))
}

fn matches(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            // `**/` also matches no directory at all.
            let rest = &p[2..];
            if let Some(after_slash) = rest.strip_prefix(b"/")
                && matches(after_slash, s)
            {
                return true;
            }
            (0..=s.len()).any(|i| matches(rest, &s[i..]))
        }
        Some(b'*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && s[i] == b'/' {
                    break;
                }
            }
            false
        }
        Some(b'?') => !s.is_empty() && s[0] != b'/' && matches(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && matches(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases = [
            ("tests", "tests/unit/test_a.py", true),
            ("tests/", "tests/unit/test_a.py", true),
            ("tests/*", "tests/unit/test_a.py", true),
            ("*.py", "a.py", true),
            ("*.py", "dir/a.py", false),
            ("**/*.py", "dir/sub/a.py", true),
            ("**/*.py", "a.py", true),
            ("cinder/tests/**", "cinder/tests/unit/x.py", true),
            ("cinder/tests", "cinder/testsuite/x.py", false),
            ("doc/?.txt", "doc/a.txt", true),
            ("doc/?.txt", "doc/ab.txt", false),
            ("./README", "README", true),
            ("README", "src/README", false),
        ];
        for (pat, path, want) in cases {
            assert_eq!(excludes(pat, path), want, "{pat} vs {path}");
        }
    }
}
