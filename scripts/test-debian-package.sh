#!/usr/bin/env bash
# srukit's own Debian package, built on the host: `dpkg-buildpackage -b -us -uc` on a copy of
# the working tree (so nothing is written beside the checkout), then `dpkg -c` must list the
# binary, the man pages and the completions at their standard paths, the unpacked binary must
# run and its man page render, and lintian must report no errors (its warnings are printed).
#
# The crates come from the cargo registry cache (`cargo fetch --locked`), and the build uses
# this checkout's target/ (CARGO_TARGET_DIR), so after `cargo test --release` only the srukit
# crate is compiled again. Exit 0 when every check holds, 1 when one fails, 3 when a tool is
# missing. Needs: dpkg-dev, debhelper, lintian, man-db (scripts/setup.sh), rustup's cargo.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
for tool in dpkg-buildpackage dh lintian cargo man; do
  command -v "$tool" >/dev/null || { echo "test-debian-package: $tool is missing (scripts/setup.sh)" >&2; exit 3; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/srukit-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "test-debian-package: FAIL: $*" >&2; exit 1; }

mkdir "$work/srukit"
tar -C "$repo" --exclude=./target --exclude=./.git --exclude=./srukit-out \
    --exclude=./debian/cargo-target --exclude=./debian/cargo-home -cf - . | tar -C "$work/srukit" -xf -
(cd "$repo" && cargo fetch --locked --quiet)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

start=$(date +%s)
if ! (cd "$work/srukit" && dpkg-buildpackage -b -us -uc) >"$work/build.log" 2>&1; then
  tail -40 "$work/build.log" >&2
  fail "dpkg-buildpackage -b -us -uc"
fi
echo "dpkg-buildpackage -b: $(( $(date +%s) - start )) s"

version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
deb="$work/srukit_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"
[ -f "$deb" ] || fail "no $deb"

dpkg -c "$deb" >"$work/contents"
for f in usr/bin/srukit \
         usr/share/man/man1/srukit.1.gz usr/share/man/man1/srukit-report.1.gz \
         usr/share/bash-completion/completions/srukit \
         usr/share/zsh/vendor-completions/_srukit \
         usr/share/fish/vendor_completions.d/srukit.fish \
         usr/share/doc/srukit/copyright usr/share/doc/srukit/changelog.gz; do
  grep -q " \./$f\$" "$work/contents" || { cat "$work/contents" >&2; fail "the .deb lacks /$f"; }
done
grep -q '^-rwxr-xr-x root/root .* \./usr/bin/srukit$' "$work/contents" || fail "/usr/bin/srukit is not 0755 root:root"
echo "dpkg -c: the binary, $(grep -c 'man1/.*\.1\.gz$' "$work/contents") man pages and 3 completions"

dpkg-deb -x "$deb" "$work/root"
got=$("$work/root/usr/bin/srukit" --version)
[ "$got" = "srukit ${version%%-*}" ] || fail "srukit --version says '$got', the package is $version"
MANWIDTH=80 man -l "$work/root/usr/share/man/man1/srukit.1.gz" 2>/dev/null | grep -q 'srukit - ' \
  || fail "man srukit does not render"
bash -c "source '$work/root/usr/share/bash-completion/completions/srukit' && complete -p srukit" >/dev/null \
  || fail "the bash completion does not load"

# lintian: errors fail the test; warnings and info are listed for the record.
lintian --fail-on error --info "$deb" >"$work/lintian.log" 2>&1 || { cat "$work/lintian.log" >&2; fail "lintian reports errors"; }
if [ -s "$work/lintian.log" ]; then
  echo "lintian (no errors):"; sed 's/^/  /' "$work/lintian.log"
else
  echo "lintian: clean"
fi
echo "test-debian-package: ok ($deb)"
