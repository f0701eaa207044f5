//! `srukit apply`'s changelog entry as a security upload needs it: `[changelog] urgency` and
//! `distribution` in the header, and the trailer exactly as dch writes it (` -- NAME <EMAIL>`,
//! two spaces, `date -R` in the maintainer's own time zone), read back by dpkg.

use std::path::Path;

use srukit::process::Cmd;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const OLD: &str = "tiny (1.0-1) bookworm; urgency=medium\n\n  * Initial release.\n\n \
                   -- Test Person <test@example.org>  Sun, 06 Jul 2014 09:05:48 -0400\n";

#[test]
fn security_upload_entry_with_urgency_distribution_and_dch_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tiny-1.0");
    write(&tree.join("f"), "a\nb\nc\n");
    write(&tree.join("debian/changelog"), OLD);
    write(&tree.join("debian/source/format"), "3.0 (quilt)\n");
    let bp = dir.path().join("cve-fix");
    write(
        &bp.join("fix.patch"),
        "Description: Fix it\nOrigin: upstream, https://example.org/c/1\nBug-Debian: https://bugs.debian.org/1234\n\
         Last-Update: 2024-03-09\n---\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n",
    );
    write(
        &bp.join("backport.toml"),
        "name = \"cve-fix\"\nsummary = \"Fix it\"\nsource = \"tiny\"\n[bugs]\ndebian = [1234]\n[target]\n\
         distro = \"debian\"\nseries = \"bookworm\"\nversion = \"1.0-1\"\n[version]\nscheme = \"debian-stable\"\n\
         [changelog]\nbullets = [\"Fix it\"]\nurgency = \"high\"\ndistribution = \"bookworm-security\"\n\
         [[patches]]\nfile = \"fix.patch\"\n",
    );
    // No SOURCE_DATE_EPOCH: the date is now, in the maintainer's zone (a POSIX TZ, UTC-5).
    let out = Cmd::new(env!("CARGO_BIN_EXE_srukit"))
        .arg("apply")
        .arg(&bp)
        .arg("--tree")
        .arg(&tree)
        .env("DEBFULLNAME", "Jane Doe")
        .env("DEBEMAIL", "jane@example.org")
        .env("TZ", "XST5")
        .env_remove("SOURCE_DATE_EPOCH")
        .output_unchecked()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(tree.join("debian/changelog")).unwrap();
    let entry = text.strip_suffix(OLD).expect("every old byte kept after the new entry");
    let lines: Vec<&str> = entry.lines().collect();
    assert_eq!(
        lines[..4],
        ["tiny (1.0-1+deb12u1) bookworm-security; urgency=high", "", "  * Fix it (Closes: #1234)", ""]
    );
    let trailer = lines[4];
    let date = trailer.strip_prefix(" -- Jane Doe <jane@example.org>  ").expect(trailer);
    let parsed = chrono::DateTime::parse_from_rfc2822(date).expect(date);
    assert_eq!(parsed.format("%a, %d %b %Y %H:%M:%S %z").to_string(), date, "dch's two-digit day");
    assert!(date.ends_with(" -0500"), "the local zone, as `date -R`: {date}");
    assert_eq!(lines[5..], [""]);
    let fields =
        srukit::formats::changelog::dpkg_parse(text.as_bytes(), srukit::formats::distro_info::Distro::Debian)
            .unwrap();
    assert_eq!((fields["Distribution"].as_str(), fields["Urgency"].as_str()), ("bookworm-security", "high"));
    assert_eq!(fields["Closes"], "1234");
}
