//! Replays real Debian 12 security updates with `srukit apply`: the previous version's tree
//! (`dpkg-source -x --skip-patches`), and as the backport folder the patches Debian's update
//! added, with their real headers (generated from the difference between the two versions'
//! debian/patches). For each update: srukit computes Debian's version, writes Debian's series
//! and patch files byte for byte, and `srukit patches push --all` gives the tree
//! `dpkg-source -x` gives for Debian's new version.
//!
//! The versions are pinned; the sources are downloaded once (bookworm and bookworm-security,
//! through a private apt) into the srukit cache.

mod patches_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patches_common::*;

/// One Debian update: the package, the version before, Debian's version after.
struct Update {
    pkg: &'static str,
    old: &'static str,
    new: &'static str,
    /// Added patches whose published DEP-3 header is flawed: taken with `dep3 = "warn"`,
    /// each with the warning apply must give (`file:line: DEP-3: message` ends with it).
    warn: &'static [(&'static str, &'static str)],
    /// Files in debian/ the update changed besides the changelog and the patches (a symbols
    /// file, CI configuration): outside what a backport folder carries, so not compared;
    /// the test checks that these are the only ones.
    beyond_patches: &'static [&'static str],
}

const UPDATES: &[Update] = &[
    Update { pkg: "apr-util", old: "1.6.3-1", new: "1.6.3-1+deb12u1", warn: &[], beyond_patches: &[] },
    Update {
        pkg: "xz-utils",
        old: "5.4.1-1+deb12u1",
        new: "5.4.1-1+deb12u2",
        warn: &[],
        beyond_patches: &[],
    },
    Update {
        pkg: "poppler",
        old: "22.12.0-2+deb12u2",
        new: "22.12.0-2+deb12u3",
        warn: &[],
        beyond_patches: &[],
    },
    Update {
        pkg: "libarchive",
        old: "3.6.2-1+deb12u4",
        new: "3.6.2-1+deb12u5",
        warn: &[],
        beyond_patches: &[],
    },
    Update {
        pkg: "ironic",
        old: "1:21.4.4-0+deb12u1",
        new: "1:21.4.4-0+deb12u2",
        // `Origin: ustream, https://...` as published.
        warn: &[(
            "CVE-2026-54421_Fix_sensitive_properties_returned_on_volume_targets.patch",
            ":19: DEP-3: Origin category `ustream` is not one of upstream, backport, vendor, other",
        )],
        beyond_patches: &[],
    },
    Update { pkg: "squid", old: "5.7-2+deb12u5", new: "5.7-2+deb12u6", warn: &[], beyond_patches: &[] },
    Update { pkg: "neutron", old: "2:21.0.0-7", new: "2:21.0.0-7+deb12u1", warn: &[], beyond_patches: &[] },
    Update { pkg: "wolfssl", old: "5.5.4-2+deb12u2", new: "5.5.4-2+deb12u3", warn: &[], beyond_patches: &[] },
    // Patches in subdirectories: CVE-2026-28348/01-2ef73266.patch, CVE-2026-41066/...
    Update {
        pkg: "lxml",
        old: "4.9.2-1",
        new: "4.9.2-1+deb12u1",
        warn: &[],
        beyond_patches: &["debian/salsa-ci.yml"],
    },
    Update {
        pkg: "libgd2",
        old: "2.3.3-9",
        new: "2.3.3-9+deb12u1",
        warn: &[],
        beyond_patches: &["debian/salsa-ci.yml"],
    },
    // `Backport of:`, then a whole git format-patch header.
    Update {
        pkg: "evolution-data-server",
        old: "3.46.4-2",
        new: "3.46.4-2+deb12u1",
        warn: &[],
        beyond_patches: &["debian/libedataserver-1.2-27.symbols"],
    },
];

/// The series entries (comments and blank lines aside), in order.
fn series_names(series: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(series)
        .lines()
        .filter_map(|l| l.split('#').next())
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// The files below `dir`, relative to it, with their contents.
fn files_below(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(dir, true).into_iter().filter(|(_, v)| v.0 == 'f').map(|(k, v)| (k, v.3)).collect()
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The backport folder of Debian's update: the patches it added (their bytes as Debian
/// published them, at the same relative paths), each after the entry it follows in Debian's
/// new series.
fn backport_folder(u: &Update, old_tree: &Path, new_tree: &Path, dir: &Path) -> Vec<String> {
    let old_series = std::fs::read(old_tree.join("debian/patches/series")).unwrap_or_default();
    let new_series = std::fs::read(new_tree.join("debian/patches/series")).unwrap();
    let (old_names, new_names) = (series_names(&old_series), series_names(&new_series));
    let old_files = files_below(&old_tree.join("debian/patches"));
    let new_files = files_below(&new_tree.join("debian/patches"));
    let added: Vec<String> = new_names.iter().filter(|n| !old_names.contains(n)).cloned().collect();
    assert!(!added.is_empty(), "{}: the update added no patch", u.pkg);
    // The update only added patches: the old ones are unchanged and still in order.
    let kept: Vec<&String> = new_names.iter().filter(|n| old_names.contains(n)).collect();
    assert_eq!(kept, old_names.iter().collect::<Vec<_>>(), "{}: the update reordered the series", u.pkg);
    for (k, v) in old_files.iter().filter(|(k, _)| *k != Path::new("series")) {
        assert!(new_files.get(k) == Some(v), "{}: the update changed debian/patches/{}", u.pkg, k.display());
    }
    // The entry's header as Debian's upload wrote it (a security upload names its pocket and
    // often its urgency): the manifest says so, and the replay checks srukit writes it.
    let (distribution, urgency) = (top_entry(new_tree, "Distribution"), top_entry(new_tree, "Urgency"));
    let mut toml = format!(
        "name = \"replay\"\nsummary = {}\nsource = {}\n[target]\ndistro = \"debian\"\nseries = \"bookworm\"\n\
         version = {}\n[version]\nscheme = \"debian-stable\"\n[changelog]\nbullets = [{}]\n\
         maintainer = \"Replay Test <replay@example.org>\"\ndistribution = {}\nurgency = {}\n",
        quoted(&format!("Debian's {} {}", u.pkg, u.new)),
        quoted(u.pkg),
        quoted(u.old),
        quoted(&format!("Replay of Debian's {}.", u.new)),
        quoted(&distribution),
        quoted(&urgency),
    );
    for name in &added {
        let at = new_names.iter().position(|n| n == name).unwrap();
        let after = at.checked_sub(1).map(|i| new_names[i].clone()).expect("an added patch at the top");
        let dest = dir.join(name);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, &new_files[Path::new(name)]).unwrap();
        toml.push_str(&format!("[[patches]]\nfile = {}\nafter = {}\n", quoted(name), quoted(&after)));
        if u.warn.iter().any(|(w, _)| w == name) {
            toml.push_str("dep3 = \"warn\"\n");
        }
    }
    std::fs::write(dir.join("backport.toml"), toml).unwrap();
    added
}

/// One field of a tree's newest changelog entry, as dpkg-parsechangelog reads it.
fn top_entry(tree: &Path, field: &str) -> String {
    let out = std::process::Command::new("dpkg-parsechangelog")
        .arg("-l")
        .arg(tree.join("debian/changelog"))
        .args(["-S", field])
        .output()
        .expect("dpkg-parsechangelog runs");
    assert!(
        out.status.success(),
        "dpkg-parsechangelog {}: {}",
        tree.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The entries of a snapshot outside debian/ (and .pc).
fn outside_debian(s: Snapshot) -> Snapshot {
    s.into_iter().filter(|(k, _)| !k.starts_with("debian")).collect()
}

fn replay(u: &Update) {
    let (old_un, _) = extracted_dsc(&dsc_pinned(u.pkg, u.old));
    let (new_un, new_ref) = extracted_dsc(&dsc_pinned(u.pkg, u.new));
    let bp = tempfile::tempdir().unwrap();
    let added = backport_folder(u, &old_un, &new_un, bp.path());

    let name = old_un.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
    let (_t, tree) = copy_of(&old_un, &name);
    let out = srukit(&["apply", bp.path().to_str().unwrap(), "--json"], &tree);
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["new_version"], u.new, "{}: the version srukit computes", u.pkg);
    let names: Vec<&str> =
        report["patches"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, added, "{}", u.pkg);

    // DEP-3 warnings: exactly the pinned ones, each at its file:line.
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}:{}: DEP-3: {}",
                w["patch"].as_str().unwrap(),
                w["line"],
                w["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(warnings.len(), u.warn.len(), "{}: {warnings:?}", u.pkg);
    // Again, in text mode: already applied, and the warnings on stderr.
    let again = srukit(&["apply", bp.path().to_str().unwrap()], &tree);
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("already applied"), "{}", u.pkg);
    let stderr = String::from_utf8_lossy(&again.stderr);
    for (file, tail) in u.warn {
        assert!(warnings.iter().any(|w| w.contains(file) && w.ends_with(tail)), "{}: {warnings:?}", u.pkg);
        assert!(
            stderr.lines().any(|l| l.starts_with("warning: ") && l.ends_with(tail)),
            "{}: {stderr}",
            u.pkg
        );
    }

    // The new entry's header is Debian's: version, pocket and urgency.
    for field in ["Version", "Distribution", "Urgency"] {
        assert_eq!(top_entry(&tree, field), top_entry(&new_un, field), "{}: changelog {field}", u.pkg);
    }

    // debian/patches (series and every patch file) is Debian's, byte for byte.
    let ours = files_below(&tree.join("debian/patches"));
    let debian = files_below(&new_un.join("debian/patches"));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        debian.keys().collect::<Vec<_>>(),
        "{}: debian/patches",
        u.pkg
    );
    for (k, v) in &debian {
        assert!(ours[k] == *v, "{}: debian/patches/{} differs from Debian's", u.pkg, k.display());
    }
    // The rest of debian/: unchanged but for the changelog and what the update did beyond
    // its patches (listed, and checked to be all).
    let ours = snapshot(&tree.join("debian"), true);
    let debian = snapshot(&new_un.join("debian"), true);
    let mut differ: Vec<String> = touched(&ours, &debian)
        .into_iter()
        .map(|p| format!("debian/{}", p.display()))
        .filter(|p| !p.starts_with("debian/patches") && p != "debian/changelog")
        .collect();
    differ.sort();
    let mut expected: Vec<String> = u.beyond_patches.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(differ, expected, "{}: debian/ beyond the patches", u.pkg);

    // srukit patches push --all == dpkg-source -x of Debian's new version, outside debian/.
    ok(&srukit(&["patches", "push", "--all"], &tree));
    let ours = outside_debian(snapshot(&tree, false));
    let reference = outside_debian(snapshot(&new_ref, false));
    let d = diff(&ours, &reference);
    assert!(d.is_empty(), "{}: srukit push --all vs dpkg-source -x {}:\n{}", u.pkg, u.new, d.join("\n"));
}

/// `srukit dep3 check` on flawed headers as Debian 12 published them (memcached's update:
/// prose straight after a folded Subject, and a patch with no header at all), each problem at
/// its file:line; and on a header that follows prose (`Backport of:` above a git
/// format-patch, evolution-data-server's update): no problem.
#[test]
fn dep3_check_on_published_headers() {
    let (_, memcached) = extracted_dsc(&dsc_pinned("memcached", "1.6.18-1+deb12u1"));
    let patches = memcached.join("debian/patches");
    let run_on = patches.join("0008-CVE-2026-47783-CVE-2026-47784.patch");
    let headerless = patches.join("0009-CVE-2023-46852.patch");
    let dep3_check = |files: &[&Path]| {
        srukit::process::Cmd::new(env!("CARGO_BIN_EXE_srukit"))
            .args(["dep3", "check"])
            .args(files)
            .output_unchecked()
            .unwrap()
    };
    let out = dep3_check(&[&run_on, &headerless]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = |p: &Path, line: usize, msg: &str| format!("{}:{line}: {msg}", p.display());
    for want in [
        at(&run_on, 5, "neither a field nor a continuation line: `asl_server_userdb_checkpass() broke out"),
        at(&headerless, 1, "missing Description (or Subject)"),
        at(&headerless, 1, "missing Origin (or Author for a vendor patch)"),
    ] {
        assert!(text.lines().any(|l| l.starts_with(&want)), "want {want} in:\n{text}");
    }
    let (_, eds) = extracted_dsc(&dsc_pinned("evolution-data-server", "3.46.4-2+deb12u1"));
    let after_prose = eds.join("debian/patches/CVE-2026-2604.patch");
    assert!(std::fs::read_to_string(&after_prose).unwrap().starts_with("Backport of:\n\nFrom afa12b6"));
    ok(&dep3_check(&[&after_prose]));
}

macro_rules! replays {
    ($($test:ident => $pkg:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                replay(UPDATES.iter().find(|u| u.pkg == $pkg).expect("pinned"));
            }
        )*

        #[test]
        fn every_pinned_update_is_replayed() {
            let tested = [$($pkg),*];
            for u in UPDATES {
                assert!(tested.contains(&u.pkg), "{} has no test", u.pkg);
            }
            assert!(UPDATES.len() >= 8);
        }
    };
}

replays! {
    apr_util => "apr-util",
    xz_utils => "xz-utils",
    poppler => "poppler",
    libarchive => "libarchive",
    ironic => "ironic",
    squid => "squid",
    neutron => "neutron",
    wolfssl => "wolfssl",
    lxml => "lxml",
    libgd2 => "libgd2",
    evolution_data_server => "evolution-data-server",
}
