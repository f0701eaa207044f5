//! Filesystem calls that carry the path in their error.
//!
//! Nothing else in srukit calls `std::fs` directly: an error that says "No such file or
//! directory" without saying which file is useless to a release engineer at 2 a.m.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::exit::{Exit, ExitCodeOf};

#[derive(Debug, thiserror::Error)]
#[error("could not {op} {}: {source}", path.display())]
pub struct FsError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl ExitCodeOf for FsError {
    fn exit(&self) -> Exit {
        match self.source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::InvalidData => Exit::BadInput,
            _ => Exit::CouldNotRun,
        }
    }
}

pub type Result<T> = std::result::Result<T, FsError>;

fn ctx<T>(op: &'static str, path: &Path, r: io::Result<T>) -> Result<T> {
    r.map_err(|source| FsError { op, path: path.to_path_buf(), source })
}

pub fn read(path: &Path) -> Result<Vec<u8>> {
    ctx("read", path, fs::read(path))
}

/// Reads a file whose size was just seen (no second stat): open, reads, close.
pub fn read_sized(path: &Path, size: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut f = ctx("open", path, fs::File::open(path))?;
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    // Through `take`: File's own read_to_end would stat the file again for a size hint.
    ctx("read", path, (&mut f).take(u64::MAX).read_to_end(&mut buf))?;
    Ok(buf)
}

/// Opens a file for reading (e.g. a namespace handle for `setns`).
pub fn open(path: &Path) -> Result<fs::File> {
    ctx("open", path, fs::File::open(path))
}

pub fn read_to_string(path: &Path) -> Result<String> {
    ctx("read", path, fs::read_to_string(path))
}

/// Reads a file that may not exist: `Ok(None)` when it does not.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FsError { op: "read", path: path.to_path_buf(), source }),
    }
}

pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    ctx("write", path, fs::write(path, contents))
}

/// Creates `path`, which must not exist, with `contents` and exactly `mode`: always a new
/// inode, never written through an existing file or a hard link to one.
pub fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f =
        ctx("create", path, fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path))?;
    ctx("write", path, f.write_all(contents))?;
    // open() applies the umask (and may drop set-id bits): fix the mode only then.
    if mode & 0o7000 != 0 || mode & umask() != 0 {
        ctx("chmod", path, f.set_permissions(fs::Permissions::from_mode(mode)))?;
    }
    Ok(())
}

/// The process's umask, read once (setting it back at once: nothing else runs yet).
fn umask() -> u32 {
    use nix::sys::stat::{Mode, umask};
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let old = umask(Mode::from_bits_truncate(0o022));
        umask(old);
        old.bits()
    })
}

/// Writes through a temporary file in the same directory and renames it into place, so a
/// reader (or a crash) sees the old contents or the new, never half of them.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.srukit-tmp"));
    {
        use std::io::Write;
        let mut f = ctx("create", &tmp, fs::File::create(&tmp))?;
        ctx("write", &tmp, f.write_all(contents.as_ref()))?;
        ctx("sync", &tmp, f.sync_all())?;
    }
    rename(&tmp, path)
}

pub fn create_dir_all(path: &Path) -> Result<()> {
    ctx("create directory", path, fs::create_dir_all(path))
}

pub fn remove_file(path: &Path) -> Result<()> {
    ctx("remove", path, fs::remove_file(path))
}

/// Removes a file if it exists; a missing file is not an error.
pub fn remove_file_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => ctx("remove", path, r),
    }
}

pub fn remove_dir(path: &Path) -> Result<()> {
    ctx("remove directory", path, fs::remove_dir(path))
}

pub fn remove_dir_all(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => ctx("remove directory", path, r),
    }
}

pub fn rename(from: &Path, to: &Path) -> Result<()> {
    ctx("rename", from, fs::rename(from, to))
}

pub fn copy(from: &Path, to: &Path) -> Result<u64> {
    ctx("copy", from, fs::copy(from, to))
}

pub fn metadata(path: &Path) -> Result<fs::Metadata> {
    ctx("stat", path, fs::metadata(path))
}

pub fn read_link(path: &Path) -> Result<PathBuf> {
    ctx("readlink", path, fs::read_link(path))
}

pub fn symlink(target: &Path, link: &Path) -> Result<()> {
    ctx("symlink", link, std::os::unix::fs::symlink(target, link))
}

pub fn symlink_metadata(path: &Path) -> Result<fs::Metadata> {
    ctx("stat", path, fs::symlink_metadata(path))
}

pub fn read_dir(path: &Path) -> Result<fs::ReadDir> {
    ctx("list", path, fs::read_dir(path))
}

pub fn canonicalize(path: &Path) -> Result<PathBuf> {
    ctx("resolve", path, fs::canonicalize(path))
}

/// `canonicalize` for a path that may not exist yet: its deepest existing ancestor resolved,
/// the rest appended. Lets a caller check where a directory would be before creating it.
pub fn canonicalize_to_be(path: &Path) -> Result<PathBuf> {
    let abs = ctx("resolve", path, std::path::absolute(path))?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while fs::symlink_metadata(existing).is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut out = canonicalize(existing)?;
    out.extend(rest.iter().rev());
    Ok(out)
}

pub fn set_permissions(path: &Path, perm: fs::Permissions) -> Result<()> {
    ctx("chmod", path, fs::set_permissions(path, perm))
}

pub fn chown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    ctx("chown", path, std::os::unix::fs::chown(path, Some(uid), Some(gid)))
}

/// Copies a directory tree (files, symlinks, modes), as `cp -a` would for our purposes.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    copy_tree_except(from, to, |_| false)
}

/// `copy_tree`, leaving out every path (relative to `from`) that `skip` names; a skipped
/// directory is not entered.
pub fn copy_tree_except(from: &Path, to: &Path, skip: impl Fn(&Path) -> bool) -> Result<()> {
    use std::os::unix::fs::symlink;
    let walk = walkdir::WalkDir::new(from).follow_links(false).into_iter().filter_entry(|e| {
        let rel = e.path().strip_prefix(from).expect("walkdir stays below its root");
        rel.as_os_str().is_empty() || !skip(rel)
    });
    for entry in walk {
        let entry = entry.map_err(|e| FsError {
            op: "walk",
            path: e.path().map(Path::to_path_buf).unwrap_or_else(|| from.to_path_buf()),
            source: e.into_io_error().unwrap_or_else(|| io::Error::other("walk error")),
        })?;
        let rel = entry.path().strip_prefix(from).expect("walkdir stays below its root");
        let dest = to.join(rel);
        let ft = entry.file_type();
        if ft.is_dir() {
            create_dir_all(&dest)?;
            set_permissions(&dest, metadata(entry.path())?.permissions())?;
        } else if ft.is_symlink() {
            let target = ctx("read link", entry.path(), fs::read_link(entry.path()))?;
            ctx("create symlink", &dest, symlink(target, &dest))?;
        } else {
            copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_path() {
        let err = read(Path::new("/nonexistent/srukit-test")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/srukit-test"), "{err}");
        assert_eq!(err.exit(), Exit::BadInput);
    }

    #[test]
    fn canonicalize_to_be_resolves_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let real = canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink(&real, real.join("link")).unwrap();
        let to_be = canonicalize_to_be(&dir.path().join("link/a/b")).unwrap();
        assert_eq!(to_be, real.join("a/b"));
        assert!(!real.join("a").exists(), "nothing is created");
    }

    #[test]
    fn write_new_makes_a_new_file_with_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_new(&p, b"x", 0o664).unwrap();
        assert_eq!(metadata(&p).unwrap().permissions().mode() & 0o7777, 0o664);
        let err = write_new(&p, b"y", 0o644).unwrap_err();
        assert!(err.to_string().contains(&*p.to_string_lossy()), "{err}");
        assert_eq!(read(&p).unwrap(), b"x", "an existing file is never written through");
    }

    #[test]
    fn write_atomic_replaces_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left behind");
    }
}
