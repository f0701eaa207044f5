#!/bin/bash
# prepare.sh OUTDIR: a "before" source tree that already carries the LP#1336568 fix.
#
# Writes OUTDIR/cinder-<upstream>/ (the cinder-icehouse fixture, version unchanged, with
# patches/lp1336568-iscsi-write-cache's patch appended to its quilt series, unapplied, no
# .pc) and OUTDIR/cinder_<upstream>.orig.tar.gz (make-orig.sh: the same bytes as the real
# fixture's orig). `dpkg-buildpackage -us -uc` in the tree then builds a cinder-volume that
# claims the old version 1:2014.1.5-0ubuntu1 but writes write-cache lines: used as the
# before side, verification cannot see the bug reproduce and must say inconclusive.
# Prints the tree's path.
set -euo pipefail
if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
fixture="$root/testbeds/fixtures/cinder-icehouse"
fix="$root/patches/lp1336568-iscsi-write-cache/tgtadmin-iscsi-write-cache-config.patch"
mkdir -p "$1"
out=$(cd "$1" && pwd)

version=$(dpkg-parsechangelog -l "$fixture/debian/changelog" -S Version)
upstream=${version#*:}
upstream=${upstream%-*}
tree="$out/cinder-$upstream"
rm -rf "$tree"
cp -a "$fixture" "$tree"
find "$tree" -name __pycache__ -prune -exec rm -rf {} +
cp "$fix" "$tree/debian/patches/"
basename "$fix" >> "$tree/debian/patches/series"
"$root/testbeds/fixtures/make-orig.sh" "$fixture" "$out" >/dev/null
echo "$tree"
