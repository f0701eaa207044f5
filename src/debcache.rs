//! The shared .deb cache, content-addressed: `$XDG_CACHE_HOME/srukit/debs/<sha256>.deb`, one
//! store for every testbed and every run (a build's build-dependencies, verify's `apt:`
//! packages). Reads and writes only that directory, and a testbed's apt archives dir through
//! the `Testbed` trait.
//!
//! A file enters the store only under the sha256 of its own bytes, and only when that is the
//! hash the archive's index gives (apt verified the index's signature): a testbed can hand in
//! anything, but nothing whose hash is not the index's is stored. Entries are written to a
//! temporary name and renamed into place, so concurrent builds see a whole file or none; and
//! every use hashes the entry again, so a corrupted one is removed and fetched anew, never
//! installed.

use std::path::{Path, PathBuf};

use crate::fsx::{self, FsError};
use crate::testbed::{ExecRequest, Testbed, TestbedError};

/// apt's download cache inside a Debian testbed: a file there whose hash is the index's is
/// used instead of a download (apt's pkgAcqArchive).
pub const APT_ARCHIVES: &str = "/var/cache/apt/archives";

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("testbed")]
    Testbed(#[from] Box<TestbedError>),
    #[error("`{cmd}` in the testbed exited with status {status}: {tail}")]
    Apt { cmd: String, status: i32, tail: String },
}

impl From<TestbedError> for CacheError {
    fn from(e: TestbedError) -> CacheError {
        CacheError::Testbed(Box::new(e))
    }
}

/// The store's directory.
pub fn dir() -> PathBuf {
    crate::testbed::cache_root().join("debs")
}

fn entry(sha256: &str) -> PathBuf {
    dir().join(format!("{sha256}.deb"))
}

/// What the store holds for one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(PathBuf),
    Miss,
    /// The entry's bytes hash to `got`: it was removed (a later put replaces it).
    Corrupt {
        path: PathBuf,
        got: String,
    },
}

/// The entry for `sha256`, hashed again before it is handed out.
pub fn get(sha256: &str) -> Result<Lookup, FsError> {
    let path = entry(sha256);
    if !path.is_file() {
        return Ok(Lookup::Miss);
    }
    let got = crate::digest::sha256_file(&path)?.1;
    if got == sha256 {
        mark_used(&path);
        return Ok(Lookup::Hit(path));
    }
    fsx::remove_file_if_exists(&path)?;
    Ok(Lookup::Corrupt { path, got })
}

/// An entry's mtime is its last use: gc removes what no build or run used for `UNUSED_FOR_GC`.
/// Best effort: an entry whose time cannot be set is only removed sooner.
fn mark_used(path: &Path) {
    if let Ok(f) = std::fs::File::options().write(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// How long an entry may go unused before `srukit testbed gc` removes it.
pub const UNUSED_FOR_GC: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// For `srukit testbed gc`: removes entries unused for `UNUSED_FOR_GC` and temporary files
/// whose writer is gone. Returns the paths removed.
pub fn collect_garbage() -> Result<Vec<PathBuf>, FsError> {
    let mut removed = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir()) else { return Ok(removed) };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stale = match crate::process::tmp_owner(&name) {
            Some(pid) => !crate::process::pid_alive(pid),
            None => {
                name.ends_with(".deb")
                    && e.metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > UNUSED_FOR_GC)
            }
        };
        if stale {
            fsx::remove_file_if_exists(&e.path())?;
            removed.push(e.path());
        }
    }
    Ok(removed)
}

/// Stores `file` under `sha256` if its bytes hash to it (copied, so the caller's file stays
/// its own); false, and nothing stored, when they do not.
pub fn put(file: &Path, sha256: &str) -> Result<bool, FsError> {
    let d = dir();
    fsx::create_dir_all(&d)?;
    let tmp = d.join(format!(".tmp-{}-{sha256}", std::process::id()));
    fsx::copy(file, &tmp)?;
    adopt(&tmp, sha256)
}

/// Renames a temporary file of the store's directory into place if it hashes to `sha256`;
/// removes it otherwise.
fn adopt(tmp: &Path, sha256: &str) -> Result<bool, FsError> {
    if crate::digest::sha256_file(tmp)?.1 != sha256 {
        fsx::remove_file_if_exists(tmp)?;
        return Ok(false);
    }
    fsx::rename(tmp, &entry(sha256))?;
    Ok(true)
}

/// One .deb apt would fetch (`apt-get ... --print-uris`: `'URI' FILE SIZE SHA256:HEX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub file: String,
    pub sha256: String,
}

/// Parses `--print-uris` output; lines without a SHA256 (a local repository) are skipped,
/// so such a file is never cached.
pub fn parse_print_uris(text: &str) -> Vec<Wanted> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let uri = f.next()?;
            let file = f.next()?;
            let _size = f.next()?;
            let sha256 = f.next()?.strip_prefix("SHA256:")?;
            let ok = uri.starts_with('\'')
                && !file.contains('/')
                && sha256.len() == 64
                && sha256.bytes().all(|b| b.is_ascii_hexdigit());
            ok.then(|| Wanted { file: file.to_string(), sha256: sha256.to_ascii_lowercase() })
        })
        .collect()
}

/// What seeding a testbed's apt found.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    /// Copied in from the store.
    pub hits: Vec<Wanted>,
    /// Not in the store (apt fetches them; `harvest` stores them afterwards).
    pub missing: Vec<Wanted>,
    /// Store entries whose bytes were not their hash: removed, and fetched by apt instead.
    pub corrupt: Vec<(Wanted, String)>,
}

impl Seeded {
    /// One line for a log: how many came from the store, how many apt must download.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "srukit: deb cache {}: {} of {} .debs from the cache, {} to download",
            dir().display(),
            self.hits.len(),
            self.hits.len() + self.missing.len(),
            self.missing.len()
        );
        for w in &self.hits {
            s.push_str(&format!("\nsrukit: deb cache: {} {} from the cache", w.file, w.sha256));
        }
        for w in &self.missing {
            s.push_str(&format!("\nsrukit: deb cache: {} {} to download", w.file, w.sha256));
        }
        for (w, got) in &self.corrupt {
            s.push_str(&format!(
                "\nsrukit: deb cache: {}.deb ({}) is corrupt (sha256 {got}): removed, downloaded again",
                w.sha256, w.file
            ));
        }
        s
    }
}

/// Asks the testbed's apt which .debs `apt_args` (an apt-get command line without
/// `apt-get`, shell-quoted) would fetch, and copies the cached ones into its archives dir.
/// A copy, never a link or a bind: nothing the testbed does reaches the store.
pub fn seed(tb: &mut dyn Testbed, apt_args: &str) -> Result<Seeded, CacheError> {
    // apt prints the MD5Sum unless told which hash (Acquire::ForceHash).
    let cmd = format!("apt-get -o Acquire::ForceHash=SHA256 --print-uris -qq {apt_args}");
    let out = tb.exec(&ExecRequest::shell(&cmd))?;
    if !out.success() {
        return Err(CacheError::Apt {
            cmd,
            status: out.status,
            tail: crate::process::tail(&[out.stdout.as_slice(), out.stderr.as_slice()].concat(), 10),
        });
    }
    let mut seeded = Seeded::default();
    for w in parse_print_uris(&out.stdout_str()) {
        match get(&w.sha256)? {
            Lookup::Hit(path) => {
                tb.copy_in(&path, &Path::new(APT_ARCHIVES).join(&w.file))?;
                seeded.hits.push(w);
            }
            Lookup::Miss => seeded.missing.push(w),
            Lookup::Corrupt { got, .. } => {
                seeded.corrupt.push((w.clone(), got));
                seeded.missing.push(w);
            }
        }
    }
    Ok(seeded)
}

/// After apt fetched what `seed` found missing: each such file in the testbed's archives
/// dir is copied out and stored if it hashes to the index's sha256 (the only way in).
/// Returns how many were stored.
pub fn harvest(tb: &mut dyn Testbed, missing: &[Wanted]) -> Result<usize, CacheError> {
    let d = dir();
    fsx::create_dir_all(&d)?;
    let mut stored = 0;
    for w in missing {
        let tmp = d.join(format!(".tmp-{}-{}", std::process::id(), w.sha256));
        if tb.copy_out(&Path::new(APT_ARCHIVES).join(&w.file), &tmp).is_err() {
            // apt did not fetch it (e.g. a download-only run that stopped): nothing to store.
            fsx::remove_file_if_exists(&tmp)?;
            continue;
        }
        if adopt(&tmp, &w.sha256)? {
            stored += 1;
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_uris_lines_give_file_and_sha256() {
        let sha = "a".repeat(64);
        let text = format!(
            "'http://deb.debian.org/debian/pool/main/t/texinfo/texinfo_6.8-6%2bb1_amd64.deb' texinfo_6.8-6+b1_amd64.deb 1731492 SHA256:{sha}\n\
             'file:/srv/repo/foo_1_all.deb' foo_1_all.deb 10 MD5Sum:0123\n\
             'http://x/../evil' ../evil 1 SHA256:{sha}\n"
        );
        assert_eq!(
            parse_print_uris(&text),
            [Wanted { file: "texinfo_6.8-6+b1_amd64.deb".into(), sha256: sha }]
        );
    }
}
