//! `srukit generate man|completions DIR` (hidden; debian/rules calls it): the files the
//! Debian package installs, generated from the clap definitions.

mod common;

use common::*;

#[test]
fn man_pages_for_srukit_and_each_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man");
    let o = srukit(&["generate", "man", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let top = std::fs::read_to_string(dir.join("srukit.1")).unwrap();
    assert!(top.contains(".TH srukit 1"), "{top}");
    assert!(top.contains(env!("CARGO_PKG_VERSION")), "the page names the version");
    assert!(top.contains("report"), "the top page lists the commands");
    assert!(!top.contains("generate"), "the hidden command stays out of the man page");
    let report = std::fs::read_to_string(dir.join("srukit-report.1")).unwrap();
    assert!(report.contains(".TH srukit-report 1"), "{report}");
    assert!(report.contains("launchpad") && report.contains("junit"), "{report}");
    assert!(!dir.join("srukit-generate.1").exists());
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let o = srukit(&["generate", "completions", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bash = dir.join("srukit.bash");
    // bash itself loads the script and registers the completion.
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p srukit", bash.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("srukit"), "{}", stdout(&o));
    let zsh = std::fs::read_to_string(dir.join("_srukit")).unwrap();
    assert!(zsh.starts_with("#compdef srukit"), "{zsh}");
    let fish = std::fs::read_to_string(dir.join("srukit.fish")).unwrap();
    assert!(fish.contains("complete -c srukit") && fish.contains("launchpad"), "{fish}");
}
