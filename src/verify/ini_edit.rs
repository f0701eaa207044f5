//! Sets one `key = value` in an INI file (oslo.config style, as cinder.conf is) the way a
//! verifier edits it by hand: every other byte stays, an existing key is changed in place,
//! a missing key goes at the end of its section, a missing section at the end of the file.

/// Returns the edited text.
pub fn set(text: &str, section: &str, key: &str, value: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let new_line = format!("{key} = {value}\n");
    let mut current: Option<String> = None;
    // Index just past the last non-blank line of the wanted section.
    let mut section_end: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            if current.as_deref() == Some(section) {
                section_end = Some(i + 1);
            }
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        if !trimmed.is_empty() {
            section_end = Some(i + 1);
        }
        // oslo.config reads `key=value` and `key = value`; comments start with # or ;.
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some((k, _)) = trimmed.split_once('=')
            && k.trim() == key
        {
            let mut out: String = lines[..i].concat();
            out.push_str(&new_line);
            out.push_str(&lines[i + 1..].concat());
            return out;
        }
    }
    match section_end {
        Some(end) => {
            let mut out: String = lines[..end].concat();
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&new_line);
            out.push_str(&lines[end..].concat());
            out
        }
        None => {
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{section}]\n{new_line}"));
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::set;

    #[test]
    fn table() {
        let cases: &[(&str, &str)] = &[
            // replaced in place, everything else kept
            (
                "[DEFAULT]\n# comment\nverbose = true\niscsi_write_cache = on\n\n[database]\nx = 1\n",
                "[DEFAULT]\n# comment\nverbose = true\niscsi_write_cache = off\n\n[database]\nx = 1\n",
            ),
            // a commented-out key is not the key
            (
                "[DEFAULT]\n#iscsi_write_cache = on\n",
                "[DEFAULT]\n#iscsi_write_cache = on\niscsi_write_cache = off\n",
            ),
            // added at the end of its section, before the blank line and the next section
            (
                "[DEFAULT]\nverbose = true\n\n[database]\nx = 1\n",
                "[DEFAULT]\nverbose = true\niscsi_write_cache = off\n\n[database]\nx = 1\n",
            ),
            // the key in another section is left alone
            (
                "[other]\niscsi_write_cache = on\n",
                "[other]\niscsi_write_cache = on\n\n[DEFAULT]\niscsi_write_cache = off\n",
            ),
            // no file yet
            ("", "[DEFAULT]\niscsi_write_cache = off\n"),
            // no final newline
            ("[DEFAULT]\nverbose=true", "[DEFAULT]\nverbose=true\niscsi_write_cache = off\n"),
            // key=value without spaces
            ("[DEFAULT]\niscsi_write_cache=on\n", "[DEFAULT]\niscsi_write_cache = off\n"),
        ];
        for (input, want) in cases {
            assert_eq!(set(input, "DEFAULT", "iscsi_write_cache", "off"), *want, "input: {input:?}");
        }
    }
}
