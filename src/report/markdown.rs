//! The verification as Markdown for a merge request or a wiki page: the same content as the
//! Launchpad comment, with a table per phase (before and after side by side) and the
//! evidence in collapsible blocks.

use std::fmt::Write;

use super::evidence;
use crate::verify::result::{CheckResult, Side, VerifyResult};

pub fn render(r: &VerifyResult, series: Option<&str>) -> String {
    let mut s = String::new();
    let bugs: Vec<String> = r.plan.bugs.iter().map(|b| b.to_string()).collect();
    let _ = writeln!(s, "# SRU verification: {} ({})\n", cell(&r.plan.summary), bugs.join(", "));
    let _ = writeln!(s, "**Versions:** `{}`\n", evidence::versions_line(r));
    let _ = writeln!(s, "**Verdict:** `{}`: {}\n", r.verdict, cell(&r.reason));
    let _ = writeln!(s, "{}\n", evidence::verdict_line(r, series));
    let _ = writeln!(
        s,
        "Plan `{}` (`{}`), srukit {}, {} to {} ({:.1} s).",
        r.plan.name,
        evidence::public_path(r, &r.plan.path),
        r.srukit_version,
        r.started,
        r.finished,
        r.seconds
    );
    if !r.plan.warnings.is_empty() {
        let _ = writeln!(s, "\n**Warnings:**\n");
        for w in &r.plan.warnings {
            let _ = writeln!(s, "- {}", cell(w));
        }
    }

    packages(&mut s, r);

    let _ = writeln!(s, "\n## Test case as run\n");
    for run in &r.runs {
        let _ = writeln!(
            s,
            "- {}/{}: fresh testbed from image `{}` (sha256 `{}`), backend `{}`, {:.1} s",
            run.side,
            run.phase,
            run.testbed.image,
            run.testbed.image_sha256,
            run.testbed.backend,
            run.seconds
        );
    }
    for phase in r.phases() {
        let edits: Vec<String> = r.phase_edits(phase).iter().map(|e| format!("`{e}`")).collect();
        let what = if edits.is_empty() { "configuration as shipped".to_string() } else { edits.join(", ") };
        let _ = writeln!(s, "- phase `{phase}`: {what}");
    }
    if let Some(tc) = &r.plan.test_case {
        let _ = writeln!(s, "\n```\n{}\n```", tc.trim_end());
    } else if let Some(run) = r.runs.iter().find(|run| !run.steps.is_empty()) {
        let _ = writeln!(s, "\nSteps (in every run):\n\n```\n{}\n```", run.steps.join("\n"));
    }

    for phase in r.phases() {
        phase_table(&mut s, r, phase);
    }
    super::gate::markdown(&mut s, r, cell);
    s
}

/// One row per package (origin, file, hash), then each one's dpkg status and `apt-cache
/// policy` from inside the testbed, folded.
fn packages(s: &mut String, r: &VerifyResult) {
    let _ = writeln!(s, "\n## Packages tested\n");
    let _ = writeln!(
        s,
        "| Side | Package | Version | Origin | File | sha256 | From |\n|---|---|---|---|---|---|---|"
    );
    for side in [Side::Before, Side::After] {
        for p in r.side(side).map(|set| set.packages.as_slice()).unwrap_or(&[]) {
            let _ = writeln!(
                s,
                "| {side} | {} | `{}` | {} | {} | `{}` | {} |",
                cell(&p.name),
                cell(&p.version),
                cell(&p.origin.as_ref().map(|o| o.to_string()).unwrap_or_default()),
                cell(&evidence::public_path(r, &p.file)),
                p.sha256,
                cell(&evidence::public_path(r, &p.source))
            );
        }
    }
    for side in [Side::Before, Side::After] {
        let Some(set) = r.side(side) else { continue };
        for p in set.packages.iter().filter(|p| !p.policy.is_empty() || !p.status.is_empty()) {
            let _ = writeln!(
                s,
                "\n<details><summary>{side}: {} {} (dpkg: {})</summary>\n\n```\n$ apt-cache policy {}\n{}\n```\n\n</details>",
                p.name,
                p.version,
                cell(&p.status),
                p.name,
                p.policy
            );
        }
        if !set.installed.is_empty() {
            let inst: Vec<String> =
                set.installed.iter().map(|i| format!("`{} {}`", i.name, i.version)).collect();
            let _ = writeln!(s, "\nInstalled on the {side} side (dpkg-query): {}", inst.join(", "));
        }
    }
}

fn phase_table(s: &mut String, r: &VerifyResult, phase: &str) {
    let _ = writeln!(s, "\n## Phase `{phase}`\n");
    for side in [Side::Before, Side::After] {
        if let Some(err) = r.run(side, phase).and_then(|run| run.error.as_deref()) {
            let _ = writeln!(s, "**{side}: the run stopped before its checks:** {}\n", cell(err));
        }
    }
    let _ =
        writeln!(s, "| Check | Expected before | Before | Expected after | After |\n|---|---|---|---|---|");
    let mut details = String::new();
    for id in r.check_ids(phase) {
        let get = |side| r.run(side, phase).and_then(|run| run.check(id));
        let (before, after) = (get(Side::Before), get(Side::After));
        let title = before.or(after).map(|c| c.title.as_str()).unwrap_or("");
        let family = before.or(after).map(|c| c.family()).unwrap_or("iscsi");
        let label = if family == "iscsi" { format!("({id})") } else { format!("(`{id}`, {family})") };
        let _ = writeln!(
            s,
            "| {} {label} | {} | {} | {} | {} |",
            cell(title),
            before.map(|c| cell(&c.expected)).unwrap_or_default(),
            observed(before),
            after.map(|c| cell(&c.expected)).unwrap_or_default(),
            observed(after),
        );
        for (side, c) in [(Side::Before, before), (Side::After, after)] {
            if let Some(c) = c {
                let mut lines = evidence::lines(&c.evidence);
                if !c.why.is_empty() {
                    lines.insert(0, format!("why: {}", c.why));
                }
                if !lines.is_empty() {
                    let _ = writeln!(
                        details,
                        "<details><summary>{id}, {side}: evidence ({:.2} s)</summary>\n\n```\n{}\n```\n\n</details>\n",
                        c.seconds,
                        lines.join("\n")
                    );
                }
            }
        }
    }
    if !details.is_empty() {
        let _ = write!(s, "\n{details}");
    }
}

fn observed(c: Option<&CheckResult>) -> String {
    match c {
        Some(c) => {
            format!("**{}**: {}", c.outcome.as_str().to_uppercase(), cell(&evidence::outcome_words(c)))
        }
        None => "not run".to_string(),
    }
}

/// Text safe inside a table cell: a `|` would end the cell and a newline the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use crate::verify::result::{PlanInfo, VerifyResult};

    #[test]
    fn cells_escape_pipes_and_newlines() {
        assert_eq!(super::cell("a|b\nc"), "a\\|b c");
    }

    /// A patch applied with `dep3 = "warn"`: both human reports repeat its warning.
    #[test]
    fn reports_repeat_the_warnings() {
        let mut plan = PlanInfo::new("p", "p.toml", "s");
        let w = "patches/x/a.patch:19: DEP-3: Origin category `ustream` is not one of upstream, backport, vendor, other";
        plan.warnings.push(w.into());
        let r = VerifyResult::new(plan, chrono::Utc::now());
        assert!(super::render(&r, None).contains(&format!("\n**Warnings:**\n\n- {w}\n")));
        assert!(crate::report::launchpad::render(&r, None).contains(&format!("\nWarning: {w}\n")));
    }
}
