//! The dep8 family: a package's own autopkgtests (DEP-8) as a regression gate. Not a
//! [`super::Family`]: it observes nothing inside a (side, phase) run; it runs once per side,
//! on the host, `autopkgtest SIDE.dsc SIDE_DEBS... -B --output-dir D -- VIRT-SERVER`, the
//! tests taken from that side's own source version (Ubuntu's baseline model), and reverse
//! dependencies' tests (their version from the testbed's release) on the side's packages.
//! Reads the side's packages and the plan's dep8 checks; writes `OUT/dep8/<side>-<check>[-<rdep>]/`
//! (autopkgtest's output dir) and `.log` beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::process::Cmd;
use crate::testbed::Image;
use crate::verify::archive::{Archive, Suite};
use crate::verify::packages::Package;
use crate::verify::plan::Dep8Check;
use crate::verify::result::{Dep8Run, Dep8Source, Provenance, Side};

mod output;

pub use output::{Expected, bind, summary};

/// One side's inputs to the gate.
pub struct SideInput<'a> {
    pub side: Side,
    pub packages: &'a [Package],
    pub image: &'a Image,
    /// The testbed definition (`testbeds/<name>.toml` path or name) the plan runs on.
    pub definition: &'a str,
    /// `verify --out`: the runs' output lands under `OUT/dep8/`.
    pub out: &'a Path,
    /// The plan needs init: the testbeds boot systemd (nspawn), as the plan's runs do.
    pub boot: bool,
}

/// The virt server autopkgtest runs the tests in: srukit's own (`autopkgtest-virt-srukit`,
/// this very binary under that name, through a symlink in `OUT/dep8/.virt/`: autopkgtest
/// runs a server name holding `/` as is) on the plan's testbed definition, booted under
/// nspawn when the plan needs init. One place, so the server is one line to change.
fn virt_server(input: &SideInput<'_>) -> Result<Vec<String>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("srukit's own path: {e}"))?;
    let dir = input.out.join("dep8/.virt");
    let link = dir.join("autopkgtest-virt-srukit");
    crate::fsx::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Both sides make the link at once: whichever loses the race finds it made.
    if crate::fsx::read_link(&link).ok().as_deref() != Some(exe.as_path()) {
        crate::fsx::remove_file_if_exists(&link).map_err(|e| e.to_string())?;
        if let Err(e) = crate::fsx::symlink(&exe, &link)
            && crate::fsx::read_link(&link).ok().as_deref() != Some(exe.as_path())
        {
            return Err(e.to_string());
        }
    }
    let mut argv = vec![link.display().to_string()];
    if input.boot {
        argv.extend(["--backend".into(), "nspawn".into(), "--boot".into()]);
    }
    argv.push(input.definition.to_string());
    Ok(argv)
}

/// Every autopkgtest run one dep8 check asks for on one side: the package's own tests, then
/// each reverse dependency's. Never fails: a run that could not test carries its `error`.
pub fn run(check: &Dep8Check, input: &SideInput<'_>) -> Vec<Dep8Run> {
    let mut runs = Vec::new();
    let binaries: Vec<(String, String)> =
        input.packages.iter().map(|p| (p.name.clone(), p.version.clone().unwrap_or_default())).collect();
    let debs: Vec<PathBuf> = input.packages.iter().filter_map(|p| p.deb.clone()).collect();
    let label = format!("{}-{}", input.side, check.id);
    let own = side_source(input);
    runs.push(one(check, input, None, own, &check.spec.tests, &binaries, &debs, &label));
    for r in &check.spec.rdepends {
        let name = r.strip_prefix("src:").unwrap_or(r);
        let source = release_archive(input.image).and_then(|a| {
            let dsc = a.source(name, None).map_err(|e| e.to_string())?;
            Ok((
                Dep8Source {
                    name: name.to_string(),
                    version: dsc_version(&dsc)?,
                    dsc: dsc.display().to_string(),
                    from: format!("apt-get source {name} from {}", a.suite.name),
                },
                dsc,
            ))
        });
        runs.push(one(
            check,
            input,
            Some(r.clone()),
            source,
            &[],
            &binaries,
            &debs,
            &format!("{label}-{name}"),
        ));
    }
    runs
}

/// One autopkgtest run, judged: exit status, summary, binding.
#[allow(clippy::too_many_arguments)]
fn one(
    check: &Dep8Check,
    input: &SideInput<'_>,
    rdepend: Option<String>,
    source: Result<(Dep8Source, PathBuf), String>,
    tests: &[String],
    binaries: &[(String, String)],
    debs: &[PathBuf],
    label: &str,
) -> Dep8Run {
    let started = Instant::now();
    let dir = input.out.join("dep8");
    let mut run = Dep8Run {
        check: check.id.clone(),
        rdepend,
        output_dir: format!("dep8/{label}"),
        log: format!("dep8/{label}.log"),
        ..Default::default()
    };
    let (source, dsc) = match source {
        Ok(s) => s,
        Err(e) => {
            run.error = Some(format!("no source for the tests: {e}"));
            return run;
        }
    };
    run.source = source;
    let outdir = dir.join(label);
    let log = dir.join(format!("{label}.log"));
    let prepared = crate::fsx::create_dir_all(&dir).and_then(|()| crate::fsx::remove_dir_all(&outdir));
    if let Err(e) = prepared {
        run.error = Some(e.to_string());
        return run;
    }
    let mut cmd = Cmd::new("autopkgtest").arg(&dsc).args(debs).arg("-B").arg("--output-dir").arg(&outdir);
    for t in tests {
        cmd = cmd.arg("--test-name").arg(t);
    }
    if let Some(t) = check.spec.timeout.as_deref().and_then(|t| crate::verify::plan::duration(t).ok()) {
        cmd = cmd.arg(format!("--timeout-test={}", t.as_secs().max(1)));
    }
    let server = match virt_server(input) {
        Ok(argv) => argv,
        Err(e) => {
            run.error = Some(format!("the virt server: {e}"));
            return run;
        }
    };
    cmd = cmd.arg("--").args(server).output_to_file(&log);
    run.command = cmd.display();
    let status = cmd.output_unchecked();
    run.seconds = started.elapsed().as_secs_f64();
    let status = match status {
        Ok(out) => out.status.code(),
        Err(e) => {
            run.error = Some(format!("could not run autopkgtest: {e}"));
            return run;
        }
    };
    run.exit_code = status;
    if let Err(e) = judge(&mut run, &outdir, tests, binaries) {
        run.error = Some(format!("{e} (see {})", run.log));
    }
    run
}

/// Reads autopkgtest's output dir into `run` and holds it to the rules: a documented exit
/// status that agrees with the summary, every test asked for present, bound to the side.
fn judge(
    run: &mut Dep8Run,
    outdir: &Path,
    asked: &[String],
    binaries: &[(String, String)],
) -> Result<(), String> {
    let read = |name: &str| -> Result<String, String> {
        let path = outdir.join(name);
        crate::fsx::read_optional(&path)
            .map_err(|e| e.to_string())?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| format!("autopkgtest left no {}", path.display()))
    };
    // The summary first: even a failed run's says what it got to.
    if let Ok(text) = read("summary") {
        run.tests = summary(&text).map_err(|e| match asked {
            [] => e,
            _ => format!("{e} (asked for {})", asked.join(", ")),
        })?;
    }
    output::exit_code(run.exit_code)?;
    let code = run.exit_code.unwrap_or_default();
    if run.tests.is_empty() {
        read("summary")?;
        return Err("autopkgtest's summary lists no test".into());
    }
    output::agrees(code, &run.tests)?;
    for t in asked {
        if run.test(t).is_none() {
            return Err(format!("test {t} was asked for but autopkgtest did not run it"));
        }
    }
    let testbed = output::packages(&read("testbed-packages").unwrap_or_default());
    let mut per_test = BTreeMap::new();
    for t in &run.tests {
        if let Ok(text) = read(&format!("{}-packages", t.name)) {
            per_test.insert(t.name.clone(), output::packages(&text));
        }
    }
    let want = Expected { source: &run.source.name, version: &run.source.version, binaries };
    run.ran_on = bind(&want, &read("testpkg-version")?, &testbed, &per_test, &run.tests)?;
    Ok(())
}

/// Where this side's own tests come from: a local build's .dsc beside its .debs, else
/// `apt-get source NAME=VERSION` from the side's suite (or the image's release for a
/// package the image carries).
fn side_source(input: &SideInput<'_>) -> Result<(Dep8Source, PathBuf), String> {
    let first = input.packages.first().ok_or("the side has no package under test")?;
    let (name, version) = source_of(first, input.image)?;
    for p in &input.packages[1..] {
        let other = source_of(p, input.image)?;
        if other != (name.clone(), version.clone()) {
            return Err(format!(
                "{} is built from {} {}, {} from {name} {version}: one dep8 gate tests one source",
                p.name, other.0, other.1, first.name
            ));
        }
    }
    if first.origin.provenance == Provenance::LocalBuild {
        let upstream = version.split_once(':').map(|(_, v)| v).unwrap_or(&version);
        let dir = first.deb.as_ref().and_then(|d| d.parent()).ok_or("a local build without its .deb")?;
        let dsc = dir.join(format!("{name}_{upstream}.dsc"));
        if !dsc.exists() {
            return Err(format!(
                "no {} beside the local build's .debs: a local build's tests come from the source built with it",
                dsc.display()
            ));
        }
        let got = dsc_version(&dsc)?;
        if got != version {
            return Err(format!("{} is version {got}, the .debs were built from {version}", dsc.display()));
        }
        let from = "local build".to_string();
        return Ok((Dep8Source { name, version, dsc: dsc.display().to_string(), from }, dsc));
    }
    let archive = match &first.archive {
        Some(a) => a.clone(),
        None => release_archive(input.image)?,
    };
    let dsc = archive.source(&name, Some(&version)).map_err(|e| e.to_string())?;
    let from = format!("apt-get source {name}={version} from {}", archive.suite.name);
    Ok((Dep8Source { name, version, dsc: dsc.display().to_string(), from }, dsc))
}

/// A binary's source package and version, as dpkg records them (a binNMU's source version
/// is not its own).
fn source_of(p: &Package, image: &Image) -> Result<(String, String), String> {
    let format = "${source:Package}\t${source:Version}";
    let text = match &p.deb {
        Some(deb) => Cmd::new("dpkg-deb").arg("--show").arg(format!("--showformat={format}")).arg(deb).read(),
        None => Cmd::new("dpkg-query")
            .arg(format!("--admindir={}", image.lower.join("var/lib/dpkg").display()))
            .args(["-W", &format!("--showformat={format}"), &p.name])
            .read(),
    }
    .map_err(|e| format!("the source of {}: {e}", p.name))?;
    let (n, v) = text.trim().split_once('\t').ok_or_else(|| format!("the source of {}: `{text}`", p.name))?;
    Ok((n.to_string(), v.to_string()))
}

/// The `Version:` of a .dsc.
fn dsc_version(dsc: &Path) -> Result<String, String> {
    crate::build::source::field(dsc, "Version")
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} has no Version", dsc.display()))
}

/// The testbed image's own release (its `VERSION_CODENAME`), as an archive suite.
fn release_archive(image: &Image) -> Result<Archive, String> {
    let codename =
        crate::verify::archive::image_codename(image).map_err(|e| e.to_string())?.ok_or_else(|| {
            format!("{} names no VERSION_CODENAME", image.lower.join("etc/os-release").display())
        })?;
    let suite = Suite::parse(&codename)?;
    Archive::open(&suite).map_err(|e| e.to_string())
}
