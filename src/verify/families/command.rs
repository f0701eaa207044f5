//! The command family: run an argv or a `sh` script in the testbed (as `user`, within
//! `timeout`, fed `stdin`) and match its exit status, signal and output. Its object is the
//! executable: the resolved path and the package (and version) dpkg says owns it, so a
//! command that runs another version of a package under test than the side's is refused.

use std::time::Duration;

use serde_json::json;

use super::matchers::{EXCERPT, excerpt, note, patterns_hold, signal_name};
use super::{Ctx, Family, Observation, exec, script, select};
use crate::testbed::ExecRequest;
use crate::verify::plan::{Check, CommandSpec, duration, expand};

/// A check command's default time limit: a hang is not an outcome, it is an error.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Command<'a> {
    pub check: &'a Check,
    pub spec: &'a CommandSpec,
}

/// `command -v`, the real path, and the package that owns either (dpkg registers the path
/// the .deb ships, which with a merged /usr may be the /bin one or the /usr/bin one).
const RESOLVE: &str = r#"p=$(command -v -- "$1") || exit 3
case "$p" in /*) ;; *) printf '%s\n%s\n\n\n' "$p" "$p"; exit 0;; esac
r=$(readlink -f -- "$p")
o=""
for c in "$p" "$r" "${p#/usr}" "${r#/usr}" "/usr$p" "/usr$r"; do
  o=$(dpkg-query -S -- "$c" 2>/dev/null | grep -v '^diversion' | head -n1) && [ -n "$o" ] && break
done
pkg=${o%%: *}; pkg=${pkg%%,*}; pkg=${pkg%%:*}
v=""; [ -n "$pkg" ] && v=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)
printf '%s\n%s\n%s\n%s\n' "$p" "$r" "$pkg" "$v""#;

impl Family for Command<'_> {
    fn observe(&self, ctx: &mut Ctx<'_>) -> Result<Observation, String> {
        let spec = self.spec;
        let (argv, program) = match (&spec.run, &spec.sh) {
            (Some(run), _) => {
                let argv = run.iter().map(|a| expand(a, ctx.vars)).collect::<Result<Vec<_>, _>>()?;
                let program = argv[0].clone();
                (argv, program)
            }
            (None, Some(sh)) => {
                (vec!["sh".into(), "-e".into(), "-c".into(), expand(sh, ctx.vars)?], "sh".into())
            }
            (None, None) => return Err("the command has neither `run` nor `sh`".into()),
        };
        let user = spec.user.as_ref().map(|u| expand(u, ctx.vars)).transpose()?;
        let stdin = spec.stdin.as_ref().map(|s| expand(s, ctx.vars)).transpose()?;
        let timeout = spec.timeout.as_deref().map(duration).transpose()?.unwrap_or(DEFAULT_TIMEOUT);

        // The object first: which executable, from which package.
        let found = exec(ctx.tb, &script(RESOLVE, &[&program]))?;
        if found.status == 3 {
            return Err(format!("`{program}` is not found in the testbed (command -v)"));
        }
        let lines: Vec<String> = found.stdout_str().lines().map(str::to_string).collect();
        let get = |i: usize| lines.get(i).cloned().unwrap_or_default();
        let (path, real, package, version) = (get(0), get(1), get(2), get(3));
        let mut object = json!({ "executable": path, "resolved": real });
        let mut under_test = json!({ "executable": path });
        if !package.is_empty() {
            object["package"] = json!(package);
            object["version"] = json!(version);
            // The side's version of that package, when it is under test: the command must
            // run exactly that one.
            if let Some(p) = ctx.under_test.iter().find(|p| p.name == package) {
                under_test["package"] = json!(p.name);
                under_test["version"] = json!(p.version);
            }
        }

        let mut full = argv.clone();
        if let Some(u) = &user {
            full = [vec!["runuser".to_string(), "-u".into(), u.clone(), "--".into()], full].concat();
        }
        let mut req = ExecRequest::new(full).timeout(timeout);
        if let Some(s) = stdin {
            req = req.stdin(s);
        }
        let out = ctx.tb.exec(&req).map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
        let status = out.status;
        // The testbed reports a death by signal N as 128+N, as a shell does for its child.
        let signal = (status > 128 && status < 128 + 65).then(|| status - 128);
        let (stdout, stderr) = (out.stdout_str(), out.stderr_str());
        let (outcome, why) = select(self.check, |m, why| {
            let mut ok = true;
            if let Some(codes) = &m.exit {
                ok &= note(
                    why,
                    codes.contains(&status),
                    format!("exit {}", codes.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("|")),
                );
            }
            if let Some(s) = m.signal {
                ok &= note(why, signal == Some(s), format!("signal {}", signal_name(s)));
            }
            ok &= patterns_hold("stdout", &m.stdout, &stdout, why);
            ok &= patterns_hold("stderr", &m.stderr, &stderr, why);
            ok
        })?;
        let observed = match signal {
            Some(s) => format!("exit status {status} ({}, or a shell reporting it)", signal_name(s)),
            None => format!("exit status {status}"),
        };
        let first_err = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        let observed = if first_err.is_empty() {
            observed
        } else {
            format!("{observed}; stderr: {}", clip(first_err, 160))
        };
        let mut evidence = json!({
            "command": argv.iter().map(|a| crate::process::shell_quote(a)).collect::<Vec<_>>().join(" "),
            "argv": argv,
            "status": status,
            "stdout": excerpt(&out.stdout, EXCERPT),
            "stderr": excerpt(&out.stderr, EXCERPT),
            "stdout_bytes": out.stdout.len(),
            "stderr_bytes": out.stderr.len(),
            "seconds": out.duration.as_secs_f64(),
            "object": object,
            "under_test": under_test,
        });
        if let Some(s) = signal {
            evidence["signal"] = json!(signal_name(s));
        }
        if let Some(u) = user {
            evidence["user"] = json!(u);
        }
        Ok(Observation { outcome, observed, why, evidence, inconclusive: false })
    }
}

/// At most `n` characters of a line.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}
