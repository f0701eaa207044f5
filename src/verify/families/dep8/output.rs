//! What autopkgtest leaves in its `--output-dir`, read as the gate needs it: `summary` (one
//! line per test), the exit code's meaning (autopkgtest(1), EXIT STATUS), `testpkg-version`
//! and the `*-packages` lists (`NAME\tVERSION`), and the binding of a run to the side's
//! source and binaries. Pure: the runner reads the files, these functions judge them.

use std::collections::BTreeMap;

use crate::verify::result::{Dep8Outcome, Dep8Test};

/// The tests of a `summary` file. autopkgtest writes `NAME<spaces>RESULT[ DETAIL]` per test,
/// `*` for the whole package when it has none (or none could run), and `blame:`/`badpkg:`
/// lines after an erroneous package: those say why there is no result.
pub fn summary(text: &str) -> Result<Vec<Dep8Test>, String> {
    let mut tests = Vec::new();
    for line in text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        if line.starts_with("blame:") || line.starts_with("badpkg:") {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(name), Some(result)) = (words.next(), words.next()) else {
            return Err(format!("summary line `{line}`: want `TEST RESULT [DETAIL]`"));
        };
        let detail = words.collect::<Vec<_>>().join(" ");
        let outcome = match result {
            "PASS" => Dep8Outcome::Pass,
            "FAIL" => Dep8Outcome::Fail,
            "SKIP" => Dep8Outcome::Skip,
            "NEUTRAL" => Dep8Outcome::Neutral,
            // A test with the `flaky` restriction that failed: autopkgtest itself does not
            // count it as a failure, and neither does the gate.
            "FLAKY" => Dep8Outcome::Neutral,
            other => return Err(format!("summary line `{line}`: unknown result `{other}`")),
        };
        if name == "*" {
            // No test of the package ran at all: the gate has nothing to compare.
            return Err(format!("autopkgtest ran no test: `{line}`"));
        }
        tests.push(Dep8Test { name: name.to_string(), outcome, detail });
    }
    Ok(tests)
}

/// autopkgtest's exit status, judged: `Ok` when its tests ran (0 all passed, 2 some skipped,
/// 4 some failed, 6 both), the reason otherwise. A result from a run that could not test
/// (8 no tests, 12 an erroneous package, 14 bad arguments, 16 the testbed failed, 20 other)
/// is an error, never a pass.
pub fn exit_code(code: Option<i32>) -> Result<(), String> {
    match code {
        Some(0 | 2 | 4 | 6) => Ok(()),
        Some(8) => Err("autopkgtest exit 8: no test in this package (or all were filtered out)".into()),
        Some(12) => Err("autopkgtest exit 12: erroneous package (a test dependency could not be installed, or the source would not unpack)".into()),
        Some(14) => Err("autopkgtest exit 14: bad command line".into()),
        Some(16) => Err("autopkgtest exit 16: the testbed failed (could not be set up or reverted)".into()),
        Some(20) => Err("autopkgtest exit 20: an unexpected failure of autopkgtest itself".into()),
        Some(c) => Err(format!("autopkgtest exit {c}: not a status autopkgtest documents")),
        None => Err("autopkgtest was killed by a signal: no result".into()),
    }
}

/// The exit status and the summary must tell one story: bit 4 is "a test failed".
pub fn agrees(code: i32, tests: &[Dep8Test]) -> Result<(), String> {
    let failed = tests.iter().any(|t| t.outcome == Dep8Outcome::Fail);
    if (code & 4 != 0) != failed {
        return Err(format!(
            "autopkgtest exit {code} {} a failure, but its summary {}",
            if code & 4 != 0 { "reports" } else { "does not report" },
            if failed { "lists one" } else { "lists none" }
        ));
    }
    Ok(())
}

/// A `*-packages` file: `NAME\tVERSION` per line (dpkg-query's, architecture qualifiers
/// dropped).
pub fn packages(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(n, v)| (n.split(':').next().unwrap_or(n).trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What one run must have tested: the source's tests at its version, on the side's binaries.
pub struct Expected<'a> {
    pub source: &'a str,
    pub version: &'a str,
    /// The side's binaries under test: (name, version).
    pub binaries: &'a [(String, String)],
}

/// The binding rule: `testpkg-version` names the expected source and version, and every test
/// that passed or failed ran with at least one binary under test installed and none at
/// another version than the side's (`testbed` the image's packages, `per_test` the packages
/// each test installed, which win). Returns the evidence lines (`NAME VERSION`).
pub fn bind(
    want: &Expected<'_>,
    testpkg_version: &str,
    testbed: &BTreeMap<String, String>,
    per_test: &BTreeMap<String, BTreeMap<String, String>>,
    tests: &[Dep8Test],
) -> Result<Vec<String>, String> {
    let tested = testpkg_version.trim();
    let expected = format!("{} {}", want.source, want.version);
    if tested != expected {
        return Err(format!(
            "autopkgtest tested `{tested}` (testpkg-version), but this side's tests are {expected}'s"
        ));
    }
    let mut seen = vec![format!("testpkg-version {tested}")];
    for t in tests.iter().filter(|t| matches!(t.outcome, Dep8Outcome::Pass | Dep8Outcome::Fail)) {
        let mine = per_test
            .get(&t.name)
            .ok_or_else(|| format!("test {}: autopkgtest recorded no {}-packages", t.name, t.name))?;
        let mut on = Vec::new();
        for (name, version) in want.binaries {
            let Some(got) = mine.get(name).or_else(|| testbed.get(name)) else { continue };
            if got != version {
                return Err(format!(
                    "test {} ran on {name} {got}, but this side's {name} is {version}",
                    t.name
                ));
            }
            on.push(format!("{name} {got}"));
        }
        if on.is_empty() {
            let names: Vec<&str> = want.binaries.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format!(
                "test {} ran on none of the packages under test ({}): its result says nothing of this side",
                t.name,
                names.join(", ")
            ));
        }
        seen.push(format!("{}: {}", t.name, on.join(", ")));
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines() {
        let text = "test                 PASS\nsmoke FAIL non-zero exit status 1\nslow SKIP Test needs isolation-machine\nn NEUTRAL\nf FLAKY non-zero exit status 1\n";
        let t = summary(text).unwrap();
        let got: Vec<(&str, &str, &str)> =
            t.iter().map(|t| (t.name.as_str(), t.outcome.as_str(), t.detail.as_str())).collect();
        assert_eq!(
            got,
            [
                ("test", "pass", ""),
                ("smoke", "fail", "non-zero exit status 1"),
                ("slow", "skip", "Test needs isolation-machine"),
                ("n", "neutral", ""),
                ("f", "neutral", "non-zero exit status 1"),
            ]
        );
        assert!(summary("*   SKIP no tests in this package\n").unwrap_err().contains("ran no test"));
        assert!(summary("x WHAT\n").unwrap_err().contains("unknown result `WHAT`"));
        let bad =
            summary("t FAIL badpkg\nblame: foo.dsc\nbadpkg: Test dependencies are unsatisfiable\n").unwrap();
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn exit_codes() {
        for ok in [0, 2, 4, 6] {
            assert!(exit_code(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [8, 12, 14, 16, 20, 1] {
            assert!(exit_code(Some(bad)).unwrap_err().contains(&format!("exit {bad}")), "{bad}");
        }
        assert!(exit_code(None).is_err());
        let fail = [Dep8Test { name: "t".into(), outcome: Dep8Outcome::Fail, detail: String::new() }];
        assert!(agrees(4, &fail).is_ok());
        assert!(agrees(0, &fail).is_err());
        assert!(agrees(4, &[]).is_err());
        assert!(agrees(2, &[]).is_ok());
    }

    fn pkgs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn binding() {
        let binaries = vec![("libx1".to_string(), "1.0-2".to_string()), ("libx-dev".into(), "1.0-2".into())];
        let want = Expected { source: "x", version: "1.0-2", binaries: &binaries };
        let tests = [Dep8Test { name: "t".into(), outcome: Dep8Outcome::Pass, detail: String::new() }];
        let testbed = pkgs(&[("libc6", "2.36")]);
        let mut per = BTreeMap::new();
        per.insert("t".to_string(), pkgs(&[("libx1", "1.0-2"), ("libx-dev", "1.0-2")]));
        let seen = bind(&want, "x 1.0-2\n", &testbed, &per, &tests).unwrap();
        assert_eq!(seen, ["testpkg-version x 1.0-2", "t: libx1 1.0-2, libx-dev 1.0-2"]);
        // Another source version was tested.
        assert!(bind(&want, "x 1.0-1", &testbed, &per, &tests).unwrap_err().contains("testpkg-version"));
        // A binary at another version (apt took the testbed's, not the side's).
        per.insert("t".to_string(), pkgs(&[("libx1", "1.0-1")]));
        assert!(bind(&want, "x 1.0-2", &testbed, &per, &tests).unwrap_err().contains("ran on libx1 1.0-1"));
        // None of the binaries under test: the result says nothing of the side.
        per.insert("t".to_string(), pkgs(&[("make", "4.3")]));
        assert!(bind(&want, "x 1.0-2", &testbed, &per, &tests).unwrap_err().contains("none of the packages"));
        // The image's copy counts when the test installed nothing new of it.
        let testbed = pkgs(&[("libx1", "1.0-2")]);
        assert!(bind(&want, "x 1.0-2", &testbed, &per, &tests).is_ok());
        // A skipped test ran on nothing and needs no binding.
        let skipped = [Dep8Test { name: "t".into(), outcome: Dep8Outcome::Skip, detail: String::new() }];
        assert!(bind(&want, "x 1.0-2", &BTreeMap::new(), &BTreeMap::new(), &skipped).is_ok());
    }

    #[test]
    fn packages_lists() {
        let p = packages("libc6:amd64\t2.36-9\nmake\t4.3-4.1\n\n");
        assert_eq!(p.get("libc6").map(String::as_str), Some("2.36-9"));
        assert_eq!(p.len(), 2);
    }
}
