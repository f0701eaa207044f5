//! The verifier's Launchpad comment: plain text (Launchpad renders no markup), in the order
//! SRU verifiers write it: what was tested and from where, the test case as run, the evidence
//! before and after, and the tag to set.

use std::fmt::Write;

use super::evidence;
use crate::verify::result::{PackageSet, Side, VerifyResult};

pub fn render(r: &VerifyResult, series: Option<&str>) -> String {
    let mut s = String::new();
    header(&mut s, r, series);
    packages(&mut s, r);
    test_case(&mut s, r);
    results(&mut s, r);
    super::gate::launchpad(&mut s, r);
    let _ = writeln!(s, "\n{}", evidence::verdict_line(r, series));
    s
}

fn header(s: &mut String, r: &VerifyResult, series: Option<&str>) {
    let bugs: Vec<String> = r.plan.bugs.iter().map(|b| b.to_string()).collect();
    let target = match r.series(series) {
        Some(series) => format!("{} {series}", r.plan.distro),
        None => r.plan.distro.clone(),
    };
    let _ = writeln!(s, "SRU verification ({target}) of {}: {}", bugs.join(", "), r.plan.summary);
    let _ = writeln!(s, "Versions: {}", evidence::versions_line(r));
    let _ = writeln!(s, "Verdict: {}", r.verdict);
    let provenance = r.provenance();
    if !provenance.counts_as_verification() {
        let _ = writeln!(
            s,
            "Packages: {} (not from the archive's proposed or security pocket: a pre-upload check, no tag)",
            provenance.as_str()
        );
    }
    let _ = writeln!(s, "Reason: {}", r.reason);
    let _ = writeln!(
        s,
        "Run by srukit {} from plan {} ({}), {} to {} ({:.1} s).",
        r.srukit_version,
        r.plan.name,
        evidence::public_path(r, &r.plan.path),
        r.started,
        r.finished,
        r.seconds
    );
    if !r.out_dir.is_empty() {
        let _ = writeln!(s, "Paths below are relative to the run's output dir (where result.json is).");
    }
    for w in &r.plan.warnings {
        let _ = writeln!(s, "Warning: {w}");
    }
}

fn section(s: &mut String, title: &str) {
    let _ = writeln!(s, "\n{title}\n{}", "-".repeat(title.len()));
}

fn packages(s: &mut String, r: &VerifyResult) {
    section(s, "Packages tested");
    for side in [Side::Before, Side::After] {
        let label = match side {
            Side::Before => "Before (the current package)",
            Side::After => "After (the proposed package)",
        };
        match r.side(side) {
            Some(set) => package_set(s, r, label, set),
            None => {
                let _ = writeln!(s, "{label}: not run");
            }
        }
    }
}

/// Each package with its origin, file and hash, then what dpkg and `apt-cache policy` said
/// inside the testbed before any check (the output SRU verifiers are asked to share).
fn package_set(s: &mut String, r: &VerifyResult, label: &str, set: &PackageSet) {
    let _ = writeln!(s, "{label}:");
    for p in &set.packages {
        let _ = writeln!(s, "  {} {}", p.name, p.version);
        if let Some(origin) = &p.origin {
            let _ = writeln!(s, "    origin: {origin}");
        }
        if !p.file.is_empty() {
            let _ = writeln!(s, "    file:   {}", evidence::public_path(r, &p.file));
        }
        if !p.sha256.is_empty() {
            let _ = writeln!(s, "    sha256: {}", p.sha256);
        }
        let _ = writeln!(s, "    from:   {}", evidence::public_path(r, &p.source));
        if !p.status.is_empty() {
            let _ = writeln!(s, "    dpkg:   {}", p.status);
        }
        if !p.policy.is_empty() {
            let _ = writeln!(s, "    $ apt-cache policy {}", p.name);
            for l in p.policy.lines() {
                let _ = writeln!(s, "      {l}");
            }
        }
    }
    if !set.installed.is_empty() {
        let inst: Vec<String> = set.installed.iter().map(|i| format!("{} {}", i.name, i.version)).collect();
        let _ = writeln!(s, "  installed in every testbed (dpkg-query): {}", inst.join(", "));
    }
}

fn test_case(s: &mut String, r: &VerifyResult) {
    section(s, "Test case as run");
    let mut beds: Vec<String> = r
        .runs
        .iter()
        .map(|run| {
            format!(
                "image {} (sha256 {}), backend {}",
                run.testbed.image, run.testbed.image_sha256, run.testbed.backend
            )
        })
        .collect();
    beds.dedup();
    let _ = writeln!(s, "Each (side, phase) ran in its own fresh testbed: {}.", beds.join("; "));
    for phase in r.phases() {
        let edits = r.phase_edits(phase);
        if edits.is_empty() {
            let _ = writeln!(s, "Phase \"{phase}\": configuration as shipped.");
        } else {
            let _ = writeln!(s, "Phase \"{phase}\": edited");
            for e in edits {
                let _ = writeln!(s, "  {e}");
            }
        }
    }
    if let Some(tc) = &r.plan.test_case {
        let _ = writeln!(s, "Steps:");
        for l in tc.lines() {
            let _ = writeln!(s, "  {l}");
        }
    } else if let Some(run) = r.runs.iter().find(|run| !run.steps.is_empty()) {
        // No test case in the verifier's words: the plan's steps as srukit ran them.
        let _ = writeln!(s, "Steps (in every run):");
        for l in &run.steps {
            let _ = writeln!(s, "  {l}");
        }
    }
}

fn results(s: &mut String, r: &VerifyResult) {
    section(s, "Results, before and after");
    for phase in r.phases() {
        let _ = writeln!(s, "Phase \"{phase}\":");
        for side in [Side::Before, Side::After] {
            if let Some(err) = r.run(side, phase).and_then(|run| run.error.as_deref()) {
                let _ = writeln!(s, "  {side}: the run stopped before its checks: {err}");
            }
        }
        for id in r.check_ids(phase) {
            let checks: Vec<_> = [Side::Before, Side::After]
                .into_iter()
                .filter_map(|side| r.run(side, phase).and_then(|run| run.check(id)).map(|c| (side, c)))
                .collect();
            let title = checks.first().map(|(_, c)| c.title.as_str()).unwrap_or("");
            let family = checks.first().map(|(_, c)| c.family()).unwrap_or("iscsi");
            if family == "iscsi" {
                let _ = writeln!(s, "  {id}: {title}");
            } else {
                let _ = writeln!(s, "  {id} ({family}): {title}");
            }
            for (side, c) in &checks {
                let _ = writeln!(
                    s,
                    "    {side:<6}  {} -> {} (expected {})",
                    c.outcome.as_str().to_uppercase(),
                    evidence::outcome_words(c),
                    c.expected
                );
                if !c.why.is_empty() {
                    let _ = writeln!(s, "            why: {}", c.why);
                }
            }
            // Identical evidence on both sides (the same file lines, the same mode page) is
            // printed once: the comment is read by a person, and the difference is the point.
            let alike = checks.len() == 2 && checks[0].1.evidence == checks[1].1.evidence;
            for (side, c) in checks.iter().take(if alike { 1 } else { 2 }) {
                let lines = evidence::check_lines(c);
                if lines.is_empty() {
                    continue;
                }
                let who = if alike { "before and after alike".to_string() } else { side.to_string() };
                let _ = writeln!(s, "    evidence, {who} ({:.2} s):", c.seconds);
                for l in lines {
                    let _ = writeln!(s, "      {l}");
                }
            }
        }
    }
}
