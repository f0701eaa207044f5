//! bench/io-limit: the file-system work a quilt-compatible `push -a` cannot avoid, and
//! nothing else; the patch engine's physical limit in bench/patch-engine.
//!
//! Usage: io-limit TREE [link|move] (patches in TREE/debian/patches, listed by its `series`).
//! Reads the series and each patch once; finds the files each patch touches from its
//! `---`/`+++` headers (`-pN` from the series, default 1); for each touched file, reads it once
//! (a patch must see it), keeps its original in `.pc/<first patch>/` (a hard link, or a copy
//! where the file system has none, as quilt's backup-files does; the working file is then
//! replaced by a new inode; `move`: the original is renamed into `.pc/`, as GNU patch's
//! `--backup` under `quilt push` does, one operation fewer), writes the state a later patch starts from into
//! `.pc/<that patch>/`, and writes the working file once, new. Writes `.pc/`'s quilt
//! metadata, `.timestamp`s and `applied-patches`. It computes no hunk: the bytes it writes are
//! the files' own (the same sizes, near enough). No journal, one thread, no checks: the floor.
//! Built by bench/patch-engine with plain rustc (std only).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

fn create_new(path: &Path, data: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn mkdirs(dir: &Path, made: &mut HashSet<PathBuf>) {
    if made.insert(dir.to_path_buf()) {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
}

/// The file a patch section writes: the `+++` name, or the `---` one for a deletion.
fn touched(patch: &[u8], strip: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut old: Option<String> = None;
    for line in patch.split(|&b| b == b'\n') {
        let name = |l: &[u8]| {
            let l = String::from_utf8_lossy(&l[4..]).into_owned();
            l.split('\t').next().unwrap_or_default().trim_end().to_string()
        };
        if line.starts_with(b"--- ") {
            old = Some(name(line));
        } else if line.starts_with(b"+++ ") {
            if let Some(o) = old.take() {
                let new = name(line);
                let pick = if new == "/dev/null" { o } else { new };
                let parts: Vec<&str> = pick.split('/').collect();
                if parts.len() > strip {
                    let p = parts[strip..].join("/");
                    if !out.contains(&p) {
                        out.push(p);
                    }
                }
            }
        }
    }
    out
}

fn main() {
    let tree = PathBuf::from(std::env::args().nth(1).expect("usage: io-limit TREE [link|move]"));
    let moves = std::env::args().nth(2).as_deref() == Some("move");
    let patches = tree.join("debian/patches");
    let pc = tree.join(".pc");
    let series = fs::read_to_string(patches.join("series")).unwrap_or_default();
    let mut made = HashSet::new();
    mkdirs(&pc, &mut made);
    for (f, text) in [(".version", "2\n"), (".quilt_patches", "debian/patches\n"), (".quilt_series", "series\n")]
    {
        create_new(&pc.join(f), text.as_bytes());
    }
    // File -> its current contents (None: absent); the order in which files were first seen.
    let mut state: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    let mut order = Vec::new();
    let mut applied = String::new();
    for line in series.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace();
        let Some(name) = words.next() else { continue };
        let strip = words.find_map(|w| w.strip_prefix("-p")?.parse().ok()).unwrap_or(1);
        let patch = fs::read(patches.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let dir = pc.join(name);
        mkdirs(&dir, &mut made);
        for file in touched(&patch, strip) {
            let work = tree.join(&file);
            let backup = dir.join(&file);
            mkdirs(backup.parent().expect("below .pc"), &mut made);
            match state.get(&file) {
                Some(now) => create_new(&backup, now.as_deref().unwrap_or_default()),
                None => {
                    let data = fs::read(&work).ok();
                    match &data {
                        Some(_) if moves => {
                            fs::rename(&work, &backup).unwrap_or_else(|e| panic!("move {file}: {e}"))
                        }
                        Some(d) => {
                            if fs::hard_link(&work, &backup).is_err() {
                                create_new(&backup, d);
                            }
                        }
                        None => create_new(&backup, b""),
                    }
                    state.insert(file.clone(), Some(data.unwrap_or_default()));
                    order.push(file);
                }
            }
        }
        create_new(&dir.join(".timestamp"), b"");
        applied.push_str(name);
        applied.push('\n');
    }
    for file in &order {
        let work = tree.join(file);
        // A new inode: the original stays, unwritten, as the backup's hard link.
        if !moves {
            let _ = fs::remove_file(&work);
        }
        if let Some(parent) = work.parent() {
            mkdirs(parent, &mut made);
        }
        create_new(&work, state[file].as_deref().unwrap_or_default());
    }
    if !applied.is_empty() {
        create_new(&pc.join("applied-patches"), applied.as_bytes());
    }
}
