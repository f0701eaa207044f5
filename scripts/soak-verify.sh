#!/usr/bin/env bash
# Repeats the flagship verification N times (default 10) on the packages a `srukit run`
# built, and fails unless every run gives the same verdict, verification-done.
# Usage: scripts/soak-verify.sh [N] [RUN_OUT]   (RUN_OUT default srukit-out/lp1336568-iscsi-write-cache)
set -euo pipefail
n=${1:-10}
out=${2:-srukit-out/lp1336568-iscsi-write-cache}
root=$(cd "$(dirname "$0")/.." && pwd)
srukit=${SRUKIT:-$root/target/release/srukit}
[ -f "$out/build-before/manifest.json" ] && [ -f "$out/build-after/manifest.json" ] || {
  echo "soak-verify: no builds in $out: run \`make run\` first" >&2; exit 2; }
fails=0
for i in $(seq 1 "$n"); do
  start=$(date +%s.%N)
  verdict=$("$srukit" --json verify "$root/patches/lp1336568-iscsi-write-cache/verify.toml" \
    --before "$out/build-before" --after "$out/build-after" --out "$out/soak/$i" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["verdict"])') || true
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  printf 'run %2d: %s (%.1fs)\n' "$i" "$verdict" "$secs"
  [ "$verdict" = verification-done ] || fails=$((fails + 1))
done
echo "$((n - fails)) passed, $fails failed"
[ "$fails" = 0 ]
