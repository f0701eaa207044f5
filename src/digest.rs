//! Hex digests: the sha256 that manifests, results and cache keys name files by.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::fsx::FsError;

/// Lower-case hex, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and sha256 of a file, read in chunks (debs and images can be large).
pub fn sha256_file(path: &Path) -> Result<(u64, String), FsError> {
    let mut f =
        std::fs::File::open(path).map_err(|source| FsError { op: "open", path: path.into(), source })?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|source| FsError { op: "read", path: path.into(), source })?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, hex(&h.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let (size, sum) = sha256_file(&p).unwrap();
        assert_eq!(size, 3);
        assert_eq!(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
