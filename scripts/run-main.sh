#!/usr/bin/env bash
# The main job, until the whole pipeline exists: apply the flagship backport
# (patches/lp1336568-iscsi-write-cache) to a fresh copy of the cinder icehouse fixture and show
# what dpkg makes of the result: the changelog as dpkg-parsechangelog reads it (with Ubuntu's
# vendor rules, so Launchpad-Bugs-Fixed shows), the quilt series, quilt's own fuzz-0 push,
# and dpkg-source -b building the source package.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
backport=$root/patches/lp1336568-iscsi-write-cache
fixture=$root/testbeds/fixtures/cinder-icehouse
for p in "$backport/backport.toml" "$fixture/debian/changelog"; do
  [ -e "$p" ] || { echo "run-main.sh: $p is missing" >&2; exit 3; }
done

cargo build --release --quiet --manifest-path "$root/Cargo.toml"
srukit=$root/target/release/srukit

work=$(mktemp -d "${TMPDIR:-/tmp}/srukit-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree=$work/cinder
cp -a "$fixture" "$tree"

echo "== srukit apply $backport --tree $tree"
"$srukit" apply "$backport" --tree "$tree"

# Debian's dpkg knows Ubuntu's vendor rules but has no Ubuntu origin file: give it one.
mkdir -p "$work/origins"
cp /etc/dpkg/origins/debian "$work/origins/debian"
printf 'Vendor: Ubuntu\nVendor-URL: https://www.ubuntu.com/\nBugs: https://bugs.launchpad.net/ubuntu/+filebug\nParent: Debian\n' \
  > "$work/origins/ubuntu"
echo
echo "== dpkg-parsechangelog (DEB_VENDOR=Ubuntu)"
(cd "$tree" && DEB_VENDOR=Ubuntu DPKG_ORIGINS_DIR="$work/origins" dpkg-parsechangelog)
echo
echo "== debian/patches/series"
cat "$tree/debian/patches/series"
echo
echo "== strict check of the series (fuzz 0)"
(cd "$tree" && QUILT_PATCHES=debian/patches quilt push -a --fuzz=0 -q >/dev/null && quilt pop -a -q >/dev/null) \
  && echo "quilt agrees: every patch applies with fuzz 0"
echo
echo "== dpkg-source -b (orig tarball from testbeds/fixtures/make-orig.sh)"
bash "$root/testbeds/fixtures/make-orig.sh" "$tree" "$work" >/dev/null
(cd "$work" && dpkg-source -b cinder 2>&1 | tail -n 2)
