//! Shell words for the exported scripts: single-quoted literals, plan templates whose
//! run-time variables (`${side}`, `${data}`, `${volume_id}`...) stay shell expansions while a
//! phase's own `vars` are written in, and goss patterns as `sk_pat` calls. Pure.

use std::collections::BTreeMap;

use super::ere::{self, GrepPattern};
use crate::verify::families::matchers::Pattern;

/// `s` as one single-quoted shell word: every byte literal (POSIX 2.2.2).
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The variables srukit gives a run that exist only when the test runs: a shell variable
/// `sk_v_NAME` each.
pub const RUNTIME_VARS: &[&str] = &["side", "data", "volume_id", "iqn", "lun"];

/// A plan template as one shell word (`${name}` expanded exactly as `plan::expand` does,
/// `$${` a literal `${`): the phase's variables and `${phase}` written in, the run-time ones
/// as `"$sk_v_NAME"`.
pub fn word(template: &str, phase: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    if template.contains('\0') {
        return Err(format!("`{template}` holds a NUL byte, which no shell word can carry"));
    }
    let mut all: BTreeMap<String, String> =
        RUNTIME_VARS.iter().map(|v| (v.to_string(), format!("\0{v}\0"))).collect();
    all.insert("phase".into(), phase.to_string());
    all.extend(vars.clone());
    let expanded = crate::verify::plan::expand(template, &all)?;
    let mut out = String::new();
    for (i, part) in expanded.split('\0').enumerate() {
        if i % 2 == 1 {
            out.push_str(&format!("\"$sk_v_{part}\""));
        } else if !part.is_empty() || (i == 0 && !expanded.contains('\0')) {
            out.push_str(&q(part));
        }
    }
    Ok(out)
}

/// The `sk_pat FILE NEG KIND PATTERN [EMPTY]` call that decides `p` on `file` (a shell word).
pub fn pattern_call(file: &str, p: &Pattern) -> Result<String, String> {
    let neg = if p.negated { 1 } else { 0 };
    Ok(match ere::map(p.body())? {
        GrepPattern::Fixed(t) => format!("sk_pat {file} {neg} F {}", q(&t)),
        GrepPattern::Extended { ere, matches_empty_segment } => {
            let ere = String::from_utf8(ere).map_err(|_| "is not UTF-8 once mapped".to_string())?;
            format!("sk_pat {file} {neg} E {} {}", q(&ere), u8::from(matches_empty_segment))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_templates() {
        assert_eq!(q("it's"), r"'it'\''s'");
        let vars = BTreeMap::from([("level".to_string(), "3".to_string())]);
        assert_eq!(word("/etc/x", "p", &vars).unwrap(), "'/etc/x'");
        assert_eq!(word("", "p", &vars).unwrap(), "''");
        assert_eq!(word("l=${level} ${phase}", "tuned", &vars).unwrap(), "'l=3 tuned'");
        assert_eq!(word("${data}/x-${side}", "p", &vars).unwrap(), "\"$sk_v_data\"'/x-'\"$sk_v_side\"");
        assert_eq!(word("$${HOME}", "p", &vars).unwrap(), "'${HOME}'");
        assert!(word("${nope}", "p", &vars).unwrap_err().contains("unknown variable"));
    }
}
