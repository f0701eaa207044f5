//! Files in and out of a virt-server testbed with `copydown` / `copyup`. The protocol's
//! rule: a directory is named with a trailing `/` on both sides, a file with none
//! (VirtSubproc.py refuses a mix).

use std::path::Path;

use super::protocol::{Client, REQUEST_TIMEOUT};
use crate::testbed::TestbedError;

fn slashed(p: &Path, dir: bool) -> String {
    let s = p.display().to_string();
    if dir && !s.ends_with('/') { format!("{s}/") } else { s }
}

/// `copydown HOST TB`.
pub fn down(client: &mut Client, host: &Path, inside: &Path) -> Result<(), TestbedError> {
    let dir = host.is_dir();
    let (h, t) = (slashed(host, dir), slashed(inside, dir));
    client.request(&["copydown", &h, &t], Some(0), REQUEST_TIMEOUT).map(drop)
}

/// `copyup TB HOST`; `dir` says whether `inside` is a directory (asked by the caller).
pub fn up(client: &mut Client, inside: &Path, host: &Path, dir: bool) -> Result<(), TestbedError> {
    let (t, h) = (slashed(inside, dir), slashed(host, dir));
    client.request(&["copyup", &t, &h], Some(0), REQUEST_TIMEOUT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_carry_the_trailing_slash() {
        assert_eq!(slashed(Path::new("/a/b"), true), "/a/b/");
        assert_eq!(slashed(Path::new("/a/b/"), true), "/a/b/");
        assert_eq!(slashed(Path::new("/a/f"), false), "/a/f");
    }
}
