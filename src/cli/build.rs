//! `srukit build`: the source upload and binary packages of a tree, into `--out` with a
//! manifest.

use std::path::PathBuf;

use crate::build::orig::OrigOrigin;
use crate::build::{self, Manifest, Request, What};
use crate::exit::Exit;

use super::{Ctx, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source tree (the directory that holds debian/); patches applied or not.
    #[arg(long, default_value = ".")]
    pub tree: PathBuf,
    /// Where the artifacts, logs and manifest.json go.
    #[arg(long)]
    pub out: PathBuf,
    /// Only the source package and its source-only .changes.
    #[arg(long, conflicts_with = "binary_only")]
    pub source_only: bool,
    /// Only the binary packages (the source package is still made, to build from).
    #[arg(long)]
    pub binary_only: bool,
    /// The testbed definition to build binaries in.
    #[arg(long, default_value = "bookworm-build")]
    pub testbed: String,
    /// The last published version: the .changes covers every entry after it
    /// (default: the changelog's previous entry).
    #[arg(long, value_name = "VERSION")]
    pub since: Option<String>,
    /// Another directory to look for the orig tarball in (the tree's parent is searched first).
    #[arg(long, value_name = "DIR")]
    pub orig_dir: Vec<PathBuf>,
    /// Sign the .changes and .dsc with debsign -k KEYID (default: unsigned).
    #[arg(long, value_name = "KEYID")]
    pub sign: Option<String>,
    /// Run lintian on the artifacts and record counts by severity and the tags.
    #[arg(long)]
    pub lintian: bool,
    /// A directory the package's build keeps a cache in across builds: bound read-write into
    /// the build testbed at $SRUKIT_BUILD_CACHE (created if missing). The package's rules
    /// decide what to keep there (srukit's own keeps its cargo dependencies).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<Outcome> {
    if let Some(v) = &args.since {
        check_version(v)?;
    }
    let what = match (args.source_only, args.binary_only) {
        (true, _) => What::SourceOnly,
        (_, true) => What::BinaryOnly,
        _ => What::Both,
    };
    let req = Request {
        tree: args.tree,
        out: args.out.clone(),
        orig_dirs: args.orig_dir,
        since: args.since,
        sign: args.sign,
        lintian: args.lintian,
        what,
        testbed: args.testbed,
        cache: args.cache,
    };
    // --json: stdout carries the manifest alone, so progress goes to stderr.
    let stderr_progress = crate::reporter::Terminal { verbose: ctx.verbose };
    let rep: &dyn crate::reporter::Reporter = if ctx.json { &stderr_progress } else { ctx.reporter.as_ref() };
    if what != What::SourceOnly {
        // Testbeds a killed srukit left behind are torn down before new ones open.
        for id in crate::testbed::reap_orphans() {
            rep.note(&format!("reaped testbed {id} left by an earlier srukit"));
        }
    }
    let manifest = build::build(&req, rep)?;
    let text = render(&manifest, &args.out);
    Ok(Outcome::new(Exit::Success, &manifest, text))
}

/// debversion accepts `1.0-`, which dpkg rejects (design notes 5): refuse it here too.
fn check_version(v: &str) -> Result<(), crate::UsageError> {
    let bad = || crate::UsageError(format!("--since {v}: not a Debian version"));
    if v.ends_with('-') || v.trim() != v || v.is_empty() {
        return Err(bad());
    }
    v.parse::<debversion::Version>().map(|_| ()).map_err(|_| bad())
}

fn render(m: &Manifest, out: &std::path::Path) -> String {
    let mut t = format!("{} {} ({}) -> {}\n", m.source, m.version, m.architectures.join(" "), out.display());
    if let Some(since) = &m.since {
        t.push_str(&format!("  changes since {since}\n"));
    }
    match m.orig.as_ref().map(|o| &o.origin) {
        Some(OrigOrigin::Found(dir)) => t.push_str(&format!("  orig found in {}\n", dir.display())),
        Some(OrigOrigin::Created { mtime }) => {
            t.push_str(&format!("  orig created from the tree (mtime @{mtime}): not the archive's\n"))
        }
        None => {}
    }
    for f in &m.files {
        t.push_str(&format!("  {:<48} {:>10}  {}\n", f.name, f.size, &f.sha256[..16]));
    }
    if let Some(tb) = &m.testbed {
        t.push_str(&format!(
            "  testbed {} ({}), build-deps from {}\n",
            tb.name, &tb.image_hash, tb.build_deps
        ));
    }
    if let Some(l) = &m.lintian {
        let counts: Vec<String> = l.counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        t.push_str(&format!(
            "  lintian: {}\n",
            if counts.is_empty() { "clean".into() } else { counts.join(", ") }
        ));
    }
    let total = m.timings.get("total").copied().unwrap_or_default();
    t.push_str(&format!("  {:.1}s, manifest {}\n", total, out.join(build::manifest::FILE_NAME).display()));
    t
}
