//! Nothing secret leaves the testbed: after the runs and before anything is written, find the
//! credentials in everything the runs produced (tgt's `incominguser`/`outgoinguser` lines,
//! cinder's `provider_auth = CHAP user pass` and `auth_password`-style keys, the plan's own
//! `secrets`), and replace every occurrence, in the result and in the run logs, with
//! `<redacted>`, keeping each line's shape (`incominguser <redacted> <redacted>`). The result
//! keeps a truncated sha256 of each secret, so two runs can still be compared.
//!
//! Reads the result and the runs' unredacted log dir; writes the redacted logs to `OUT/logs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use regex::bytes::Regex;
use sha2::{Digest, Sha256};

use crate::verify::VerifyError;
use crate::verify::plan::{self, Plan};
use crate::verify::result::{Redacted, VerifyResult};

/// What replaces a secret.
pub const MARK: &str = "<redacted>";

/// A found secret shorter than this is redacted where it was found (its line) but not
/// everywhere else: a short CHAP user such as `cinder` would otherwise also erase
/// `/etc/cinder/cinder.conf` from the evidence. A plan's own secrets are redacted
/// everywhere whatever their length.
const MIN_GLOBAL: usize = 8;

/// One secret and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Secret {
    pub value: String,
    pub what: String,
    /// Found by srukit (replaced at token boundaries, if long enough) or named by the plan
    /// (replaced everywhere).
    pub from_plan: bool,
}

/// A credential form: the pattern, and its capture groups that are secrets with their names
/// (`user`/`password` are prefixed by the keyword of group 1; an empty name is group 1 itself).
type Pattern = (Regex, &'static [(usize, &'static str)]);

/// The credential forms srukit knows. tgt: targets.conf(5); cinder: the `provider_auth`
/// model field and the iSCSI connection properties; open-iscsi: `node.session.auth.*`.
fn patterns() -> &'static [Pattern] {
    static P: OnceLock<Vec<Pattern>> = OnceLock::new();
    P.get_or_init(|| {
        let re = |s: &str| Regex::new(s).expect("a valid pattern");
        vec![
            (re(r"\b(incominguser|outgoinguser)[ \t]+([^\s<]\S*)[ \t]+([^\s<]\S*)"), &[(2, "user"), (3, "password")]),
            (
                re(r#"provider_auth['"]?\s*[:=]\s*['"]?CHAP[ \t]+([^\s<'"]+)[ \t]+([^\s<'",}]+)"#),
                &[(1, "provider_auth user"), (2, "provider_auth password")],
            ),
            (
                re(
                    r#"(?i)\b((?:discovery_)?auth_(?:username|password)|chap_(?:username|password)|node\.session\.auth\.(?:username|password)(?:_in)?)['"]?[ \t]*[:=][ \t]*['"]?([^\s<'",;}\]]+)"#,
                ),
                &[(2, "")],
            ),
        ]
    })
}

/// Values a key=value pattern captures that are no secret (a Python or JSON null, a flag).
const NOT_SECRETS: &[&str] = &["None", "none", "null", "true", "false", "True", "False"];

/// The secrets in a text, with what each one is.
pub fn find(text: &[u8]) -> Vec<Secret> {
    let mut out = Vec::new();
    for (re, groups) in patterns() {
        for caps in re.captures_iter(text) {
            for &(group, label) in *groups {
                let Some(m) = caps.get(group) else { continue };
                let value = String::from_utf8_lossy(m.as_bytes()).into_owned();
                if NOT_SECRETS.contains(&value.as_str()) || value == MARK {
                    continue;
                }
                let what = if label.is_empty() {
                    caps.get(1)
                        .map(|k| String::from_utf8_lossy(k.as_bytes()).to_lowercase())
                        .unwrap_or_default()
                } else if label == "user" || label == "password" {
                    let kw = caps.get(1).map(|k| String::from_utf8_lossy(k.as_bytes()).into_owned());
                    format!("{} {label}", kw.unwrap_or_default())
                } else {
                    label.to_string()
                };
                out.push(Secret { value, what, from_plan: false });
            }
        }
    }
    out
}

/// `text` with every credential line's secrets and every occurrence of `secrets` replaced.
pub fn scrub(text: &[u8], secrets: &[Secret]) -> Vec<u8> {
    let mut out = text.to_vec();
    for (re, groups) in patterns() {
        let mut next = Vec::with_capacity(out.len());
        let mut last = 0;
        for caps in re.captures_iter(&out) {
            let mut spans: Vec<(usize, usize)> = groups
                .iter()
                .filter_map(|&(g, _)| caps.get(g))
                .filter(|m| !NOT_SECRETS.contains(&String::from_utf8_lossy(m.as_bytes()).as_ref()))
                .map(|m| (m.start(), m.end()))
                .collect();
            spans.sort();
            for (s, e) in spans {
                if s < last {
                    continue;
                }
                next.extend_from_slice(&out[last..s]);
                next.extend_from_slice(MARK.as_bytes());
                last = e;
            }
        }
        next.extend_from_slice(&out[last..]);
        out = next;
    }
    // Longest first, so a secret that contains another is not left half-replaced.
    let mut ordered: Vec<&Secret> = secrets
        .iter()
        .filter(|s| !s.value.is_empty() && (s.from_plan || s.value.len() >= MIN_GLOBAL))
        .collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    for s in ordered {
        out = replace_all(&out, s.value.as_bytes(), !s.from_plan);
    }
    out
}

/// Replaces every occurrence of `needle`; at token boundaries only (no letter or digit on
/// either side) when `tokens`, so a found secret never cuts a longer word in two.
fn replace_all(hay: &[u8], needle: &[u8], tokens: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            let before_ok = !tokens || i == 0 || !hay[i - 1].is_ascii_alphanumeric();
            let end = i + needle.len();
            let after_ok = !tokens || end == hay.len() || !hay[end].is_ascii_alphanumeric();
            if before_ok && after_ok {
                out.extend_from_slice(MARK.as_bytes());
                i = end;
                continue;
            }
        }
        out.push(hay[i]);
        i += 1;
    }
    out
}

/// The first 16 hex digits of a secret's sha256.
pub fn hash(value: &str) -> String {
    let d = Sha256::digest(value.as_bytes());
    crate::digest::hex(&d[..8])
}

/// Redacts the result in place and writes the runs' logs from `raw_logs/<side>-<phase>/`
/// to `logs_out/` redacted. `redactions` lists, per run, the secrets found in its own
/// evidence and logs (and the plan's secrets for its phase); every secret is replaced
/// everywhere.
pub fn redact(
    result: &mut VerifyResult,
    plan: &Plan,
    raw_logs: &Path,
    logs_out: &Path,
) -> Result<(), VerifyError> {
    let mut logs: BTreeMap<String, Vec<(std::path::PathBuf, Vec<u8>)>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(raw_logs).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| VerifyError::Usage(format!("{}: {e}", raw_logs.display())))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(raw_logs).unwrap_or(entry.path()).to_path_buf();
        let run =
            rel.components().next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
        logs.entry(run).or_default().push((rel, crate::fsx::read(entry.path())?));
    }

    let mut all: BTreeSet<Secret> = BTreeSet::new();
    let mut per_run: Vec<BTreeSet<Secret>> = Vec::new();
    for run in &result.runs {
        let mut found = BTreeSet::new();
        let json = serde_json::to_vec(run).expect("a run serializes");
        found.extend(find(&json_strings(&json)));
        for (_, bytes) in logs.get(&format!("{}-{}", run.side, run.phase)).into_iter().flatten() {
            found.extend(find(bytes));
        }
        found.extend(plan_secrets(plan, &run.phase));
        all.extend(found.iter().cloned());
        per_run.push(found);
    }
    // What no run owns (the verdict's reason) is searched too.
    all.extend(find(result.reason.as_bytes()));
    let secrets: Vec<Secret> = all.into_iter().collect();

    let mut value = serde_json::to_value(&*result).expect("a result serializes");
    scrub_strings(&mut value, &secrets);
    *result = serde_json::from_value(value).expect("a scrubbed result still has its shape");
    let mut redactions = BTreeSet::new();
    for (run, found) in result.runs.iter().zip(per_run) {
        redactions.extend(found.iter().map(|s| Redacted {
            side: run.side,
            phase: run.phase.clone(),
            what: s.what.clone(),
            sha256_prefix: hash(&s.value),
        }));
    }
    // In the runs' order, as the reports list them.
    let order = |r: &Redacted| result.runs.iter().position(|x| x.side == r.side && x.phase == r.phase);
    let mut redactions: Vec<Redacted> = redactions.into_iter().collect();
    redactions.sort_by_key(|r| (order(r), r.what.clone(), r.sha256_prefix.clone()));
    result.redactions = redactions;

    crate::fsx::remove_dir_all(logs_out)?;
    for (rel, bytes) in logs.values().flatten() {
        let to = logs_out.join(rel);
        if let Some(dir) = to.parent() {
            crate::fsx::create_dir_all(dir)?;
        }
        crate::fsx::write(&to, scrub(bytes, &secrets))?;
    }
    Ok(())
}

/// The plan's `secrets` for a phase, expanded with its variables.
fn plan_secrets(plan: &Plan, phase: &str) -> Vec<Secret> {
    let vars = plan.raw.phases.iter().find(|p| p.name == phase).map(|p| p.vars.clone()).unwrap_or_default();
    plan.raw
        .secrets
        .iter()
        .filter_map(|t| plan::expand(t, &vars).ok())
        .filter(|v| !v.is_empty())
        .map(|value| Secret { value, what: "plan secret".to_string(), from_plan: true })
        .collect()
}

/// Every string of a JSON document, one per line, unescaped (a secret in a multi-line string
/// is found as the reports will print it).
fn json_strings(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) {
        collect_strings(&v, &mut out);
    }
    out
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::String(s) => {
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

fn scrub_strings(v: &mut serde_json::Value, secrets: &[Secret]) {
    match v {
        serde_json::Value::String(s) => {
            *s = String::from_utf8_lossy(&scrub(s.as_bytes(), secrets)).into_owned();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| scrub_strings(i, secrets)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| scrub_strings(i, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chap_lines_keep_their_shape() {
        let text = b"<target iqn.x>\n    incominguser E5guPqGaQTKqS6N3z1Wj tcuRQUBoSpbd09ox4CHQ\n\toutgoinguser mu tual-Secret-1\n</target>\n";
        let found = find(text);
        let whats: Vec<&str> = found.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(
            whats,
            ["incominguser user", "incominguser password", "outgoinguser user", "outgoinguser password"]
        );
        let out = String::from_utf8(scrub(text, &found)).unwrap();
        assert!(out.contains("    incominguser <redacted> <redacted>\n"), "{out}");
        assert!(out.contains("\toutgoinguser <redacted> <redacted>\n"), "{out}");
        assert!(!out.contains("tcuRQUBoSpbd09ox4CHQ") && !out.contains("tual-Secret-1"), "{out}");
    }

    #[test]
    fn every_occurrence_goes_but_words_stay() {
        let secrets = find(b"5: incominguser cinder tcuRQUBoSpbd09ox4CHQ");
        let log = br#"{"provider_auth": "CHAP cinder tcuRQUBoSpbd09ox4CHQ", "conf": "/etc/cinder/cinder.conf"} pw=tcuRQUBoSpbd09ox4CHQ"#;
        let out = String::from_utf8(scrub(log, &secrets)).unwrap();
        assert_eq!(
            out,
            r#"{"provider_auth": "CHAP <redacted> <redacted>", "conf": "/etc/cinder/cinder.conf"} pw=<redacted>"#
        );
    }

    #[test]
    fn key_value_credentials_and_nulls() {
        let text =
            b"auth_password = s3cr3t-pw\n'chap_password': None\nnode.session.auth.password_in=abcDEF123\n";
        let found = find(text);
        let values: Vec<&str> = found.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values, ["s3cr3t-pw", "abcDEF123"]);
        let out = String::from_utf8(scrub(text, &found)).unwrap();
        assert_eq!(
            out,
            "auth_password = <redacted>\n'chap_password': None\nnode.session.auth.password_in=<redacted>\n"
        );
    }

    #[test]
    fn plan_secrets_go_everywhere_and_scrubbing_is_idempotent() {
        let s = [Secret { value: "pw".into(), what: "plan secret".into(), from_plan: true }];
        let once = scrub(b"xpwx incominguser <redacted> <redacted>", &s);
        assert_eq!(String::from_utf8_lossy(&once), "x<redacted>x incominguser <redacted> <redacted>");
        assert_eq!(scrub(&once, &s), once);
        assert!(find(&once).is_empty());
    }

    #[test]
    fn a_plans_secrets_expand_with_each_phases_vars() {
        let text = r#"
name = "t"
testbed = "bookworm-tgt"
secrets = ["${chap_password}", "fixed-secret"]
[daemon]
argv = ["tgtd"]
ready_port = 3260
[[phase]]
name = "a"
vars = { chap_password = "pw-of-a" }
[[phase]]
name = "b"
vars = { chap_password = "pw-of-b" }
[[step]]
name = "s"
run = ["tgtadm", "--password", "${chap_password}"]
[target]
file = "/x"
[checks]
wce = {}
[expect.before.a]
wce = "on"
[expect.after.a]
wce = "on"
[expect.before.b]
wce = "on"
[expect.after.b]
wce = "on"
"#;
        let plan = Plan::parse(text, Path::new("p.toml")).unwrap();
        let b: Vec<String> = plan_secrets(&plan, "b").into_iter().map(|s| s.value).collect();
        assert_eq!(b, ["pw-of-b", "fixed-secret"]);
        let out = scrub(b"--password pw-of-b fixed-secret", &plan_secrets(&plan, "b"));
        assert_eq!(String::from_utf8_lossy(&out), "--password <redacted> <redacted>");
        // An engine variable is not known before the run: refused as a secret.
        let err =
            Plan::parse(&text.replace("\"fixed-secret\"", "\"${iqn}\""), Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("secrets: unknown variable `${iqn}`"), "{err}");
    }

    #[test]
    fn hashes_compare_runs_without_the_secret() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea");
        assert_eq!(hash("abc").len(), 16);
    }
}
