//! Check 1, the target file: what the package wrote for tgt, parsed with tgt-admin's own
//! syntax. Reports `write-cache` as on, off or absent, and a misspelled keyword as what it
//! is (cinder once shipped `write_cache`, which tgt-admin ignores), never as absent.

use serde::Serialize;

use crate::formats::tgt_config::{SourceLine, Target, UnknownKeyword, WriteCache};

#[derive(Debug, Clone, Serialize)]
pub struct TargetFileEvidence {
    /// The file holding the one `<target IQN>` block of tgt's configuration.
    pub file: String,
    pub iqn: String,
    /// The block's first line in that file.
    pub line: usize,
    /// Every file read to find it: tgt-admin's configuration and what it includes, then the
    /// plan's target file.
    pub files_read: Vec<String>,
    /// The `<target>` block as written, each line as `N: text` (indentation trimmed).
    pub lines: Vec<String>,
    pub write_cache: WriteCache,
    pub write_cache_line: Option<usize>,
    pub misspelled: Vec<UnknownKeyword>,
}

/// What the check observed, in the plan's words: `on`, `off`, `absent`, or the misspelling.
pub fn observe(
    file: &str,
    target: &Target,
    all_lines: &[SourceLine],
    files_read: Vec<String>,
) -> (String, TargetFileEvidence) {
    let block: Vec<&SourceLine> =
        all_lines.iter().filter(|l| l.line >= target.line && l.line <= target.end_line).collect();
    let misspelled: Vec<UnknownKeyword> = target
        .unknown_keywords()
        .iter()
        .filter(|u| u.suggestion.as_deref() == Some("write-cache"))
        .cloned()
        .collect();
    let write_cache = target.write_cache();
    let observed = match (&write_cache, misspelled.first()) {
        (WriteCache::Absent, Some(m)) => {
            let text = block
                .iter()
                .find(|l| l.line == m.line)
                .map(|l| l.text.trim().to_string())
                .unwrap_or_default();
            format!("misspelled: `{text}` (line {}; tgt-admin ignores `{}`)", m.line, m.keyword)
        }
        (WriteCache::On, _) => "on".to_string(),
        (WriteCache::Off, _) => "off".to_string(),
        (WriteCache::Absent, None) => "absent".to_string(),
    };
    let evidence = TargetFileEvidence {
        file: file.to_string(),
        iqn: target.iqn.clone(),
        line: target.line,
        files_read,
        lines: block.iter().map(|l| format!("{}: {}", l.line, l.text.trim())).collect(),
        write_cache,
        write_cache_line: target.write_cache_directive().map(|d| d.line),
        misspelled,
    };
    (observed, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::tgt_config::TgtConfig;
    use std::path::Path;

    fn observed(text: &str) -> String {
        let cfg = TgtConfig::parse(text, Path::new("volume-1")).unwrap();
        observe("volume-1", &cfg.targets()[0], cfg.lines(), vec!["volume-1".into()]).0
    }

    #[test]
    fn table() {
        let head = "<target iqn.2010-10.org.openstack:volume-1>\n    backing-store /srv/data/lun\n    driver iscsi\n    incominguser u p\n";
        assert_eq!(observed(&format!("{head}</target>\n")), "absent");
        assert_eq!(observed(&format!("{head}    write-cache on\n</target>\n")), "on");
        assert_eq!(observed(&format!("{head}    write-cache off\n</target>\n")), "off");
        let slip = observed(&format!("{head}    write_cache off\n</target>\n"));
        assert!(slip.starts_with("misspelled: `write_cache off` (line 5"), "{slip}");
    }
}
