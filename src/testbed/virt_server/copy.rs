//! `copydown` and `copyup` as one host bash pipeline through the exec prefix, the way
//! VirtSubproc.py (autopkgtest 5.28) copies when it has no shared directory: `cat` for a
//! file (the executable bit carried down), `tar` of a directory's contents (merged into the
//! destination, which is made if missing; permissions kept, owner not). Paths inside the
//! testbed are resolved by the testbed itself (its root, its symlinks), never through the
//! host's /proc/PID/root. Pure: builds the script, runs nothing.

use crate::process::shell_quote;

/// tar options: VirtSubproc's, for the source and for the destination side.
const TAR_OUT: &str = "--warning=none -c -f - .";
const TAR_IN: &str = "--warning=none --preserve-permissions --extract --no-same-owner -f -";

/// The host script (for `bash -ec`) copying host `host` into the testbed's `testbed`.
/// `prefix` is the exec prefix; `executable` says the host file has an x bit.
pub fn down_script(prefix: &[String], host: &str, testbed: &str, dir: bool, executable: bool) -> String {
    let tb = shell_quote(testbed);
    let inside = if dir {
        format!("if ! test -d {tb}; then mkdir -- {tb}; fi; cd {tb}; tar {TAR_IN}")
    } else if executable {
        format!("cat >{tb}; chmod +x -- {tb}")
    } else {
        format!("cat >{tb}")
    };
    let remote = remote(prefix, &inside);
    if dir {
        format!("set -o pipefail; tar --directory {} --warning=none -c -f - . | {remote}", shell_quote(host))
    } else {
        format!("{remote} <{}", shell_quote(host))
    }
}

/// The host script copying the testbed's `testbed` to host `host`.
pub fn up_script(prefix: &[String], testbed: &str, host: &str, dir: bool) -> String {
    let tb = shell_quote(testbed);
    let h = shell_quote(host);
    if dir {
        let remote = remote(prefix, &format!("cd {tb}; tar {TAR_OUT}"));
        // VirtSubproc makes the destination with os.mkdir: its parent must exist.
        format!("set -o pipefail; test -d {h} || mkdir -- {h}; {remote} | tar --directory {h} {TAR_IN}")
    } else {
        format!("{} >{h}", remote(prefix, &format!("cat <{tb}")))
    }
}

fn remote(prefix: &[String], script: &str) -> String {
    let mut words: Vec<String> = prefix.iter().map(|w| shell_quote(w)).collect();
    words.extend(["sh".into(), "-ec".into(), shell_quote(script)]);
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> Vec<String> {
        ["/usr/bin/srukit", "testbed", "enter", "--pid", "7", "--start", "9", "--"].map(String::from).to_vec()
    }

    #[test]
    fn a_file_goes_down_with_its_x_bit_and_spaces_quoted() {
        let s = down_script(&prefix(), "/h/a b", "/tmp/autopkgtest-srukit/a b", false, true);
        assert_eq!(
            s,
            "/usr/bin/srukit testbed enter --pid 7 --start 9 -- sh -ec 'cat >'\\''/tmp/autopkgtest-srukit/a b'\\''; \
             chmod +x -- '\\''/tmp/autopkgtest-srukit/a b'\\''' <'/h/a b'"
        );
    }

    #[test]
    fn a_directory_goes_as_tar_of_its_contents() {
        let s = down_script(&prefix(), "/h/d/", "/t/d/", true, false);
        assert!(s.starts_with("set -o pipefail; tar --directory /h/d/ --warning=none -c -f - . | "), "{s}");
        assert!(s.contains("if ! test -d /t/d/; then mkdir -- /t/d/; fi; cd /t/d/; tar"), "{s}");
        let s = up_script(&prefix(), "/t/d/", "/h/d/", true);
        assert!(s.contains("test -d /h/d/ || mkdir -- /h/d/;"), "{s}");
        assert!(s.contains("sh -ec 'cd /t/d/; tar --warning=none -c -f - .'"), "{s}");
        assert!(
            s.ends_with(
                "| tar --directory /h/d/ --warning=none --preserve-permissions --extract --no-same-owner -f -"
            ),
            "{s}"
        );
    }

    #[test]
    fn a_file_comes_up_through_cat() {
        assert_eq!(
            up_script(&prefix(), "/t/f", "/h/f", false),
            "/usr/bin/srukit testbed enter --pid 7 --start 9 -- sh -ec 'cat </t/f' >/h/f"
        );
    }
}
