//! tgt's configuration as tgt-admin reads it: a root file and every file its `include`
//! lines reach, so a check can find every `<target IQN>` block tgt-admin would act on.
//! Reads files through a [`Source`] (the caller's testbed); writes nothing.
//!
//! tgt-admin (tgt 1.0.85) parses with Config::General `-UseApacheInclude => 1,
//! -IncludeGlob => 1, -IncludeDirectories => 1, -MergeDuplicateBlocks => 1`: `include PATH`
//! (any case) is followed, PATH may be a glob or a directory (its files, sorted), a file is
//! read once, and two `<target X>` blocks for one X are merged into one target. A check that
//! looked at one of two merged blocks would be looking at half of what tgt applies, so
//! [`TgtTree::blocks`] returns every block for an IQN and the caller refuses more than one.

use crate::formats::tgt_config::{Target, TgtConfig};

/// Where the files come from: the testbed the package under test runs in.
pub trait Source {
    /// The file's text, or `None` when it does not exist.
    fn read(&mut self, path: &str) -> Result<Option<String>, String>;
    /// The files an `include` pattern names: a glob's matches, a directory's files, in
    /// sorted order; nothing when nothing matches.
    fn expand(&mut self, pattern: &str) -> Result<Vec<String>, String>;
}

/// One file of the tree, with the include line that brought it in.
#[derive(Debug, Clone)]
pub struct TreeFile {
    pub path: String,
    pub config: TgtConfig,
    /// `file:line` of the `include` that reached it; `None` for a root.
    pub included_from: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TgtTree {
    pub files: Vec<TreeFile>,
    /// Roots that do not exist (tgt-admin's own config on a host without one).
    pub missing_roots: Vec<String>,
}

impl TgtTree {
    /// Reads each root that exists and everything it includes, depth first, each file once.
    /// A file that does not parse is an error naming it: tgt-admin would stop there too.
    pub fn read(roots: &[&str], src: &mut dyn Source) -> Result<TgtTree, String> {
        let mut tree = TgtTree::default();
        for root in roots {
            if tree.files.iter().any(|f| f.path == *root) {
                continue;
            }
            match src.read(root)? {
                None => tree.missing_roots.push(root.to_string()),
                Some(text) => tree.add(root, &text, None, src)?,
            }
        }
        Ok(tree)
    }

    fn add(
        &mut self,
        path: &str,
        text: &str,
        from: Option<String>,
        src: &mut dyn Source,
    ) -> Result<(), String> {
        let config = TgtConfig::parse(text, std::path::Path::new(path)).map_err(|e| e.to_string())?;
        let includes: Vec<(usize, String)> =
            config.include_directives().iter().map(|d| (d.line, unquote(&d.value).to_string())).collect();
        self.files.push(TreeFile { path: path.to_string(), config, included_from: from });
        for (line, pattern) in includes {
            // Config::General resolves a relative include against the working directory,
            // which for tgt-admin started by a service is `/`.
            let pattern = if pattern.starts_with('/') { pattern } else { format!("/{pattern}") };
            for file in src.expand(&pattern)? {
                if self.files.iter().any(|f| f.path == file) {
                    continue;
                }
                if let Some(text) = src.read(&file)? {
                    self.add(&file, &text, Some(format!("{path}:{line}")), src)?;
                }
            }
        }
        Ok(())
    }

    /// Every `<target IQN>` block in the tree, with its file.
    pub fn blocks(&self, iqn: &str) -> Vec<(&TreeFile, &Target)> {
        self.files
            .iter()
            .flat_map(|f| f.config.targets().iter().filter(|t| t.iqn == iqn).map(move |t| (f, t)))
            .collect()
    }

    /// Every target of the tree as `IQN (file:line)`, for a message that says what was found.
    pub fn inventory(&self) -> Vec<String> {
        self.files
            .iter()
            .flat_map(|f| {
                f.config.targets().iter().map(move |t| format!("{} ({}:{})", t.iqn, f.path, t.line))
            })
            .collect()
    }

    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
}

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Files(BTreeMap<&'static str, &'static str>);

    impl Source for Files {
        fn read(&mut self, path: &str) -> Result<Option<String>, String> {
            Ok(self.0.get(path).map(|s| s.to_string()))
        }
        fn expand(&mut self, pattern: &str) -> Result<Vec<String>, String> {
            // One `*` in the last component (what tgt's and cinder's includes use), or a
            // plain path.
            let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
            let (head, tail) = name.split_once('*').unwrap_or((name, ""));
            let glob = name.contains('*');
            Ok(self
                .0
                .keys()
                .filter(|k| {
                    let Some((kd, kn)) = k.rsplit_once('/') else { return false };
                    kd == dir && if glob { kn.starts_with(head) && kn.ends_with(tail) } else { kn == name }
                })
                .map(|k| k.to_string())
                .collect())
        }
    }

    const IQN: &str = "iqn.2010-10.org.openstack:volume-1";

    fn tree(files: &[(&'static str, &'static str)], roots: &[&str]) -> Result<TgtTree, String> {
        TgtTree::read(roots, &mut Files(files.iter().copied().collect()))
    }

    #[test]
    fn follows_includes_as_tgt_admin_does() {
        let t = tree(
            &[
                ("/etc/tgt/targets.conf", "include /etc/tgt/conf.d/*.conf\n"),
                ("/etc/tgt/conf.d/cinder_tgt.conf", "Include \"/var/lib/cinder/volumes/*\"\n"),
                (
                    "/var/lib/cinder/volumes/volume-1",
                    "<target iqn.2010-10.org.openstack:volume-1>\nbacking-store /srv/l\n</target>\n",
                ),
                (
                    "/var/lib/cinder/volumes/volume-2",
                    "<target iqn.2010-10.org.openstack:volume-2>\nbacking-store /srv/m\n</target>\n",
                ),
            ],
            &["/etc/tgt/targets.conf", "/var/lib/cinder/volumes/volume-1"],
        )
        .unwrap();
        assert_eq!(
            t.paths(),
            [
                "/etc/tgt/targets.conf",
                "/etc/tgt/conf.d/cinder_tgt.conf",
                "/var/lib/cinder/volumes/volume-1",
                "/var/lib/cinder/volumes/volume-2"
            ]
        );
        let b = t.blocks(IQN);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].0.included_from.as_deref(), Some("/etc/tgt/conf.d/cinder_tgt.conf:1"));
        assert_eq!(t.inventory().len(), 2);
        assert!(t.missing_roots.is_empty());
    }

    #[test]
    fn a_second_block_for_the_same_iqn_in_another_file_is_found() {
        let t = tree(
            &[
                ("/v/volume-1", "include /etc/decoy\n<target iqn.2010-10.org.openstack:volume-1>\nwrite-cache off\n</target>\n"),
                ("/etc/decoy", "<target iqn.2010-10.org.openstack:volume-1>\nwrite-cache on\n</target>\n"),
            ],
            &["/etc/tgt/targets.conf", "/v/volume-1"],
        )
        .unwrap();
        let where_: Vec<&str> = t.blocks(IQN).iter().map(|(f, _)| f.path.as_str()).collect();
        assert_eq!(where_, ["/v/volume-1", "/etc/decoy"]);
        assert_eq!(t.missing_roots, ["/etc/tgt/targets.conf"]);
    }

    #[test]
    fn include_loops_end_and_parse_errors_name_the_file() {
        let t = tree(&[("/a", "include /b\n"), ("/b", "include /a\n")], &["/a"]).unwrap();
        assert_eq!(t.paths(), ["/a", "/b"]);
        let e = tree(&[("/a", "include /b\n"), ("/b", "<target x>\n")], &["/a"]).unwrap_err();
        assert!(e.starts_with("/b:1:"), "{e}");
    }
}
