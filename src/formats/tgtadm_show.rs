//! `tgtadm --lld iscsi --mode target --op show`: what tgtd itself serves, target by target,
//! LUN by LUN, with each LUN's backing store. Reads the command's text; writes nothing.
//! The checks use it to find the LUN under test by its backing store path, not by number.
//!
//! The layout is tgt 1.0.85's (`usr/target.c`, `tgt_target_show_all`): `Target TID: NAME` at
//! the left margin, then indented sections; under `LUN information:` each `LUN: N` is
//! followed by `Key: value` lines (`Type`, `SCSI SN`, `Backing store path`, ...).

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownTarget {
    pub tid: u32,
    pub iqn: String,
    pub luns: Vec<ShownLun>,
    /// The CHAP accounts bound to the target (user names only: tgtadm shows no passwords).
    pub accounts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownLun {
    pub lun: u16,
    pub kind: String,
    pub scsi_sn: String,
    pub backing_store_type: String,
    /// `None` for the controller LUN (tgt prints the word `None`).
    pub backing_store_path: Option<String>,
    pub backing_store_flags: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("tgtadm --op show, line {line}: {message}")]
pub struct ShowError {
    pub line: usize,
    pub message: String,
}

enum Section {
    Other,
    Luns,
    Accounts,
}

/// Parses the whole output (every target tgtd has).
pub fn parse(text: &str) -> Result<Vec<ShownTarget>, ShowError> {
    let mut targets: Vec<ShownTarget> = Vec::new();
    let mut section = Section::Other;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| ShowError { line, message };
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(rest) = raw.strip_prefix("Target ") {
            let (tid, iqn) = rest.split_once(": ").ok_or_else(|| err(format!("malformed `{raw}`")))?;
            let tid = tid.trim().parse().map_err(|_| err(format!("target id `{tid}` is not a number")))?;
            targets.push(ShownTarget {
                tid,
                iqn: iqn.trim().to_string(),
                luns: Vec::new(),
                accounts: Vec::new(),
            });
            section = Section::Other;
            continue;
        }
        let target =
            targets.last_mut().ok_or_else(|| err(format!("`{}` before any `Target`", raw.trim())))?;
        let t = raw.trim();
        match t {
            "LUN information:" => section = Section::Luns,
            "Account information:" => section = Section::Accounts,
            _ if raw.starts_with("    ") && !raw.starts_with("     ") && t.ends_with(':') => {
                section = Section::Other
            }
            _ => match section {
                Section::Accounts => target.accounts.push(t.trim_end_matches(" (outgoing)").to_string()),
                Section::Luns => {
                    let (key, value) = t.split_once(':').ok_or_else(|| err(format!("malformed `{t}`")))?;
                    let value = value.trim();
                    if key == "LUN" {
                        let lun = value.parse().map_err(|_| err(format!("LUN `{value}` is not a number")))?;
                        target.luns.push(ShownLun {
                            lun,
                            kind: String::new(),
                            scsi_sn: String::new(),
                            backing_store_type: String::new(),
                            backing_store_path: None,
                            backing_store_flags: String::new(),
                        });
                        continue;
                    }
                    let lun =
                        target.luns.last_mut().ok_or_else(|| err(format!("`{t}` before any `LUN:`")))?;
                    match key {
                        "Type" => lun.kind = value.into(),
                        "SCSI SN" => lun.scsi_sn = value.into(),
                        "Backing store type" => lun.backing_store_type = value.into(),
                        "Backing store path" if value != "None" => {
                            lun.backing_store_path = Some(value.into())
                        }
                        "Backing store flags" => lun.backing_store_flags = value.into(),
                        _ => {}
                    }
                }
                Section::Other => {}
            },
        }
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tgt 1.0.85 (Debian 12), one cinder target with CHAP and a decoy with two disk LUNs.
    const SHOW: &str = "Target 1: iqn.2010-10.org.openstack:volume-1
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
    LUN information:
        LUN: 0
            Type: controller
            SCSI ID: IET     00010000
            SCSI SN: beaf10
            Size: 0 MB, Block size: 1
            Online: Yes
            Removable media: No
            Prevent removal: No
            Readonly: No
            SWP: No
            Thin-provisioning: No
            Backing store type: null
            Backing store path: None
            Backing store flags: 
        LUN: 1
            Type: disk
            SCSI ID: IET     00010001
            SCSI SN: beaf11
            Size: 268 MB, Block size: 512
            Online: Yes
            Removable media: No
            Prevent removal: No
            Readonly: No
            SWP: No
            Thin-provisioning: No
            Backing store type: rdwr
            Backing store path: /srv/data/lun-1.img
            Backing store flags: direct
    Account information:
        fixture
    ACL information:
        ALL
Target 2: iqn.x:decoy
    System information:
        Driver: iscsi
        State: ready
    I_T nexus information:
        I_T nexus: 3
            Initiator: iqn.y alias: none
            Connection: 0
                IP Address: 127.0.0.1
    LUN information:
        LUN: 0
            Type: controller
            Backing store path: None
        LUN: 1
            Type: disk
            SCSI SN: beaf21
            Backing store path: /srv/decoy.img
            Backing store flags: 
        LUN: 2
            Type: disk
            SCSI SN: beaf22
            Backing store path: /srv/data/lun-1.img
            Backing store flags: 
    Account information:
    ACL information:
        ALL
";

    #[test]
    fn targets_luns_and_backing_stores() {
        let t = parse(SHOW).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].tid, t[0].iqn.as_str()), (1, "iqn.2010-10.org.openstack:volume-1"));
        assert_eq!(t[0].accounts, vec!["fixture"]);
        let paths: Vec<(u16, Option<&str>, &str)> = t[0]
            .luns
            .iter()
            .map(|l| (l.lun, l.backing_store_path.as_deref(), l.backing_store_flags.as_str()))
            .collect();
        assert_eq!(paths, vec![(0, None, ""), (1, Some("/srv/data/lun-1.img"), "direct")]);
        assert_eq!(t[0].luns[1].scsi_sn, "beaf11");
        assert_eq!(t[0].luns[1].kind, "disk");
        assert_eq!(t[1].luns.len(), 3);
        assert!(t[1].accounts.is_empty(), "the nexus lines are not accounts");
        assert_eq!(t[1].luns[2].backing_store_path.as_deref(), Some("/srv/data/lun-1.img"));
    }

    #[test]
    fn nothing_shown_is_no_target() {
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn malformed_lines_name_their_number() {
        assert_eq!(parse("    LUN: 1\n").unwrap_err().line, 1);
        let e = parse("Target x: iqn.a\n").unwrap_err();
        assert!(e.to_string().contains("line 1") && e.message.contains("not a number"), "{e}");
    }
}
