//! The file family: whether a path exists in the testbed, its mode, owner, sha256 and
//! contents. Matchers other than `exists` need the file: on a missing one they do not hold.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::matchers::{EXCERPT, excerpt, note, patterns_hold};
use super::{Ctx, Family, Observation, exec, script, select};
use crate::verify::plan::{Check, FileSpec, expand};

pub struct File<'a> {
    pub check: &'a Check,
    pub spec: &'a FileSpec,
}

/// A file larger than this is hashed and matched, but its contents are not read whole.
const READ_LIMIT: u64 = 16 << 20;

impl Family for File<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let path = expand(&self.spec.path, ctx.vars)?;
        // Exit 3: missing. `stat -L`: a symlink is observed as what it points to, as a
        // program reading the path would see it.
        let st =
            exec(ctx.tb, &script(r#"[ -e "$1" ] || exit 3; stat -L -c '%a %U:%G %s %F' -- "$1""#, &[&path]))?;
        let (outcome, why, observed, evidence) = match st.status {
            3 => {
                let (outcome, why) = select(self.check, |m, why| {
                    let mut ok = true;
                    if let Some(e) = m.exists {
                        ok &= note(why, !e, if e { "exists".into() } else { "not exists".into() });
                    }
                    for (what, set) in [
                        ("mode", m.mode.is_some()),
                        ("owner", m.owner.is_some()),
                        ("sha256", m.sha256.is_some()),
                        ("contents", !m.contents.is_empty()),
                    ] {
                        if set {
                            ok &= note(why, false, format!("{what} (no file)"));
                        }
                    }
                    ok
                })?;
                let ev = json!({ "path": path, "exists": false, "object": { "path": path }, "under_test": { "path": path } });
                (outcome, why, format!("{path} does not exist"), ev)
            }
            0 => {
                let line = st.stdout_str();
                let mut f = line.trim().splitn(4, ' ');
                let (mode_s, owner, size, kind) = (
                    f.next().unwrap_or(""),
                    f.next().unwrap_or(""),
                    f.next().unwrap_or("0"),
                    f.next().unwrap_or(""),
                );
                let mode =
                    u32::from_str_radix(mode_s, 8).map_err(|_| format!("stat {path}: mode `{mode_s}`"))?;
                let size: u64 = size.parse().unwrap_or(0);
                let regular = kind.starts_with("regular");
                let bytes = if regular && size <= READ_LIMIT {
                    let out = exec(ctx.tb, &script(r#"cat -- "$1""#, &[&path]))?;
                    if !out.success() {
                        return Err(format!("cat {path}: {}", out.stderr_str().trim()));
                    }
                    Some(out.stdout)
                } else {
                    None
                };
                let sha = match &bytes {
                    Some(b) => Some(crate::digest::hex(&Sha256::digest(b))),
                    None if regular => {
                        let out = exec(ctx.tb, &script(r#"sha256sum -- "$1""#, &[&path]))?;
                        out.stdout_str().split_whitespace().next().map(str::to_string)
                    }
                    None => None,
                };
                let text = bytes.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                let (outcome, why) = select(self.check, |m, why| {
                    let mut ok = true;
                    if let Some(e) = m.exists {
                        ok &= note(why, e, if e { "exists".into() } else { "not exists".into() });
                    }
                    if let Some(want) = m.mode {
                        ok &= note(why, want == mode, format!("mode {want:04o}"));
                    }
                    if let Some(want) = &m.owner {
                        let seen =
                            if want.contains(':') { owner } else { owner.split(':').next().unwrap_or("") };
                        ok &= note(why, want == seen, format!("owner {want}"));
                    }
                    if let Some(want) = &m.sha256 {
                        ok &= note(why, sha.as_deref() == Some(want.as_str()), format!("sha256 {want}"));
                    }
                    if !m.contents.is_empty() {
                        ok &= match &bytes {
                            Some(_) => patterns_hold("contents", &m.contents, &text, why),
                            None => {
                                note(why, false, "contents (not a regular file, or too large to read)".into())
                            }
                        };
                    }
                    ok
                })?;
                let mut ev = json!({
                    "path": path,
                    "exists": true,
                    "type": kind,
                    "mode": format!("{mode:04o}"),
                    "owner": owner,
                    "size": size,
                    "object": { "path": path, "sha256": sha },
                    "under_test": { "path": path },
                });
                if let Some(h) = &sha {
                    ev["sha256"] = json!(h);
                }
                if let Some(b) = &bytes {
                    ev["contents"] = json!(excerpt(b, EXCERPT));
                }
                let observed = format!(
                    "{path}: {kind}, mode {mode:04o}, {owner}, {size} bytes{}",
                    sha.as_deref().map(|h| format!(", sha256 {}", &h[..h.len().min(16)])).unwrap_or_default()
                );
                (outcome, why, observed, ev)
            }
            s => return Err(format!("stat {path} exited with status {s}: {}", st.stderr_str().trim())),
        };
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}
