//! Shared by the tests/iscsi_*.rs suites: a real tgtd in its own network namespace (via
//! scripts/tgtd-netns.sh), targets created with tgt-admin from conf files, file-backed LUNs
//! on the real disk (page-cache accounting needs a real filesystem, not tmpfs).

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use srukit::process::Cmd;
use srukit::verify::checks::data_at_risk::{self, MemStat};
use srukit::verify::iscsi;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/tgtd-netns.sh");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Tgtd {
    pub pid: u32,
    pub port: u16,
    pub cgroup: Option<String>,
    pub dir: tempfile::TempDir,
}

impl Tgtd {
    /// Starts tgtd; `memcg`: alone in a fresh cgroup v1 memory controller.
    pub fn start(memcg: bool) -> Tgtd {
        let dir = tempfile::Builder::new().prefix("iscsi-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let cgroup = memcg.then(|| format!("srukit-test-{}-{n}", std::process::id()));
        let log = dir.path().join("tgtd.log");
        let mut cmd = Cmd::new("bash").arg(SCRIPT).arg("start").arg(&log);
        if let Some(cg) = &cgroup {
            cmd = cmd.arg(cg);
        }
        let out = cmd.timeout(Duration::from_secs(30)).read().expect("tgtd starts");
        let mut it = out.split_whitespace();
        let pid = it.next().unwrap().parse().unwrap();
        let port = it.next().unwrap().parse().unwrap();
        Tgtd { pid, port, cgroup, dir }
    }

    pub fn netns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }

    pub fn connect(&self) -> TcpStream {
        iscsi::connect_in_netns(&self.netns(), "127.0.0.1:3260", Duration::from_secs(10)).unwrap()
    }

    /// Creates (or recreates) a target with a LUN file of `size` bytes and extra conf lines.
    pub fn target(&self, iqn: &str, size: u64, lines: &[&str]) -> PathBuf {
        let name = iqn.rsplit(':').next().unwrap();
        let lun = self.dir.path().join(format!("{name}.img"));
        if !lun.exists() {
            let f = std::fs::File::create(&lun).unwrap();
            f.set_len(size).unwrap();
        }
        let mut conf = format!("<target {iqn}>\n    backing-store {}\n", lun.display());
        for l in lines {
            conf.push_str(&format!("    {l}\n"));
        }
        conf.push_str("</target>\n");
        let path = self.dir.path().join(format!("{name}.conf"));
        std::fs::write(&path, conf).unwrap();
        self.tgt_admin(&path, iqn);
        lun
    }

    /// `tgt-admin --update` only (never `-e`, which deletes targets not in the file).
    pub fn tgt_admin(&self, conf: &Path, iqn: &str) {
        Cmd::new("tgt-admin")
            .args(["-C", &self.port.to_string(), "-c"])
            .arg(conf)
            .args(["--update", iqn])
            .timeout(Duration::from_secs(30))
            .run()
            .expect("tgt-admin --update");
    }

    pub fn memcg_dir(&self) -> PathBuf {
        PathBuf::from("/sys/fs/cgroup/memory").join(self.cgroup.as_ref().expect("started with a cgroup"))
    }

    pub fn memory_stat(&self) -> MemStat {
        data_at_risk::cgroup_v1_sampler(&self.memcg_dir())().unwrap()
    }
}

impl Drop for Tgtd {
    fn drop(&mut self) {
        let mut cmd = Cmd::new("bash").arg(SCRIPT).arg("stop").arg(self.pid.to_string());
        if let Some(cg) = &self.cgroup {
            cmd = cmd.arg(cg);
        }
        let _ = cmd.timeout(Duration::from_secs(30)).run();
    }
}

pub fn params(iqn: &str) -> iscsi::LoginParams {
    let mut p = iscsi::LoginParams::new(iqn);
    p.timeout = Duration::from_secs(10);
    p
}
