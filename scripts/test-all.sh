#!/bin/bash
# `make test`: every test. The package test (tests/debian_package.rs builds srukit's own .deb
# from scratch in a testbed: CPU-bound, the longest single test) runs beside all the others,
# which mostly wait on apt, autopkgtest and testbeds; test binaries share no state that the
# other's testbeds could disturb (every leftover check is scoped to its own testbeds' ids).
# Its output is kept in target/test-logs/debian_package.log and printed at the end.
set -u
cargo=${CARGO:-cargo}
cd "$(dirname "$0")/.."

# Build every test target first, so the two runs below only run.
$cargo test --release --no-run --quiet || exit $?

logs=target/test-logs
mkdir -p "$logs"
$cargo test --release --test debian_package >"$logs/debian_package.log" 2>&1 &
package=$!

targets=(--lib --bins)
for t in tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = debian_package ] || targets+=(--test "$name")
done
$cargo test --release "${targets[@]}"
rest=$?
$cargo test --release --doc
doc=$?

wait "$package"
pkg=$?
echo "--- tests/debian_package.rs (run beside the others; full log: $logs/debian_package.log)"
grep -E '^(test |test result|---- |thread )' "$logs/debian_package.log" || tail -n 40 "$logs/debian_package.log"
[ "$pkg" = 0 ] || tail -n 60 "$logs/debian_package.log"

status=0
for s in "$rest" "$doc" "$pkg"; do [ "$s" = 0 ] || status=1; done
exit $status
