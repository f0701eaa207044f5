//! All or nothing for a set of files: what `apply` may touch (files, directories it creates,
//! quilt's `.pc/`), recorded before and restored byte for byte and mode for mode on failure.

use std::path::{Path, PathBuf};

use crate::fsx::{self, FsError};

/// A file's bytes and mode, or None when it did not exist.
type FileState = Option<(Vec<u8>, std::fs::Permissions)>;

/// What apply may touch, as it was: restored on failure, byte for byte and mode for mode.
pub struct Snapshot {
    files: Vec<(PathBuf, FileState)>,
    /// Directories that did not exist (removed again on restore).
    created_dirs: Vec<PathBuf>,
    /// `.pc` (with --push): a copy, or None when it did not exist.
    pc: Option<(PathBuf, Option<tempfile::TempDir>)>,
}

impl Snapshot {
    /// Records `files` (bytes and mode, or absence), which of `dirs` do not exist yet, and a
    /// copy of the `pc` directory when given.
    pub fn take(files: &[PathBuf], dirs: &[&Path], pc: Option<&Path>) -> Result<Snapshot, FsError> {
        let mut states = Vec::new();
        for path in files {
            let state = match fsx::read_optional(path)? {
                Some(bytes) => Some((bytes, fsx::metadata(path)?.permissions())),
                None => None,
            };
            states.push((path.clone(), state));
        }
        let created_dirs = dirs.iter().filter(|d| !d.is_dir()).map(|d| d.to_path_buf()).collect();
        let pc = match pc {
            Some(pc) => {
                let copy = if pc.exists() {
                    let tmp = tempfile::tempdir().map_err(|source| FsError {
                        op: "create",
                        path: std::env::temp_dir(),
                        source,
                    })?;
                    fsx::copy_tree(pc, &tmp.path().join("pc"))?;
                    Some(tmp)
                } else {
                    None
                };
                Some((pc.to_path_buf(), copy))
            }
            None => None,
        };
        Ok(Snapshot { files: states, created_dirs, pc })
    }

    /// Puts everything back as it was.
    pub fn restore(self) -> Result<(), FsError> {
        for (path, state) in &self.files {
            match state {
                Some((bytes, perm)) => {
                    fsx::write_atomic(path, bytes)?;
                    fsx::set_permissions(path, perm.clone())?;
                }
                None => fsx::remove_file_if_exists(path)?,
            }
        }
        for dir in &self.created_dirs {
            fsx::remove_dir_all(dir)?;
        }
        if let Some((pc, copy)) = &self.pc {
            fsx::remove_dir_all(pc)?;
            if let Some(tmp) = copy {
                fsx::copy_tree(&tmp.path().join("pc"), pc)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn restore_puts_back_files_modes_dirs_and_pc() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (kept, new, made, pc) =
            (root.join("kept"), root.join("made/new"), root.join("made"), root.join(".pc"));
        fsx::write(&kept, b"old\n").unwrap();
        fsx::set_permissions(&kept, std::fs::Permissions::from_mode(0o755)).unwrap();
        fsx::create_dir_all(&pc).unwrap();
        fsx::write(&pc.join(".version"), b"2\n").unwrap();
        let snap =
            Snapshot::take(&[kept.clone(), new.clone()], &[made.as_path()], Some(pc.as_path())).unwrap();

        fsx::write_atomic(&kept, b"new\n").unwrap();
        fsx::create_dir_all(&made).unwrap();
        fsx::write(&new, b"x").unwrap();
        fsx::write(&pc.join("applied-patches"), b"a.patch\n").unwrap();
        snap.restore().unwrap();

        assert_eq!(fsx::read(&kept).unwrap(), b"old\n");
        assert_eq!(fsx::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o755);
        assert!(!made.exists(), "a directory apply made is removed");
        assert_eq!(fsx::read(&pc.join(".version")).unwrap(), b"2\n");
        assert!(!pc.join("applied-patches").exists());
    }
}
