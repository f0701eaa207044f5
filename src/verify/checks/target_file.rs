//! Check 1, the target file: what the package wrote for tgt, parsed with tgt-admin's own
//! syntax. Reports `write-cache` as on, off or absent, and a misspelled keyword as what it
//! is (cinder once shipped `write_cache`, which tgt-admin ignores), never as absent. The
//! value is the one tgt-admin applies to the LUN under test: its `<backing-store PATH>`
//! block's own `write-cache` when it has one (tgt-admin's per-LUN override), else the
//! target's.

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
    /// The LUN under test's backing store and its line in the block.
    pub backing_store: String,
    pub backing_store_line: usize,
    /// Where the write-cache value comes from: `target` or `backing-store` (a per-LUN block).
    pub write_cache_scope: &'static str,
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
    backing_store: &str,
) -> Result<(String, TargetFileEvidence), String> {
    let stores: Vec<_> = target.backing_stores().iter().filter(|b| b.path == backing_store).collect();
    let store = match stores.as_slice() {
        [one] => *one,
        found => {
            let all: Vec<String> =
                target.backing_stores().iter().map(|b| format!("{} (line {})", b.path, b.line)).collect();
            return Err(format!(
                "the <target {}> block ({file}:{}) has {} backing-store {backing_store}; its backing stores: {}",
                target.iqn,
                target.line,
                if found.is_empty() { "no".to_string() } else { found.len().to_string() },
                if all.is_empty() { "none".to_string() } else { all.join(", ") }
            ));
        }
    };
    let block: Vec<&SourceLine> =
        all_lines.iter().filter(|l| l.line >= target.line && l.line <= target.end_line).collect();
    let misspelled: Vec<UnknownKeyword> = target
        .unknown_keywords()
        .iter()
        .filter(|u| u.suggestion.as_deref() == Some("write-cache"))
        .cloned()
        .collect();
    let (write_cache, write_cache_line, write_cache_scope) = match store.option("write-cache") {
        Some(d) if d.value == "off" => (WriteCache::Off, Some(d.line), "backing-store"),
        Some(d) => (WriteCache::On, Some(d.line), "backing-store"),
        None => (target.write_cache(), target.write_cache_directive().map(|d| d.line), "target"),
    };
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
        backing_store: store.path.clone(),
        backing_store_line: store.line,
        write_cache_scope,
        lines: block.iter().map(|l| format!("{}: {}", l.line, l.text.trim())).collect(),
        write_cache,
        write_cache_line,
        misspelled,
    };
    Ok((observed, evidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::tgt_config::TgtConfig;
    use std::path::Path;

    fn observed(text: &str) -> String {
        let cfg = TgtConfig::parse(text, Path::new("volume-1")).unwrap();
        match observe("volume-1", &cfg.targets()[0], cfg.lines(), vec!["volume-1".into()], "/srv/data/lun") {
            Ok((v, _)) => v,
            Err(e) => format!("error: {e}"),
        }
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

    /// The LUN under test is the one backed by the volume: a decoy LUN, or a target-level
    /// line a per-LUN block overrides, proves nothing.
    #[test]
    fn the_value_is_the_lun_under_tests() {
        let t = "<target iqn.x>\n<backing-store /decoy>\n</backing-store>\n<backing-store /srv/data/lun>\nwrite-cache on\n</backing-store>\nwrite-cache off\n</target>\n";
        assert_eq!(observed(t), "on");
        let t = "<target iqn.x>\nbacking-store /decoy\nwrite-cache off\n</target>\n";
        let e = observed(t);
        assert!(e.contains("has no backing-store /srv/data/lun") && e.contains("/decoy (line 2)"), "{e}");
        let t = "<target iqn.x>\nbacking-store /srv/data/lun\nbacking-store /srv/data/lun\n</target>\n";
        assert!(observed(t).contains("has 2 backing-store /srv/data/lun"));
    }
}
