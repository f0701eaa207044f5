#!/usr/bin/env bash
# The main job: the whole SRU pipeline on the shipped flagship backport (LP: #1336568):
# build the old cinder package from the icehouse fixture, apply the backport, build the new
# one, verify both in fresh testbeds (target file, WCE over iSCSI, O_DIRECT, dirty page
# cache), and write the reports. Outputs go to ./srukit-out/lp1336568-iscsi-write-cache/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet
srukit=$root/target/release/srukit

# Testbed images are cached under ${XDG_CACHE_HOME:-~/.cache}/srukit/images, keyed by their
# definition: the first run builds them (a few minutes), later runs start at once.
"$srukit" testbed build bookworm-build
"$srukit" testbed build bookworm-tgt

set +e
"$srukit" run patches/lp1336568-iscsi-write-cache "$@"
status=$?
set -e
out=srukit-out/lp1336568-iscsi-write-cache
if [ -f "$out/report/launchpad.txt" ]; then
  echo
  echo "== the comment for the bug ($out/report/launchpad.txt)"
  cat "$out/report/launchpad.txt"
fi
exit $status
