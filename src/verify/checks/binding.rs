//! Binding: every check looks at the object the plan's steps made, never at "the first one"
//! or at a number the plan fixed. The target block is the `<target ${iqn}>` block of tgt's
//! configuration; the LUN is the one tgtd serves from the backing store `${lun}`. An object
//! that is absent, or present twice, is an error naming what was found: a decoy configured
//! as expected proves nothing. Reads parsed tgt files and `tgtadm --op show`; writes nothing.

use serde::Serialize;

use crate::formats::tgt_config::Target;
use crate::formats::tgt_tree::{TgtTree, TreeFile};
use crate::formats::tgtadm_show::ShownTarget;

/// The LUN under test as tgtd serves it: what the iSCSI checks talk to, and what their
/// evidence names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundLun {
    pub iqn: String,
    pub tid: u32,
    pub lun: u16,
    pub backing_store: String,
    pub backing_store_flags: String,
    pub scsi_sn: String,
    pub tgtd_pid: u32,
}

/// The one `<target IQN>` block of the tree. Also refuses an `include` inside the block,
/// which tgt-admin would follow and this reader does not.
pub fn target_block<'a>(tree: &'a TgtTree, iqn: &str) -> Result<(&'a TreeFile, &'a Target), String> {
    let blocks = tree.blocks(iqn);
    match blocks.as_slice() {
        [] => {
            let found = tree.inventory();
            Err(format!(
                "no <target {iqn}> block in the files tgt-admin reads ({}); targets found: {}",
                tree.paths().join(", "),
                if found.is_empty() { "none".to_string() } else { found.join(", ") }
            ))
        }
        [(file, target)] => {
            if let Some(d) = target.directives().iter().find(|d| d.keyword.eq_ignore_ascii_case("include")) {
                return Err(format!(
                    "{}:{}: the <target {iqn}> block includes `{}`; its settings are not all in the block",
                    file.path, d.line, d.value
                ));
            }
            Ok((file, target))
        }
        more => Err(format!(
            "<target {iqn}> is defined {} times ({}); tgt-admin merges duplicate blocks, so no one block is what tgt applies",
            more.len(),
            more.iter().map(|(f, t)| format!("{}:{}", f.path, t.line)).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The LUN of target `iqn` whose backing store is `backing_store`, from what tgtd shows.
pub fn lun(shown: &[ShownTarget], iqn: &str, backing_store: &str, tgtd_pid: u32) -> Result<BoundLun, String> {
    let targets: Vec<&ShownTarget> = shown.iter().filter(|t| t.iqn == iqn).collect();
    let target = match targets.as_slice() {
        [] => {
            let names: Vec<String> = shown.iter().map(|t| format!("{} (tid {})", t.iqn, t.tid)).collect();
            return Err(format!(
                "tgtd has no target {iqn} (the steps did not create or update it); tgtd has: {}",
                if names.is_empty() { "no target".to_string() } else { names.join(", ") }
            ));
        }
        [t] => *t,
        more => {
            let tids: Vec<String> = more.iter().map(|t| t.tid.to_string()).collect();
            return Err(format!("tgtd shows target {iqn} {} times (tids {})", more.len(), tids.join(", ")));
        }
    };
    let luns: Vec<_> =
        target.luns.iter().filter(|l| l.backing_store_path.as_deref() == Some(backing_store)).collect();
    let describe = || {
        target
            .luns
            .iter()
            .map(|l| format!("LUN {} = {}", l.lun, l.backing_store_path.as_deref().unwrap_or("none")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match luns.as_slice() {
        [l] => Ok(BoundLun {
            iqn: iqn.to_string(),
            tid: target.tid,
            lun: l.lun,
            backing_store: backing_store.to_string(),
            backing_store_flags: l.backing_store_flags.clone(),
            scsi_sn: l.scsi_sn.clone(),
            tgtd_pid,
        }),
        [] => Err(format!(
            "target {iqn} (tid {}) has no LUN backed by {backing_store}: {}",
            target.tid,
            describe()
        )),
        _ => Err(format!(
            "target {iqn} (tid {}) has {} LUNs backed by {backing_store}, no one of them is the LUN under test: {}",
            target.tid,
            luns.len(),
            describe()
        )),
    }
}

/// The one pid of the daemon: two tgtd processes would be two targets' worth of state.
pub fn one_pid(daemon: &str, pidof: &str) -> Result<u32, String> {
    let pids: Vec<u32> = pidof.split_whitespace().filter_map(|p| p.parse().ok()).collect();
    match pids.as_slice() {
        [p] => Ok(*p),
        [] => Err(format!("no {daemon} process runs in the testbed")),
        more => Err(format!(
            "{} {daemon} processes run in the testbed ({more:?}); which one serves the target is unknown",
            more.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::tgt_tree::Source;
    use crate::formats::tgtadm_show::ShownLun;

    struct One(&'static str);
    impl Source for One {
        fn read(&mut self, p: &str) -> Result<Option<String>, String> {
            Ok((p == "/v").then(|| self.0.to_string()))
        }
        fn expand(&mut self, _: &str) -> Result<Vec<String>, String> {
            Ok(vec![])
        }
    }

    fn tree(text: &'static str) -> TgtTree {
        TgtTree::read(&["/v"], &mut One(text)).unwrap()
    }

    #[test]
    fn the_block_is_the_iqns_not_the_first() {
        let t = tree(
            "<target iqn.decoy>\nwrite-cache off\n</target>\n<target iqn.real>\nbacking-store /l\n</target>\n",
        );
        let (f, b) = target_block(&t, "iqn.real").unwrap();
        assert_eq!((f.path.as_str(), b.line), ("/v", 4));
        let e = target_block(&t, "iqn.gone").unwrap_err();
        assert!(
            e.contains("no <target iqn.gone> block")
                && e.contains("iqn.decoy (/v:1)")
                && e.contains("iqn.real (/v:4)"),
            "{e}"
        );
        let t = tree("<target iqn.real>\ninclude /elsewhere\n</target>\n");
        assert!(
            target_block(&t, "iqn.real").unwrap_err().contains("/v:2: the <target iqn.real> block includes")
        );
    }

    fn shown(luns: &[(u16, Option<&str>)]) -> Vec<ShownTarget> {
        vec![
            ShownTarget { tid: 1, iqn: "iqn.decoy".into(), luns: vec![], accounts: vec![] },
            ShownTarget {
                tid: 2,
                iqn: "iqn.real".into(),
                luns: luns
                    .iter()
                    .map(|(n, p)| ShownLun {
                        lun: *n,
                        kind: "disk".into(),
                        scsi_sn: format!("beaf2{n}"),
                        backing_store_type: "rdwr".into(),
                        backing_store_path: p.map(str::to_string),
                        backing_store_flags: String::new(),
                    })
                    .collect(),
                accounts: vec![],
            },
        ]
    }

    #[test]
    fn the_lun_is_the_one_backed_by_the_volume() {
        let s = shown(&[(0, None), (1, Some("/decoy")), (2, Some("/data/lun"))]);
        let b = lun(&s, "iqn.real", "/data/lun", 7).unwrap();
        assert_eq!((b.tid, b.lun, b.scsi_sn.as_str(), b.tgtd_pid), (2, 2, "beaf22", 7));
        let e = lun(&s, "iqn.real", "/other", 7).unwrap_err();
        assert!(e.contains("no LUN backed by /other") && e.contains("LUN 1 = /decoy"), "{e}");
        let e = lun(&s, "iqn.gone", "/data/lun", 7).unwrap_err();
        assert!(e.starts_with("tgtd has no target iqn.gone") && e.contains("iqn.decoy (tid 1)"), "{e}");
        let twice = shown(&[(1, Some("/data/lun")), (2, Some("/data/lun"))]);
        assert!(lun(&twice, "iqn.real", "/data/lun", 7).unwrap_err().contains("2 LUNs backed by /data/lun"));
    }

    #[test]
    fn one_daemon() {
        assert_eq!(one_pid("tgtd", "42\n"), Ok(42));
        assert!(one_pid("tgtd", "").unwrap_err().contains("no tgtd"));
        assert!(one_pid("tgtd", "4 5").unwrap_err().contains("2 tgtd processes"));
    }
}
