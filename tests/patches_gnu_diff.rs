//! Differential test of the hunk matcher against GNU patch itself (`patch -F0 -N -t`, the
//! options dpkg-source uses): random files with many repeated lines (so offsets and the
//! outward search matter), patches made by `diff -U0..3` (so start/end anchoring matters),
//! applied to a shifted and mutated copy. Both must agree on success and on every byte.

use srukit::patch::{diff, hunk};
use srukit::process::Cmd;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

fn random_lines(r: &mut Rng, n: usize) -> Vec<String> {
    (0..n).map(|_| format!("l{}\n", r.below(6))).collect()
}

fn mutate(r: &mut Rng, lines: &mut Vec<String>, edits: usize) {
    for _ in 0..edits {
        let at = r.below(lines.len() as u64 + 1);
        match r.below(3) {
            0 => lines.insert(at, format!("n{}\n", r.below(4))),
            1 if at < lines.len() => {
                lines.remove(at);
            }
            _ if at < lines.len() => lines[at] = format!("c{}\n", r.below(3)),
            _ => {}
        }
    }
}

#[test]
fn agrees_with_gnu_patch_on_random_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // SRUKIT_GNU_CASES / SRUKIT_GNU_SEED widen the search by hand; the suite runs 300.
    let cases: usize = std::env::var("SRUKIT_GNU_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 =
        std::env::var("SRUKIT_GNU_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_1234_abcd_ef01);
    let mut r = Rng(seed);
    let (mut agreed_ok, mut agreed_fail) = (0, 0);
    for case in 0..cases {
        let n = 3 + r.below(25);
        let old = random_lines(&mut r, n);
        let mut new = old.clone();
        let edits = 1 + r.below(4);
        mutate(&mut r, &mut new, edits);
        let mut target = old.clone();
        // Shift by lines at the start or end, and sometimes touch the context.
        for _ in 0..r.below(4) {
            target.insert(0, format!("s{}\n", r.below(3)));
        }
        for _ in 0..r.below(3) {
            target.push(format!("e{}\n", r.below(3)));
        }
        if r.below(3) == 0 {
            mutate(&mut r, &mut target, 1);
        }
        std::fs::write(d.join("a"), old.concat()).unwrap();
        std::fs::write(d.join("b"), new.concat()).unwrap();
        std::fs::write(d.join("t"), target.concat()).unwrap();
        let ctx = r.below(4);
        let out =
            Cmd::new("diff").arg(format!("-U{ctx}")).args(["a", "b"]).cwd(d).output_unchecked().unwrap();
        if out.stdout.is_empty() {
            continue;
        }
        let patch = out.stdout;
        let _ = std::fs::remove_file(d.join("out"));
        let gnu = Cmd::new("patch")
            .args([
                "-F0",
                "-N",
                "-t",
                "-u",
                "-s",
                "--no-backup-if-mismatch",
                "-r",
                "/dev/null",
                "-o",
                "out",
                "t",
            ])
            .cwd(d)
            .stdin_bytes(patch.clone())
            .output_unchecked()
            .unwrap();
        let hunks = diff::parse(&patch, 0).unwrap().sections.remove(0).hunks;
        let mine = hunk::apply(target.concat().as_bytes(), &hunks);
        match (gnu.status.success(), mine) {
            (true, Ok(a)) => {
                assert_eq!(a.data, std::fs::read(d.join("out")).unwrap(), "case {case}: output differs");
                agreed_ok += 1;
            }
            (false, Err(_)) => agreed_fail += 1,
            (g, m) => panic!(
                "case {case}: GNU patch {} but srukit {}\npatch:\n{}\ntarget:\n{}",
                if g { "applied" } else { "failed" },
                if m.is_ok() { "applied" } else { "failed" },
                String::from_utf8_lossy(&patch),
                target.concat()
            ),
        }
    }
    eprintln!("agreed: {agreed_ok} applied, {agreed_fail} failed");
    assert!(agreed_ok > 50 && agreed_fail > 20, "the cases must exercise both outcomes");
}
