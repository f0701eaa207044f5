//! Check 4, data at risk: write N MiB through iSCSI (plain WRITE, no FUA) and measure how
//! much of it sits only in the target host's page cache (`dirty` + `writeback` of tgtd's
//! memory cgroup) while the session is open: what a host crash would lose. Reads the data
//! back (sha256), then SYNCHRONIZE CACHE and logout, and confirms the pages drain.
//! Thresholds from design.md section 3: >= 50 % at risk, <= 1 % safe, between inconclusive.
//! A backing store on a filesystem without page-cache writeback (tmpfs, ramfs) never shows
//! dirty pages whatever the write cache does: such a measurement is inconclusive.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::exit::{Exit, ExitCodeOf};
use crate::verify::iscsi::{IscsiError, Session, Transport};

pub const AT_RISK_PERCENT: f64 = 50.0;
pub const SAFE_PERCENT: f64 = 1.0;

#[derive(Debug, thiserror::Error)]
pub enum DataAtRiskError {
    #[error(transparent)]
    Iscsi(#[from] IscsiError),
    #[error("could not read the target's memory statistics: {0}")]
    Sample(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the data-at-risk check writes whole MiB: {0} MiB asked")]
    BadSize(u64),
}

impl ExitCodeOf for DataAtRiskError {
    fn exit(&self) -> Exit {
        match self {
            DataAtRiskError::Iscsi(e) => e.exit(),
            DataAtRiskError::Sample(_) => Exit::CouldNotRun,
            DataAtRiskError::BadSize(_) => Exit::BadInput,
        }
    }
}

/// Page-cache bytes of one memory cgroup that are not yet on disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemStat {
    pub dirty: u64,
    pub writeback: u64,
}

impl MemStat {
    pub fn at_risk(&self) -> u64 {
        self.dirty + self.writeback
    }

    /// Parses cgroup v1 `memory.stat` (`key value` lines, bytes). The cgroup's own
    /// `dirty`/`writeback`, not `total_*`: tgtd is alone in its cgroup.
    pub fn parse(text: &str) -> MemStat {
        let mut m = MemStat::default();
        for line in text.lines() {
            let mut it = line.split_whitespace();
            match (it.next(), it.next().and_then(|v| v.parse().ok())) {
                (Some("dirty"), Some(v)) => m.dirty = v,
                (Some("writeback"), Some(v)) => m.writeback = v,
                _ => {}
            }
        }
        m
    }
}

/// A sampler for a cgroup v1 memory controller directory (e.g. /sys/fs/cgroup/memory/X).
pub fn cgroup_v1_sampler(dir: &Path) -> impl FnMut() -> Result<MemStat, crate::fsx::FsError> + use<> {
    let stat: PathBuf = dir.join("memory.stat");
    move || crate::fsx::read_to_string(&stat).map(|t| MemStat::parse(&t))
}

#[derive(Debug, Clone)]
pub struct Params {
    pub lun: u16,
    /// How much to write (design.md: 200 MiB, what the bug reporter wrote).
    pub mib: u64,
    /// First LBA written.
    pub lba: u64,
    /// Samples taken after the write while the session is open; the maximum counts.
    pub samples: u32,
    pub sample_interval: Duration,
    /// How long to wait, after logout, for the pages to drain.
    pub drain_timeout: Duration,
    /// The backing store's filesystem type (statfs f_type by name, as `stat -f -c %T`
    /// prints it), when known.
    pub backing_store_fs: Option<String>,
}

/// Filesystems whose pages are never dirty in the writeback sense (they live only in RAM):
/// on them nothing is ever "at risk" in `memory.stat`, and nothing is safe either.
pub const NO_WRITEBACK_FS: &[&str] = &["tmpfs", "ramfs"];

pub fn has_writeback(fs: &str) -> bool {
    !NO_WRITEBACK_FS.contains(&fs)
}

impl Params {
    pub fn new(lun: u16) -> Params {
        Params {
            lun,
            mib: 200,
            lba: 0,
            samples: 5,
            sample_interval: Duration::from_millis(50),
            drain_timeout: Duration::from_secs(10),
            backing_store_fs: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    AtRisk,
    Safe,
    Inconclusive,
}

/// The thresholds of design.md section 3, as one function.
pub fn classify(at_risk_bytes: u64, written: u64) -> Verdict {
    let pct = percent(at_risk_bytes, written);
    if pct >= AT_RISK_PERCENT {
        Verdict::AtRisk
    } else if pct <= SAFE_PERCENT {
        Verdict::Safe
    } else {
        Verdict::Inconclusive
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataAtRiskEvidence {
    pub target: String,
    pub lun: u16,
    /// The backing store's filesystem type (statfs), when the caller knew it.
    pub backing_store_fs: Option<String>,
    pub block_size: u32,
    pub bytes_written: u64,
    /// dirty + writeback before the write.
    pub baseline_kib: u64,
    /// dirty + writeback at each sample while the session was open.
    pub samples_kib: Vec<u64>,
    /// The largest sample, and its parts.
    pub at_risk_kib: u64,
    pub dirty_kib: u64,
    pub writeback_kib: u64,
    pub at_risk_percent: f64,
    pub sha256_written: String,
    pub sha256_read: String,
    pub read_back_matches: bool,
    /// dirty + writeback after SYNCHRONIZE CACHE and logout (last sample).
    pub after_logout_kib: u64,
    pub drained: bool,
    /// Time of the writes alone (the pattern is hashed afterwards).
    pub write_seconds: f64,
    pub write_mib_per_second: f64,
    pub sample_seconds: f64,
    pub read_back_seconds: f64,
    pub sync_logout_seconds: f64,
    pub drain_seconds: f64,
    pub verdict: Verdict,
    pub reason: String,
}

/// Runs the measurement on a logged-in session and consumes it (it ends logged out).
/// `sample` reads tgtd's cgroup; it is called before, during and after.
pub fn measure<S, F, E>(
    mut session: Session<S>,
    p: &Params,
    mut sample: F,
) -> Result<DataAtRiskEvidence, DataAtRiskError>
where
    S: Transport,
    F: FnMut() -> Result<MemStat, E>,
    E: std::error::Error + Send + Sync + 'static,
{
    if p.mib == 0 {
        return Err(DataAtRiskError::BadSize(p.mib));
    }
    let mut sample = move || sample().map_err(|e| DataAtRiskError::Sample(Box::new(e)));
    let target = session.target().to_string();
    let cap = session.read_capacity(p.lun)?;
    let bs = cap.block_size;
    let bytes = p.mib << 20;
    let need = p.lba * u64::from(bs) + bytes;
    if cap.bytes() < need {
        return Err(IscsiError::LunTooSmall { lun: p.lun, have: cap.bytes(), need }.into());
    }
    let baseline = sample()?;

    // Write: a pattern that differs in every block, so a misplaced block changes the hash.
    // Hashing waits until after the samples: the write must be quick, or the kernel's
    // age-based writeback (dirty_expire_centisecs) empties the cache before we look.
    // The initiator asks for each command's bytes as it prepares it (several in flight).
    let started = Instant::now();
    session.write_with(p.lun, p.lba, bytes, fill_pattern_at)?;
    let write_seconds = started.elapsed().as_secs_f64();

    // Sample while the session is open: no SYNCHRONIZE CACHE has been sent yet.
    let started = Instant::now();
    let mut samples = Vec::new();
    for i in 0..p.samples.max(1) {
        if i > 0 {
            std::thread::sleep(p.sample_interval);
        }
        samples.push(sample()?);
    }
    let sample_seconds = started.elapsed().as_secs_f64();
    let max = samples.iter().copied().max_by_key(MemStat::at_risk).unwrap_or_default();

    let chunk = 4usize << 20;
    let mut buf = vec![0u8; chunk];
    let mut written_hash = Sha256::new();
    let mut off = 0u64;
    while off < bytes {
        let n = chunk.min((bytes - off) as usize);
        fill_pattern(&mut buf[..n], off);
        written_hash.update(&buf[..n]);
        off += n as u64;
    }

    let started = Instant::now();
    let mut read_hash = Sha256::new();
    session.read_each(p.lun, p.lba, bytes / u64::from(bs), |d| read_hash.update(d))?;
    let read_back_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    session.synchronize_cache(p.lun)?;
    session.logout()?;
    let sync_logout_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let safe_bytes = (bytes as f64 * SAFE_PERCENT / 100.0) as u64;
    let mut after = sample()?;
    while after.at_risk() > safe_bytes && started.elapsed() < p.drain_timeout {
        std::thread::sleep(Duration::from_millis(50));
        after = sample()?;
    }
    let drain_seconds = started.elapsed().as_secs_f64();
    let drained = after.at_risk() <= safe_bytes;

    let sha256_written = crate::digest::hex(&written_hash.finalize());
    let sha256_read = crate::digest::hex(&read_hash.finalize());
    let matches = sha256_written == sha256_read;
    let mut verdict = classify(max.at_risk(), bytes);
    let pct = percent(max.at_risk(), bytes);
    let expire = dirty_expire_seconds();
    let no_writeback = p.backing_store_fs.as_deref().filter(|fs| !has_writeback(fs));
    let reason = if let Some(fs) = no_writeback {
        verdict = Verdict::Inconclusive;
        format!(
            "the backing store is on {fs}, which has no page-cache writeback: its pages are never dirty, so {pct:.1} % at risk says nothing about the write cache"
        )
    } else if !matches {
        verdict = Verdict::Inconclusive;
        "the data read back differs from the data written".to_string()
    } else if verdict != Verdict::AtRisk && expire.is_some_and(|e| write_seconds >= e) {
        // Safe-looking numbers prove nothing if pages aged out of the cache during the write.
        verdict = Verdict::Inconclusive;
        format!(
            "the write took {write_seconds:.1} s, longer than the kernel's dirty expiry ({:.0} s): the cache may have been flushed by age",
            expire.unwrap_or_default()
        )
    } else {
        match verdict {
            Verdict::AtRisk => format!(
                "{pct:.1} % of the bytes written sat only in the target's page cache (>= {AT_RISK_PERCENT} %)"
            ),
            Verdict::Safe => format!(
                "{pct:.2} % of the bytes written were in the target's page cache (<= {SAFE_PERCENT} %)"
            ),
            Verdict::Inconclusive => format!(
                "{pct:.1} % is between the safe ({SAFE_PERCENT} %) and at-risk ({AT_RISK_PERCENT} %) thresholds"
            ),
        }
    };
    Ok(DataAtRiskEvidence {
        target,
        lun: p.lun,
        backing_store_fs: p.backing_store_fs.clone(),
        block_size: bs,
        bytes_written: bytes,
        baseline_kib: baseline.at_risk() / 1024,
        samples_kib: samples.iter().map(|s| s.at_risk() / 1024).collect(),
        at_risk_kib: max.at_risk() / 1024,
        dirty_kib: max.dirty / 1024,
        writeback_kib: max.writeback / 1024,
        at_risk_percent: pct,
        sha256_written,
        sha256_read,
        read_back_matches: matches,
        after_logout_kib: after.at_risk() / 1024,
        drained,
        write_seconds,
        write_mib_per_second: if write_seconds > 0.0 { p.mib as f64 / write_seconds } else { 0.0 },
        sample_seconds,
        read_back_seconds,
        sync_logout_seconds,
        drain_seconds,
        verdict,
        reason,
    })
}

/// The age after which the kernel writes dirty pages back on its own
/// (/proc/sys/vm/dirty_expire_centisecs; the testbed shares the host's kernel).
fn dirty_expire_seconds() -> Option<f64> {
    let t = crate::fsx::read_to_string(Path::new("/proc/sys/vm/dirty_expire_centisecs")).ok()?;
    t.trim().parse::<f64>().ok().map(|c| c / 100.0)
}

/// `fill_pattern` with the arguments in the order `Session::write_with` passes them.
fn fill_pattern_at(offset: u64, buf: &mut [u8]) {
    fill_pattern(buf, offset);
}

/// Fills `buf` (which starts `offset` bytes into the written range) with a xorshift stream
/// keyed by the position of each 8-byte word: cheap, reproducible, different everywhere.
pub fn fill_pattern(buf: &mut [u8], offset: u64) {
    for (i, w) in buf.chunks_mut(8).enumerate() {
        let mut x = (offset / 8 + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        w.copy_from_slice(&b[..w.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let w = 200 << 20;
        assert_eq!(classify(204_800 * 1024, w), Verdict::AtRisk, "design.md: write-cache on");
        assert_eq!(classify(w / 2, w), Verdict::AtRisk, "50 % is at risk");
        assert_eq!(classify(16 * 1024, w), Verdict::Safe, "design.md: write-cache off");
        assert_eq!(classify(w / 100, w), Verdict::Safe, "1 % is safe");
        assert_eq!(classify(w / 100 + 1024 * 1024, w), Verdict::Inconclusive);
        assert_eq!(classify(w / 2 - 1, w), Verdict::Inconclusive);
    }

    #[test]
    fn filesystems_without_writeback() {
        assert!(!has_writeback("tmpfs") && !has_writeback("ramfs"));
        assert!(has_writeback("ext2/ext3") && has_writeback("xfs") && has_writeback("btrfs"));
    }

    #[test]
    fn memory_stat_v1() {
        let text = "cache 1000\nrss 5\ndirty 209715200\nwriteback 4096\ntotal_dirty 1\n";
        let m = MemStat::parse(text);
        assert_eq!(m, MemStat { dirty: 209_715_200, writeback: 4096 });
        assert_eq!(m.at_risk(), 209_719_296);
    }

    #[test]
    fn pattern_is_positional() {
        let mut whole = vec![0u8; 4096];
        fill_pattern(&mut whole, 0);
        let mut tail = vec![0u8; 2048];
        fill_pattern(&mut tail, 2048);
        assert_eq!(&whole[2048..], &tail[..], "a chunk written later carries the same bytes");
        assert_ne!(&whole[..512], &whole[512..1024], "blocks differ");
    }
}
