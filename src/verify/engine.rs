//! `srukit verify`: every (side, phase) of a plan, each in its own fresh testbed, in
//! parallel, then one verdict. Reads the plan and the package sets; checks that they make an
//! update before any testbed starts; redacts secrets from everything the runs produced; then
//! writes `OUT/logs/<side>-<phase>/` and `OUT/result.json` (atomically, last).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::reporter::Reporter;
use crate::testbed::{Backend, OpenOptions};
use crate::verify::VerifyError;
use crate::verify::packages::{self, Package, PackageSource};
use crate::verify::plan::{Need, Plan};
use crate::verify::result::{
    PackageSet, PlanInfo, Provenance, Run, Side, Sides, VerifyResult, VersionChange,
};
use crate::verify::run::{self, RunOutput, RunSpec};
use crate::verify::update;

pub struct Options {
    pub before: Option<PackageSource>,
    pub after: Option<PackageSource>,
    pub only: Option<Side>,
    pub out: PathBuf,
    pub jobs: usize,
    /// The backend asked for (`--backend`); `None`: the one the plan's `needs` call for.
    pub backend: Option<Backend>,
    /// What the result says of the plan beyond its own file (bugs, series): a backport's
    /// manifest fills it; a bare plan leaves it to the plan.
    pub info: Option<PlanInfo>,
}

/// The testbed options a plan's `needs` call for: `init` boots the image's systemd under
/// nspawn, `network` shares the host's network. A backend asked for that cannot give what
/// the plan needs is refused (bad input, before any testbed).
pub fn open_options(plan: &Plan, asked: Option<Backend>) -> Result<OpenOptions, VerifyError> {
    let init = plan.needs(Need::Init);
    let backend = match (asked, init) {
        (None, true) => Backend::Nspawn { boot: true },
        (None, false) => Backend::Unshare,
        (Some(Backend::Nspawn { .. }), true) => Backend::Nspawn { boot: true },
        (Some(b), true) => {
            return Err(VerifyError::Usage(format!(
                "the plan {} needs = [\"init\"] (a service manager as pid 1): --backend {} cannot boot one; use --backend nspawn or leave --backend out",
                plan.path.display(),
                match b {
                    Backend::Unshare => "unshare",
                    Backend::Nspawn { .. } => "nspawn",
                }
            )));
        }
        (Some(b), false) => b,
    };
    // A virt server's testbed must say it isolates what the plan needs (checked at open
    // against its capabilities); srukit's own backends ignore this.
    let isolation = if plan.needs(Need::Machine) {
        Some(crate::testbed::Isolation::Machine)
    } else if init {
        Some(crate::testbed::Isolation::Container)
    } else {
        None
    };
    Ok(OpenOptions { backend, uplink: plan.needs(Need::Network), isolation, ..Default::default() })
}

pub fn verify(plan: &Plan, opts: &Options, rep: &dyn Reporter) -> Result<VerifyResult, VerifyError> {
    let started = Instant::now();
    let open = open_options(plan, opts.backend)?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let sides: Vec<Side> =
        plan.raw.sides.iter().copied().filter(|s| opts.only.is_none_or(|o| o == *s)).collect();
    if sides.is_empty() {
        return Err(VerifyError::Usage(format!(
            "--only {} names a side the plan {} does not have",
            opts.only.map(|s| s.as_str()).unwrap_or("?"),
            plan.path.display()
        )));
    }

    // Resolve every package first: a missing .deb, a dir with two builds or an after that
    // is not newer is bad input, found before any testbed (and before an image build).
    let mut packages: Vec<(Side, Vec<Package>)> = Vec::new();
    // An upgrade plan starts every run on the before side's packages: they are needed even
    // when only the after side runs.
    let mut wanted = sides.clone();
    if plan.upgrades() && !wanted.contains(&Side::Before) {
        wanted.insert(0, Side::Before);
    }
    for &side in &wanted {
        let src = match side {
            Side::Before => opts.before.as_ref(),
            Side::After => opts.after.as_ref(),
        }
        .ok_or_else(|| {
            if sides.contains(&side) {
                VerifyError::Usage(format!("the plan has a {side} side: give --{side} PKGS (or --only)"))
            } else {
                VerifyError::Usage(
                    "the plan has an `upgrade` step, so every run starts on the before side's packages: give --before PKGS"
                        .to_string(),
                )
            }
        })?;
        packages.push((side, packages::resolve(src, &plan.raw.install)?));
    }
    update_rule(&packages)?;

    let testbed = plan
        .testbed_definition
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| plan.raw.testbed.clone());
    let image = {
        let step = rep.step(&format!("testbed image {}", plan.raw.testbed));
        let image = crate::testbed::ensure_image(&testbed, rep)?;
        step.finish(&image.hash[..image.hash.len().min(12)]);
        image
    };
    let all: Vec<&Package> = packages.iter().flat_map(|(_, p)| p).collect();
    if image.is_virt() {
        // No image on the host: its release and its packages are asked of a testbed.
        if !plan.dep8.is_empty() {
            return Err(VerifyError::Usage(format!(
                "{}: the autopkgtest gate ([[dep8]]) runs on srukit's own images; testbed `{}` is a virt server",
                plan.path.display(),
                plan.raw.testbed
            )));
        }
        let step = rep.step(&format!("release and packages of {} (a virt-server testbed)", plan.raw.testbed));
        let mut probe = crate::testbed::open(&image, &open)?;
        let asked = crate::verify::archive::testbed_codename(probe.as_mut()).and_then(|codename| {
            crate::verify::archive::check_release(&all, &image.name, codename.as_deref(), "/etc/os-release")
        });
        let asked = asked.and_then(|()| {
            for (_, pkgs) in &mut packages {
                packages::resolve_in_testbed(pkgs, probe.as_mut(), &image.name)?;
            }
            Ok(())
        });
        let closed = probe.close();
        asked?;
        closed?;
        step.finish("done");
    } else {
        crate::verify::archive::check_image_release(&all, &image)?;
        // `apt:` packages are what the image carries: known now, from its dpkg database.
        for (_, pkgs) in &mut packages {
            packages::resolve_in_image(pkgs, &image.lower, &image.name)?;
        }
    }
    let versions = update_rule(&packages)?;

    // The runs write their logs aside (owner-only); only their redacted copies reach OUT/logs.
    crate::fsx::create_dir_all(&opts.out)?;
    let raw_logs = opts.out.join(".logs.unredacted");
    crate::fsx::remove_dir_all(&raw_logs)?;
    crate::fsx::create_dir_all(&raw_logs)?;
    crate::fsx::set_permissions(&raw_logs, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;

    let start_from = plan
        .upgrades()
        .then(|| packages.iter().find(|(s, _)| *s == Side::Before).map(|(_, p)| p.as_slice()))
        .flatten();
    // apt in the testbed fetches what an archive package depends on and the image lacks.
    let mut open = open;
    open.uplink |= packages.iter().flat_map(|(_, p)| p).any(|p| p.archive.is_some());
    let mut specs = Vec::new();
    for (side, pkgs) in packages.iter().filter(|(s, _)| sides.contains(s)) {
        for phase in &plan.raw.phases {
            specs.push(RunSpec {
                plan,
                side: *side,
                phase,
                packages: pkgs,
                start_from,
                image: &image,
                open: open.clone(),
                log_dir: raw_logs.join(format!("{side}-{}", phase.name)),
            });
        }
    }

    let step = rep.step(&format!("{} runs in fresh testbeds", specs.len()));
    let outputs = run_all(&specs, opts.jobs.max(1));
    step.finish("done");

    let mut result_sides = Sides { before: None, after: None };
    for (side, pkgs) in packages.iter().filter(|(s, _)| sides.contains(s)) {
        let mut installed =
            // The first run of the side that got as far as confirming its packages.
            outputs
                .iter()
                .find(|o| o.run.side == *side && !o.installed.is_empty())
                .map(|o| o.installed.clone())
                .unwrap_or_default();
        // The side's provenance is its weakest package's: one local build makes the whole
        // side a pre-upload check.
        let provenance = Provenance::weakest(pkgs.iter().map(|p| p.origin.provenance));
        let mut under_test: Vec<_> = pkgs.iter().map(Package::under_test).collect();
        for p in &mut under_test {
            if let Some(i) = installed.iter_mut().find(|i| i.name == p.name) {
                p.status = std::mem::take(&mut i.status);
                p.policy = std::mem::take(&mut i.policy);
            }
            // The image's package is named by the image, once it is known.
            if let Some(o) = p.origin.as_mut().filter(|o| o.provenance == Provenance::TestbedImage) {
                o.archive = image.name.clone();
            }
        }
        let set = PackageSet {
            provenance: Some(provenance.unwrap_or_default()),
            packages: under_test,
            installed,
            dep8: Vec::new(),
        };
        match side {
            Side::Before => result_sides.before = Some(set),
            Side::After => result_sides.after = Some(set),
        }
    }
    let runs: Vec<Run> = outputs.into_iter().map(|o| o.run).collect();
    if !plan.dep8.is_empty() {
        let step = rep.step(&format!("autopkgtest gate ({} per side)", plan.dep8.len()));
        gate(plan, &packages, &sides, &image, &testbed, &opts.out, &mut result_sides);
        step.finish("done");
    }
    let g = crate::verify::verdict::gate(&result_sides);
    let (mut verdict, mut reason) =
        crate::verify::verdict::with_gate(crate::verify::verdict::decide(&runs), &g);
    // What dpkg installed must make the update too: a version known only inside the
    // testbeds is held to the same rule, and failing it is an error, never a verification.
    if let Some(why) = installed_rule(&result_sides) {
        verdict = crate::verify::result::Verdict::Error;
        reason = why;
    }
    let mut info = opts.info.clone().unwrap_or_else(|| {
        PlanInfo::new(plan.raw.name.clone(), plan.path.display().to_string(), plan.raw.summary.clone())
    });
    info.path = plan.path.display().to_string();
    // A bare plan on archive packages: the suite says which release the update is for (the
    // after side's, the one a tag is about), so the tag names its series.
    if opts.info.is_none()
        && let Some(suite) = [Side::After, Side::Before]
            .iter()
            .filter_map(|s| packages.iter().find(|(side, _)| side == s))
            .flat_map(|(_, p)| p)
            .find_map(|p| p.archive.as_ref().map(|a| &a.suite))
    {
        info.series.get_or_insert_with(|| suite.series.clone());
        info.distro = match suite.distro {
            crate::verify::archive::Distro::Debian => "debian".into(),
            crate::verify::archive::Distro::Ubuntu => "ubuntu".into(),
        };
    }
    let out_dir = crate::fsx::canonicalize(&opts.out)?;
    let mut result = VerifyResult {
        schema_version: crate::verify::result::SCHEMA_VERSION,
        srukit_version: env!("CARGO_PKG_VERSION").to_string(),
        plan: info,
        verdict,
        reason,
        sides: result_sides,
        versions,
        runs,
        redactions: Vec::new(),
        started: started_at,
        finished: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        seconds: started.elapsed().as_secs_f64(),
        out_dir: out_dir.display().to_string(),
    };
    // One place, after the runs and before anything is written: secrets out of the result
    // and the logs alike.
    crate::verify::redact::redact(&mut result, plan, &raw_logs, &opts.out.join("logs"))?;
    crate::fsx::remove_dir_all(&raw_logs)?;
    write_result(&opts.out, &result)?;
    Ok(result)
}

/// Every dep8 check on every side that ran, the sides in parallel (each autopkgtest run has
/// its own testbed), into each side's `dep8`.
fn gate(
    plan: &Plan,
    packages: &[(Side, Vec<Package>)],
    sides: &[Side],
    image: &crate::testbed::Image,
    definition: &str,
    out: &Path,
    result: &mut Sides,
) {
    let found: Vec<(Side, Vec<crate::verify::result::Dep8Run>)> = std::thread::scope(|s| {
        let handles: Vec<_> = packages
            .iter()
            .filter(|(side, _)| sides.contains(side))
            .map(|(side, pkgs)| {
                let input = crate::verify::families::dep8::SideInput {
                    side: *side,
                    packages: pkgs,
                    image,
                    definition,
                    out,
                    boot: plan.needs(Need::Init),
                };
                let h = s.spawn(move || {
                    plan.dep8.iter().flat_map(|c| crate::verify::families::dep8::run(c, &input)).collect()
                });
                (*side, h)
            })
            .collect();
        // A gate that did not finish is an error on its side, never an absent (clean) gate.
        handles
            .into_iter()
            .map(|(side, h)| {
                let runs = h.join().unwrap_or_else(|_| {
                    plan.dep8
                        .iter()
                        .map(|c| crate::verify::result::Dep8Run {
                            check: c.id.clone(),
                            error: Some("the gate's thread panicked".into()),
                            ..Default::default()
                        })
                        .collect()
                });
                (side, runs)
            })
            .collect()
    });
    for (side, runs) in found {
        let set = match side {
            Side::Before => result.before.as_mut(),
            Side::After => result.after.as_mut(),
        };
        if let Some(set) = set {
            set.dep8 = runs;
        }
    }
}

/// The update rule on what is known so far; the changes once every version is.
fn update_rule(packages: &[(Side, Vec<Package>)]) -> Result<Vec<VersionChange>, VerifyError> {
    let of = |side| packages.iter().find(|(s, _)| *s == side).map(|(_, p)| p.as_slice());
    match (of(Side::Before), of(Side::After)) {
        (Some(before), Some(after)) => update::check(before, after),
        _ => Ok(Vec::new()),
    }
}

/// The versions dpkg reported on each side, held to the update rule.
fn installed_rule(sides: &Sides) -> Option<String> {
    let (before, after) = (sides.before.as_ref()?, sides.after.as_ref()?);
    let pairs: Vec<(String, String, String)> = after
        .installed
        .iter()
        .filter_map(|a| {
            let b = before.installed.iter().find(|b| b.name == a.name)?;
            Some((a.name.clone(), b.version.clone(), a.version.clone()))
        })
        .collect();
    update::check_installed(&pairs)
}

/// Runs the specs on at most `jobs` threads, keeping the plan's order in the output.
fn run_all(specs: &[RunSpec], jobs: usize) -> Vec<RunOutput> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<RunOutput>>> =
        specs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(specs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(spec) = specs.get(i) else { break };
                    let out = run::run(spec);
                    *slots[i].lock().expect("no thread panics holding a slot") = Some(out);
                }
            });
        }
    });
    slots.into_iter().filter_map(|m| m.into_inner().ok().flatten()).collect()
}

fn write_result(out: &Path, result: &VerifyResult) -> Result<(), VerifyError> {
    crate::fsx::create_dir_all(out)?;
    let json = serde_json::to_vec_pretty(result).expect("a result serializes");
    crate::fsx::write_atomic(&out.join("result.json"), json)?;
    Ok(())
}
