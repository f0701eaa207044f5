//! The exported runtime (runtime.sh) under dash against srukit's own code: patterns decided
//! as `Pattern::holds` decides them, edits as `set_line` and `ini_edit::set` make them,
//! hostile strings as valid JSON. Each case runs in a temp dir; nothing outside it is touched.

use std::path::Path;

use crate::process::Cmd;
use crate::verify::families::matchers::Pattern;

use super::sh::{pattern_call, q};

const RUNTIME: &str = include_str!("runtime.sh");

/// Runs `body` after the runtime in dash, in `dir`; returns (status, stdout).
fn dash(dir: &Path, body: &str) -> (i32, Vec<u8>) {
    let script = format!("set -u\nsk_side=after\nsk_test=t\n{RUNTIME}\n{body}\n");
    let out = Cmd::new("dash")
        .arg("-c")
        .arg(script)
        .cwd(dir)
        .env("TMPDIR", dir)
        .env("AUTOPKGTEST_ARTIFACTS", dir.join("art"))
        .output_unchecked()
        .expect("dash runs");
    assert!(out.stderr.is_empty(), "the runtime wrote to stderr: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), out.stdout)
}

#[test]
fn patterns_decide_as_srukit_does() {
    let texts: &[&[u8]] = &[
        b"",
        b"\n",
        b"ok\n",
        b"ok",
        b"warning: disk full\nok\n",
        b"a\n\nb",
        b"ENABLED=1\nOTHER=2\n",
        b"caf\xc3\xa9 \xe2\x82\xac x=1\n",
        b"bad \xff bytes\nsegmentation violation\n",
        b"tab\there\r\nnul\x00byte\n",
        b"x=\n",
    ];
    let patterns = [
        "ok",
        "!ok",
        "/^ok$/",
        "!/^ok$/",
        "/^$/",
        "!/^$/",
        "/x*/",
        "/warning: .*/",
        "/^ENABLED=[01]$/",
        "/(?m)^ok$/",
        "/caf(é)+/",
        "/é.+x/",
        "/[^ \\n]+=1/",
        "segmentation violation",
        "/seg[a-z]+ation/",
        "/(?i)OK/",
        "/x=$/",
        "/(?-u:\\b)ok(?-u:\\b)/",
        "/nul.byte/",
        "/\\x00/",
        "/a(|b)c/",
        "/^(ok|x=)$/",
        "/bytes$/",
        "!/\\r$/",
        "/e\\r$/",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    let mut want = String::new();
    let mut cases = 0;
    for (ti, text) in texts.iter().enumerate() {
        std::fs::write(dir.path().join(format!("t{ti}")), text).unwrap();
        let lossy = String::from_utf8_lossy(text);
        for p in patterns {
            let parsed = Pattern::parse(p).unwrap();
            // Patterns the export refuses are refused, not guessed (e.g. a NUL).
            let Ok(call) = pattern_call(&format!("t{ti}"), &parsed) else { continue };
            body.push_str(&format!("if {call}; then echo 1; else echo 0; fi\n"));
            want.push_str(if parsed.holds(&lossy) { "1\n" } else { "0\n" });
            cases += 1;
        }
    }
    let (status, out) = dash(dir.path(), &body);
    assert_eq!(status, 0);
    let got = String::from_utf8(out).unwrap();
    let (got, want): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    assert_eq!(got.len(), cases);
    let mut i = 0;
    for (ti, text) in texts.iter().enumerate() {
        for p in patterns {
            if pattern_call("f", &Pattern::parse(p).unwrap()).is_err() {
                continue;
            }
            assert_eq!(got[i], want[i], "pattern {p:?} on {:?}", String::from_utf8_lossy(text));
            i += 1;
            let _ = ti;
        }
    }
    assert!(cases > 200, "{cases}");
}

#[test]
fn edits_write_what_srukit_writes() {
    let inputs: &[&str] = &[
        "",
        "ENABLED=1\nOTHER=2\n",
        "# comment\n#ENABLED=1\nOTHER=2\n",
        "#ENABLED=1\nENABLED=1\n",
        "ENABLED_X=1\n",
        "OTHER=2",
        "  ENABLED = 1\n",
        "ENABLED=1\nOTHER=2",
        "[DEFAULT]\n# comment\nverbose = true\nENABLED = on\n\n[database]\nx = 1\n",
        "[DEFAULT]\n#ENABLED = on\n",
        "[other]\na = 1",
        "[DEFAULT]\nx = 1\n\n\n[next]\n",
        "[ DEFAULT ]\n  ENABLED=2 \n",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for (i, text) in inputs.iter().enumerate() {
        for kind in ["set", "ini", "append"] {
            let f = dir.path().join(format!("{kind}{i}/etc/x.conf"));
            if !text.is_empty() {
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(&f, text).unwrap();
            }
            let f = q(&f.display().to_string());
            body.push_str(&match kind {
                "set" => format!("sk_edit_set {f} ENABLED {} || echo fail\n", q("\"'v a\\l'\"")),
                "ini" => format!("sk_edit_ini {f} DEFAULT ENABLED 'o\\ff' || echo fail\n"),
                _ => format!("sk_edit_append {f} 'extra = yes' || echo fail\n"),
            });
        }
    }
    let (status, out) = dash(dir.path(), &body);
    assert_eq!((status, String::from_utf8_lossy(&out).as_ref()), (0, ""));
    for (i, text) in inputs.iter().enumerate() {
        let read =
            |kind: &str| std::fs::read_to_string(dir.path().join(format!("{kind}{i}/etc/x.conf"))).unwrap();
        assert_eq!(
            read("set"),
            crate::verify::run::set_line(text, "ENABLED", "\"'v a\\l'\""),
            "set on {text:?}"
        );
        assert_eq!(
            read("ini"),
            crate::verify::ini_edit::set(text, "DEFAULT", "ENABLED", "o\\ff"),
            "ini on {text:?}"
        );
        let mut appended = text.to_string();
        if !appended.is_empty() && !appended.ends_with('\n') {
            appended.push('\n');
        }
        appended.push_str("extra = yes\n");
        assert_eq!(read("append"), appended, "append on {text:?}");
    }
}

#[test]
fn hostile_strings_are_valid_json() {
    let cases: &[&[u8]] = &[
        b"plain",
        b"quote \" backslash \\ slash /",
        b"\x00\x01\x1f\x7f controls\n\t\r",
        "caf\u{e9} \u{20ac} \u{1f600} \u{fffd}".as_bytes(),
        b"bad \xff\xfe \xc3 truncated \xe2\x82",
        b"overlong \xc0\xaf surrogate \xed\xa0\x80",
        b"${HOME} $(id) `id` '; rm -rf / #",
        b"",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for (i, c) in cases.iter().enumerate() {
        std::fs::write(dir.path().join(format!("s{i}")), c).unwrap();
        body.push_str(&format!("sk_json_file s{i} 65536; echo\n"));
    }
    // The short-string form too, through printf.
    body.push_str("sk_json \"$(printf 'a\\\\b\"c')\"; echo\n");
    let (status, out) = dash(dir.path(), &body);
    assert_eq!(status, 0);
    let out = String::from_utf8(out).expect("the JSON is ASCII");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), cases.len() + 1);
    for (c, line) in cases.iter().zip(&lines) {
        assert!(line.is_ascii(), "{line}");
        let v: String = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        match std::str::from_utf8(c) {
            Ok(s) => assert_eq!(v, s),
            Err(_) => {
                assert!(v.contains('\u{fffd}'), "{v:?}");
                assert_eq!(v.replace('\u{fffd}', ""), String::from_utf8_lossy(c).replace('\u{fffd}', ""));
            }
        }
    }
    assert_eq!(serde_json::from_str::<String>(lines[cases.len()]).unwrap(), "a\\b\"c");
}

#[test]
fn one_outcome_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let body = "sk_select 1 1 '' 'w0'; sk_select 2 1 ' a' 'w1'; sk_select 3 1 ' a b' 'w2'\n\
                for c in 1 2 3; do cat \"$sk_work/o/$c.1/outcome\"; echo; done";
    let (_, out) = dash(dir.path(), body);
    assert_eq!(String::from_utf8(out).unwrap(), "unmatched\na\nerror\n");
}
