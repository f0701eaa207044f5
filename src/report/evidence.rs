//! Text shared by the human-readable reports: a check's evidence as lines, and the verdict
//! sentence with its tag.

use serde_json::Value;

use crate::verify::result::{Verdict, VerifyResult};

/// Evidence as `key: value` lines, verbatim: strings unquoted, multi-line strings (file
/// contents) one line per line, indented, so a reader sees the file as it was.
pub fn lines(evidence: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match evidence {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if s.contains('\n') => {
                        out.push(format!("{k}:"));
                        out.extend(s.lines().map(|l| format!("  {l}")));
                    }
                    Value::Array(items) if items.iter().any(|i| i.is_string()) => {
                        out.push(format!("{k}:"));
                        out.extend(items.iter().map(|i| format!("  {}", scalar(i))));
                    }
                    // Evidence of several observation points (`checkpoints`): each point's
                    // evidence key by key, indented, not one line of JSON.
                    Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                        out.push(format!("{k}:"));
                        for item in items {
                            out.extend(
                                lines(item).into_iter().enumerate().map(|(i, l)| {
                                    if i == 0 { format!("  - {l}") } else { format!("    {l}") }
                                }),
                            );
                        }
                    }
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push(format!("{k}:"));
                        out.extend(lines(v).into_iter().map(|l| format!("  {l}")));
                    }
                    _ => out.push(format!("{k}: {}", scalar(v))),
                }
            }
        }
        Value::Null => {}
        other => out.push(scalar(other)),
    }
    out
}

/// A value on one line: strings as they are, everything else as compact JSON.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the verifier does next, in one paragraph: the tag to set, or why there is none.
pub fn verdict_line(result: &VerifyResult, series: Option<&str>) -> String {
    let series = result.series(series);
    match (result.verdict, result.verdict.tag(series)) {
        (Verdict::VerificationDone, Some(tag)) => {
            format!("Verification done: every expectation held. Tag: {tag}")
        }
        (Verdict::VerificationFailed, Some(tag)) => {
            format!("Verification FAILED: the new package does not behave as the plan expects. Tag: {tag}")
        }
        (Verdict::Inconclusive, _) => "INCONCLUSIVE: this run proves neither that the bug is fixed nor that \
             it is not. Do not set a verification-done tag."
            .to_string(),
        (Verdict::Error, _) | (_, None) => "ERROR: a check could not run, so nothing was verified. Do not \
             set a verification-done tag."
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_verbatim() {
        let ev = serde_json::json!({
            "file": "/var/lib/cinder/volumes/volume-1",
            "lines": ["<target iqn.2010-10.org.openstack:volume-1>", "    write-cache off", "</target>"],
            "mode_page_hex": "08 12 10 00",
            "dirty_kib": 204800,
        });
        let l = lines(&ev);
        assert!(l.contains(&"file: /var/lib/cinder/volumes/volume-1".to_string()), "{l:?}");
        assert!(l.contains(&"      write-cache off".to_string()), "{l:?}");
        assert!(l.contains(&"dirty_kib: 204800".to_string()), "{l:?}");
    }

    #[test]
    fn observation_points_are_indented_key_by_key() {
        let ev = serde_json::json!({ "checkpoints": [
            { "after_step": "export", "evidence": { "lines": ["a", "b"], "wce": true } },
            { "after_step": "restart", "evidence": { "wce": false } },
        ] });
        assert_eq!(
            lines(&ev),
            [
                "checkpoints:",
                "  - after_step: export",
                "    evidence:",
                "      lines:",
                "        a",
                "        b",
                "      wce: true",
                "  - after_step: restart",
                "    evidence:",
                "      wce: false",
            ]
        );
    }

    #[test]
    fn multi_line_strings_keep_their_lines() {
        let l = lines(&serde_json::json!({"content": "a\n  b\n"}));
        assert_eq!(l, ["content:", "  a", "    b"]);
    }
}
