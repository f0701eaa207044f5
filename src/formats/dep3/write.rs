//! Writing a DEP-3 header: fields in order, multi-line values as continuation lines, then
//! `---` and the diff.

use super::PatchHeader;

/// A DEP-3 header to write, its fields in order. Values may span lines: the first line
/// follows `Name: `, the rest become continuation lines (an empty line becomes ` .`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dep3Header {
    pub fields: Vec<(String, String)>,
}

impl Dep3Header {
    pub fn new() -> Dep3Header {
        Dep3Header::default()
    }

    /// Appends a field, or replaces the value of an existing one (so a header never carries
    /// two Last-Update lines).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((name.to_string(), value)),
        }
        self
    }

    /// The header's fields as read from a patch (a git Subject becomes Description, From
    /// becomes Author, Date is dropped: Last-Update carries the date DEP-3 wants).
    pub fn from_parsed(head: &PatchHeader) -> Dep3Header {
        let mut h = Dep3Header::new();
        for f in &head.fields {
            let name = match (head.git_format, f.name.to_ascii_lowercase().as_str()) {
                (true, "subject") => "Description",
                (true, "from") => "Author",
                (true, "date") => continue,
                _ => f.name.as_str(),
            };
            h.set(name, f.value.clone());
        }
        h
    }

    /// The header lines, ending with a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for (name, value) in &self.fields {
            let mut lines = value.split('\n');
            s.push_str(name);
            s.push(':');
            if let Some(first) = lines.next().filter(|l| !l.is_empty()) {
                s.push(' ');
                s.push_str(first.trim_end());
            }
            s.push('\n');
            for l in lines {
                s.push(' ');
                s.push_str(if l.trim().is_empty() { "." } else { l.trim_end() });
                s.push('\n');
            }
        }
        s.into_bytes()
    }

    /// A whole patch file: this header, a `---` line (DEP-3: stops header parsing, so the
    /// diff can never be read as fields), then the diff.
    pub fn patch_bytes(&self, diff: &[u8]) -> Vec<u8> {
        let mut out = self.to_bytes();
        out.extend_from_slice(b"---\n");
        out.extend_from_slice(diff);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::dep3::{check, parse};

    const DIFF: &str = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

    #[test]
    fn writer_round_trips_through_the_reader() {
        let mut h = Dep3Header::new();
        h.set(
            "Description",
            "Enable iscsi_write_cache option for tgtadm backends\nLong text.\n\nSecond paragraph.",
        )
        .set("Origin", "upstream, https://opendev.org/openstack/cinder/commit/617e59b")
        .set("Bug-Launchpad", "https://bugs.launchpad.net/cinder/+bug/1336568")
        .set("Last-Update", "2014-10-01")
        .set("Last-Update", "2014-10-02");
        let bytes = h.patch_bytes(DIFF.as_bytes());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.matches("Last-Update").count(), 1, "{text}");
        assert!(text.contains("Description: Enable iscsi_write_cache option for tgtadm backends\n Long text.\n .\n Second paragraph.\n"), "{text}");
        assert_eq!(check(&bytes), vec![]);
        assert_eq!(Dep3Header::from_parsed(&parse(&bytes)), h);
    }

    #[test]
    fn git_headers_become_dep3_fields() {
        let text = format!(
            "From 617e59bde660f919df0818611b911ae35f8b7247 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\n\
             Date: Thu, 2 Oct 2014 10:11:12 +0000\nSubject: [PATCH 1/2] Configure\n\n---\n{DIFF}"
        );
        let h = Dep3Header::from_parsed(&parse(text.as_bytes()));
        assert_eq!(
            h.fields,
            vec![("Author".into(), "A <a@b>".into()), ("Description".into(), "Configure".into())]
        );
    }
}
