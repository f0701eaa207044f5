//! The O_DIRECT check: does tgtd hold its backing store open with O_DIRECT (`bsoflags
//! direct`)? Read from the kernel's own view, `/proc/<tgtd>/fdinfo/<fd>`, not from tgt's
//! config or tools.

use serde::Serialize;

/// O_DIRECT on x86_64 and most Linux architectures (asm-generic/fcntl.h: 00040000 octal).
pub const O_DIRECT: u32 = 0o40000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ODirectEvidence {
    /// The backing store path the check looked for, as the daemon sees it.
    pub backing_store: String,
    pub tgtd_pid: u32,
    /// The one fd of the daemon open on it, with its fdinfo flags in octal as the kernel
    /// prints them.
    pub fd: FdFlags,
    pub o_direct: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdFlags {
    pub fd: u32,
    pub flags_octal: String,
    pub o_direct: bool,
}

/// Parses the `flags:` line of an fdinfo file (octal, as the kernel prints it).
pub fn fdinfo_flags(fdinfo: &str) -> Option<u32> {
    fdinfo.lines().find_map(|l| l.strip_prefix("flags:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
}

/// From `fd -> link target` pairs and each fd's fdinfo text, the evidence for one backing
/// store. No fd on it means the check could not run (the daemon never opened the store);
/// two fds mean two opens of one file (a second LUN, a decoy target) and no way to tell
/// which serves the LUN under test: both are errors naming what was found, never "off".
pub fn evidence<'a>(
    backing_store: &str,
    tgtd_pid: u32,
    fds: impl IntoIterator<Item = (u32, &'a str, &'a str)>,
) -> Result<ODirectEvidence, String> {
    let mut found = Vec::new();
    for (fd, target, fdinfo) in fds {
        if target != backing_store {
            continue;
        }
        let flags =
            fdinfo_flags(fdinfo).ok_or_else(|| format!("/proc/{tgtd_pid}/fdinfo/{fd} has no flags line"))?;
        found.push(FdFlags { fd, flags_octal: format!("0{flags:o}"), o_direct: flags & O_DIRECT != 0 });
    }
    match found.len() {
        0 => Err(format!("no file descriptor of tgtd (pid {tgtd_pid}) is open on {backing_store}")),
        1 => {
            let fd = found.remove(0);
            Ok(ODirectEvidence {
                backing_store: backing_store.to_string(),
                tgtd_pid,
                o_direct: fd.o_direct,
                fd,
            })
        }
        n => Err(format!(
            "{n} file descriptors of tgtd (pid {tgtd_pid}) are open on {backing_store} ({}); which one serves the LUN under test is unknown",
            found
                .iter()
                .map(|f| format!("fd {} flags {}", f.fd, f.flags_octal))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real fdinfo text as tgtd's backing store shows it (design.md section 2).
    const DIRECT: &str = "pos:\t0\nflags:\t0140002\nmnt_id:\t30\nino:\t12\n";
    const CACHED: &str = "pos:\t0\nflags:\t0100002\nmnt_id:\t30\nino:\t12\n";

    #[test]
    fn flags_are_octal() {
        assert_eq!(fdinfo_flags(DIRECT), Some(0o140002));
        assert_eq!(fdinfo_flags("pos:\t0\n"), None);
    }

    #[test]
    fn evidence_picks_the_backing_store_fd_not_the_first() {
        let e = evidence("/srv/lun", 7, [(3, "/dev/null", CACHED), (9, "/srv/lun", DIRECT)]).unwrap();
        assert!(e.o_direct);
        assert_eq!(e.fd, FdFlags { fd: 9, flags_octal: "0140002".into(), o_direct: true });
        assert_eq!(e.tgtd_pid, 7);
        let e = evidence("/srv/lun", 7, [(9, "/srv/lun", CACHED)]).unwrap();
        assert!(!e.o_direct);
        assert_eq!(e.fd.flags_octal, "0100002");
    }

    #[test]
    fn no_fd_or_two_fds_mean_the_check_could_not_run() {
        let e = evidence("/srv/lun", 7, [(3, "/dev/null", CACHED)]).unwrap_err();
        assert!(e.contains("no file descriptor of tgtd (pid 7)"), "{e}");
        let e = evidence("/srv/lun", 7, [(8, "/srv/lun", DIRECT), (9, "/srv/lun", CACHED)]).unwrap_err();
        assert!(
            e.contains("2 file descriptors") && e.contains("fd 8 flags 0140002") && e.contains("fd 9"),
            "{e}"
        );
    }
}
