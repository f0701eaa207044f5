//! Text shared by the human-readable reports: a check's evidence as lines, the versions
//! under test, paths as a public report shows them, and the verdict sentence with its tag.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::verify::result::{CheckResult, Side, Verdict, VerifyResult};

/// The versions under test in one line, the SRU team's first question:
/// `cinder-volume 1:2014.1.5-0ubuntu1 -> 1:2014.1.5-0ubuntu2`; with one side only, that
/// side's packages (`tgt 1:1.0.85-1 (after only)`).
pub fn versions_line(r: &VerifyResult) -> String {
    if !r.versions.is_empty() {
        return r.versions.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; ");
    }
    let (before, after) = (r.side(Side::Before), r.side(Side::After));
    // A version 1 result has no `versions`: pair the sides' packages by name.
    if let (Some(b), Some(a)) = (before, after) {
        let pairs: Vec<String> = a
            .packages
            .iter()
            .map(|p| {
                let old =
                    b.packages.iter().find(|o| o.name == p.name).map(|o| o.version.as_str()).unwrap_or("?");
                format!("{} {old} -> {}", p.name, p.version)
            })
            .collect();
        return pairs.join("; ");
    }
    let (side, set) = match (before, after) {
        (Some(b), None) => (Side::Before, b),
        (None, Some(a)) => (Side::After, a),
        _ => return "no packages".to_string(),
    };
    let version = |name: &str, v: &str| {
        if v.is_empty() {
            set.installed.iter().find(|i| i.name == name).map(|i| i.version.clone()).unwrap_or_default()
        } else {
            v.to_string()
        }
    };
    let one: Vec<String> = set
        .packages
        .iter()
        .map(|p| format!("{} {} ({side} only)", p.name, version(&p.name, &p.version)))
        .collect();
    one.join("; ")
}

/// A host path as a public report shows it: relative to the run's output dir (where
/// result.json is), never the machine's absolute path; a path that shares nothing with the
/// output dir but `/` (a relative form would spell out the absolute one) is its file name.
/// A result without `out_dir` (schema version 1) keeps the path as it was recorded.
pub fn public_path(r: &VerifyResult, path: &str) -> String {
    let (p, base) = (Path::new(path), Path::new(&r.out_dir));
    if r.out_dir.is_empty() || path.is_empty() || !p.is_absolute() {
        return path.to_string();
    }
    let shared = p.components().zip(base.components()).take_while(|(x, y)| x == y).count();
    if shared <= 1 {
        return p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    }
    relative(p, base).display().to_string()
}

/// `path` relative to `base`, both absolute, lexically (`..` where they part).
fn relative(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() { PathBuf::from(".") } else { out }
}

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

/// A check's evidence for a comment a person reads: the iscsi family's whole (its file lines
/// and mode pages are short and are the point), a generic check's with every multi-line
/// string (stdout, stderr, file contents, new log lines) cut to its first `MAX` lines; the
/// whole is in result.json.
pub fn check_lines(c: &CheckResult) -> Vec<String> {
    const MAX: usize = 12;
    if c.family() == "iscsi" {
        return lines(&c.evidence);
    }
    let mut out = Vec::new();
    let mut cut = 0usize;
    let mut indent_of_string: Option<usize> = None;
    for l in lines(&c.evidence) {
        let indent = l.len() - l.trim_start().len();
        match indent_of_string {
            // The lines of one multi-line string are indented two more than its key.
            Some(key) if indent > key => {
                cut += 1;
                if cut <= MAX {
                    out.push(l);
                } else if cut == MAX + 1 {
                    out.push(format!("{}[... more lines in result.json]", " ".repeat(key + 2)));
                }
                continue;
            }
            _ => {}
        }
        indent_of_string = l.ends_with(':').then_some(indent);
        cut = 0;
        out.push(l);
    }
    out
}

/// A generic check's result in words: the outcome matched and the one expected.
pub fn outcome_words(c: &CheckResult) -> String {
    if c.family() == "iscsi" || c.matched_outcome.is_empty() {
        return c.observed.clone();
    }
    format!("`{}`: {}", c.matched_outcome, c.observed)
}

/// A value on one line: strings as they are, everything else as compact JSON.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What the verifier does next, in one paragraph: the tag to set, or why there is none. A
/// verdict on packages that did not come from the archive's proposed or security pocket is a
/// pre-upload check: it says so, and names the tag a run on the proposed packages would set.
pub fn verdict_line(result: &VerifyResult, series: Option<&str>) -> String {
    let provenance = result.provenance();
    let (tag, would) = (result.tag(series), result.would_tag(series));
    let said = match result.verdict {
        Verdict::VerificationDone => "Verification done: every expectation held.",
        Verdict::VerificationFailed => {
            "Verification FAILED: the new package does not behave as the plan expects."
        }
        Verdict::Inconclusive => {
            return "INCONCLUSIVE: this run proves neither that the bug is fixed nor that it is not. Do not \
                    set a verification-done tag."
                .to_string();
        }
        Verdict::Error => {
            return "ERROR: a check could not run, so nothing was verified. Do not set a verification-done \
                    tag."
                .to_string();
        }
    };
    match (tag, would) {
        (Some(tag), _) => format!("{said} Tag: {tag}"),
        (None, Some(would)) => format!(
            "Pre-upload check ({}: not the archive's proposed or security pocket, so no tag): {said} \
             The same run on the packages from the proposed pocket would set {would}.",
            provenance.as_str()
        ),
        (None, None) => format!("{said} No tag: the verdict names none."),
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
    fn paths_are_relative_to_the_output_dir() {
        let p = |a: &str, b: &str| relative(Path::new(a), Path::new(b)).display().to_string();
        assert_eq!(p("/w/out/x/build-after/a.deb", "/w/out/x/verify"), "../build-after/a.deb");
        assert_eq!(p("/w/out/x/verify/logs", "/w/out/x/verify"), "logs");
        assert_eq!(p("/w/out/x/verify", "/w/out/x/verify"), ".");
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
    fn generic_evidence_is_cut_for_people() {
        let stdout: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let c = CheckResult::new(
            "crash",
            "command",
            "crash",
            "exit status 139",
            crate::verify::result::Outcome::Pass,
            serde_json::json!({ "argv": ["x"], "stdout": stdout, "status": 139 }),
            0.1,
        )
        .with_family("command", None);
        let l = check_lines(&c);
        assert!(l.contains(&"  line 12".to_string()) && !l.contains(&"  line 13".to_string()), "{l:?}");
        assert!(l.contains(&"  [... more lines in result.json]".to_string()), "{l:?}");
        assert!(l.contains(&"status: 139".to_string()), "{l:?}");
        assert_eq!(outcome_words(&c.clone().with_outcomes("crash", "crash")), "`crash`: exit status 139");
    }

    #[test]
    fn multi_line_strings_keep_their_lines() {
        let l = lines(&serde_json::json!({"content": "a\n  b\n"}));
        assert_eq!(l, ["content:", "  a", "    b"]);
    }
}
