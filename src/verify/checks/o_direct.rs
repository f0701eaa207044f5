//! The O_DIRECT check: does tgtd hold its backing store open with O_DIRECT (`bsoflags
//! direct`)? Read from the kernel's own view, `/proc/<tgtd>/fdinfo/<fd>`, not from tgt's
//! config or tools.

use serde::Serialize;

/// O_DIRECT on x86_64 and most Linux architectures (asm-generic/fcntl.h: 00040000 octal).
pub const O_DIRECT: u32 = 0o40000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ODirectEvidence {
    /// The backing store path the check looked for.
    pub backing_store: String,
    /// Every fd of the daemon that points at it, with its fdinfo flags in octal as the kernel
    /// prints them.
    pub fds: Vec<FdFlags>,
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
/// store. `None` when no fd points at it: the check could not run (the daemon never opened
/// the store), which is an error, not "off".
pub fn evidence<'a>(
    backing_store: &str,
    fds: impl IntoIterator<Item = (u32, &'a str, &'a str)>,
) -> Option<ODirectEvidence> {
    let mut found = Vec::new();
    for (fd, target, fdinfo) in fds {
        if target != backing_store {
            continue;
        }
        let flags = fdinfo_flags(fdinfo)?;
        found.push(FdFlags { fd, flags_octal: format!("0{flags:o}"), o_direct: flags & O_DIRECT != 0 });
    }
    if found.is_empty() {
        return None;
    }
    let o_direct = found.iter().all(|f| f.o_direct);
    Some(ODirectEvidence { backing_store: backing_store.to_string(), fds: found, o_direct })
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
    fn evidence_picks_the_backing_store_fds() {
        let e = evidence("/srv/lun", [(3, "/dev/null", CACHED), (9, "/srv/lun", DIRECT)]).unwrap();
        assert!(e.o_direct);
        assert_eq!(e.fds, vec![FdFlags { fd: 9, flags_octal: "0140002".into(), o_direct: true }]);
        let e = evidence("/srv/lun", [(9, "/srv/lun", CACHED)]).unwrap();
        assert!(!e.o_direct);
        assert_eq!(e.fds[0].flags_octal, "0100002");
    }

    #[test]
    fn no_fd_means_the_check_could_not_run() {
        assert_eq!(evidence("/srv/lun", [(3, "/dev/null", CACHED)]), None);
    }
}
