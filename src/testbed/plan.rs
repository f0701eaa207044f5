//! The system calls that build a testbed's root, as an `init::Op` list: the unshare
//! backend's mounts, device nodes and pivot_root, or the nspawn backend's exec of
//! systemd-nspawn on the overlay.

use std::path::{Path, PathBuf};

use super::init::{Op, cstr};
use super::{Bind, TestbedError};

/// A testbed's network: the host's (`host`), or its own namespace; `resolv` is the
/// /etc/resolv.conf it gets (the host's, an uplink's), None to keep the image's.
pub struct Network {
    pub host: bool,
    pub resolv: Option<Vec<u8>>,
}

pub fn unshare_ops(ops: &mut Vec<(String, Op)>, root: &Path, binds: &[Bind], id: &str, net: Network) {
    let Network { host: host_network, resolv } = net;
    let r = |p: &str| root.join(p);
    let nosuid = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mount = |what: &str, fstype: &str, target: PathBuf, flags: libc::c_ulong, data: Option<&str>| {
        (
            format!("mount {what} on {}", target.display()),
            Op::Mount {
                src: Some(cstr(what)),
                target: cstr(&target),
                fstype: Some(cstr(fstype)),
                flags,
                data: data.map(cstr),
            },
        )
    };
    ops.push(mount("proc", "proc", r("proc"), nosuid, None));
    ops.push(mount("sysfs", "sysfs", r("sys"), nosuid | libc::MS_RDONLY, None));
    ops.push(mount(
        "tmpfs",
        "tmpfs",
        r("dev"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("mode=755,size=65536k"),
    ));
    for (name, major, minor) in
        [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
    {
        let path = r("dev").join(name);
        ops.push((
            format!("mknod {}", path.display()),
            Op::Mknod { path: cstr(&path), mode: libc::S_IFCHR | 0o666, dev: libc::makedev(major, minor) },
        ));
    }
    for d in ["dev/pts", "dev/shm"] {
        ops.push((format!("mkdir {d}"), Op::Mkdir { path: cstr(r(d)), mode: 0o755 }));
    }
    ops.push(mount(
        "devpts",
        "devpts",
        r("dev/pts"),
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=620"),
    ));
    ops.push(mount("tmpfs", "tmpfs", r("dev/shm"), nosuid, Some("mode=1777")));
    for (target, link) in [
        ("pts/ptmx", "dev/ptmx"),
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
    ] {
        ops.push((format!("symlink /{link}"), Op::Symlink { target: cstr(target), link: cstr(r(link)) }));
    }
    ops.push(mount("tmpfs", "tmpfs", r("tmp"), libc::MS_NOSUID | libc::MS_NODEV, Some("mode=1777")));
    ops.push(mount("tmpfs", "tmpfs", r("run"), libc::MS_NOSUID | libc::MS_NODEV, Some("mode=755")));
    for bind in binds {
        // Each missing ancestor too (mkdir of an existing one is a no-op), in the overlay.
        let inside = bind.inside.strip_prefix("/").unwrap_or(&bind.inside);
        let mut dir = root.to_path_buf();
        for part in inside.components() {
            dir.push(part);
            ops.push((format!("mkdir {}", dir.display()), Op::Mkdir { path: cstr(&dir), mode: 0o755 }));
        }
        ops.push((
            format!("bind {} on {}", bind.host.display(), bind.inside.display()),
            Op::Mount {
                src: Some(cstr(&bind.host)),
                target: cstr(&dir),
                fstype: None,
                flags: libc::MS_BIND,
                data: None,
            },
        ));
    }
    ops.push(("pivot_root".into(), Op::PivotRoot(cstr(root))));
    if let Some(bytes) = resolv {
        ops.push(("write /etc/resolv.conf".into(), Op::WriteFile { path: cstr("/etc/resolv.conf"), bytes }));
    }
    let host = format!("srukit-{}", id.split('-').next_back().unwrap_or(id));
    ops.push((
        "write /etc/hostname".into(),
        Op::WriteFile { path: cstr("/etc/hostname"), bytes: format!("{host}\n").into_bytes() },
    ));
    ops.push(("set the hostname".into(), Op::Hostname(host.into_bytes())));
    if !host_network {
        ops.push(("bring up lo".into(), Op::LoopbackUp));
    }
}

pub fn nspawn_ops(
    ops: &mut Vec<(String, Op)>,
    root: &Path,
    binds: &[Bind],
    id: &str,
    scratch: &Path,
    boot: bool,
    net: Network,
) -> Result<(), TestbedError> {
    let Network { host: host_network, resolv } = net;
    let Some(nspawn) = crate::process::which("systemd-nspawn") else {
        return Err(TestbedError::MissingTool {
            tool: "systemd-nspawn".into(),
            hint: "install it with `apt-get install systemd-container`".into(),
        });
    };
    let machine = super::nspawn::machine_name(id);
    let mut argv: Vec<String> = vec![
        "systemd-nspawn".into(),
        "--register=no".into(),
        "--keep-unit".into(),
        "-q".into(),
        "--console=pipe".into(),
        format!("--machine={machine}"),
        format!("--directory={}", root.display()),
    ];
    argv.extend(binds.iter().map(|b| format!("--bind={}:{}", b.host.display(), b.inside.display())));
    if host_network {
        argv.push("--resolv-conf=copy-host".into());
    } else {
        argv.push("--private-network".into());
        if let Some(bytes) = resolv {
            // The testbed's own resolver (an uplink's), not the host's, whatever nspawn's
            // `auto` would pick for a private network.
            argv.push("--resolv-conf=off".into());
            ops.push((
                "write /etc/resolv.conf".into(),
                Op::WriteFile { path: cstr(root.join("etc/resolv.conf")), bytes },
            ));
        }
    }
    if boot {
        // SIGTERM to nspawn (our parent-death signal, or anyone's) powers the container off
        // the way teardown does, rather than halting it (nspawn's default, SIGRTMIN+3).
        argv.extend(["--boot".into(), format!("--kill-signal={}", super::boot::POWEROFF_SIGNAL_NAME)]);
    } else {
        argv.extend(["--as-pid2".into(), "sleep".into(), "infinity".into()]);
    }
    // A booted systemd sets the hostname from /etc/hostname (in an image, the name of the host
    // that built it), over the machine name nspawn gave: every testbed would be called alike.
    ops.push((
        "write /etc/hostname".into(),
        Op::WriteFile { path: cstr(root.join("etc/hostname")), bytes: format!("{machine}\n").into_bytes() },
    ));
    ops.push((
        format!("send output to {}", scratch.join("nspawn.log").display()),
        Op::Output(cstr(scratch.join("nspawn.log"))),
    ));
    // The overlay root is the testbed's alone: no image lock, which systemd-nspawn keeps as
    // /run/systemd/nspawn/locks/inode-DEV:INO and, killed at teardown, would leave behind.
    // `env` execs nspawn in the same process, so the recorded pid stays nspawn's.
    argv[0] = nspawn.display().to_string();
    let argv = ["env".to_string(), "SYSTEMD_NSPAWN_LOCK=0".into()].into_iter().chain(argv);
    ops.push((
        "exec systemd-nspawn".into(),
        Op::Exec {
            path: cstr("/usr/bin/env"),
            argv: argv.map(|a| std::ffi::CString::new(a.into_bytes()).expect("no NUL")).collect(),
        },
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data dir and a caller's bind, each made with its missing parents in the overlay,
    /// bound read-write before pivot_root (after /tmp's and /run's tmpfs, so a bind there
    /// is not hidden by them).
    #[test]
    fn unshare_binds_make_their_parents_and_come_before_pivot_root() {
        let binds = [
            Bind { host: "/scratch/data".into(), inside: "/srv/data".into() },
            Bind { host: "/cache/b".into(), inside: "/var/cache/srukit-build".into() },
        ];
        let mut ops = Vec::new();
        let net = Network { host: true, resolv: None };
        unshare_ops(&mut ops, Path::new("/r"), &binds, "1-0-abc", net);
        let names: Vec<&str> = ops.iter().map(|(n, _)| n.as_str()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("{n} in {names:?}"));
        assert!(at("mkdir /r/srv") < at("mkdir /r/srv/data"));
        assert!(at("mkdir /r/srv/data") < at("bind /scratch/data on /srv/data"));
        assert!(at("mkdir /r/var/cache/srukit-build") < at("bind /cache/b on /var/cache/srukit-build"));
        assert!(at("mount tmpfs on /r/tmp") < at("bind /cache/b on /var/cache/srukit-build"));
        assert!(at("bind /cache/b on /var/cache/srukit-build") < at("pivot_root"));
        match &ops[at("bind /cache/b on /var/cache/srukit-build")].1 {
            Op::Mount { src, target, flags, .. } => {
                assert_eq!(src.as_deref(), Some(cstr("/cache/b").as_c_str()));
                assert_eq!(target.as_c_str(), cstr("/r/var/cache/srukit-build").as_c_str());
                assert_eq!(*flags, libc::MS_BIND, "read-write");
            }
            _ => panic!("not a mount"),
        }
    }
}
