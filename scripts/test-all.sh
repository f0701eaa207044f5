#!/bin/bash
# `make test`: every test. The package test (tests/debian_package.rs builds srukit's own .deb
# from scratch in a testbed: CPU-bound, the longest single test) runs beside all the others,
# which mostly wait on apt, autopkgtest and testbeds; test binaries share no state that the
# other's testbeds could disturb (every leftover check is scoped to its own testbeds' ids).
# The background lanes' output is kept in target/test-logs/ and printed at the end.
set -u
cargo=${CARGO:-cargo}
cd "$(dirname "$0")/.."

logs=target/test-logs
mkdir -p "$logs"
# A build that fails after a lane started stops that lane too.
trap 'kill $(jobs -p) 2>/dev/null' EXIT

# Each lane starts as soon as its own test binaries are built, so the package test's long
# CPU-bound build and the services' waiting overlap the compilation of the rest.
$cargo test --release --no-run --quiet --test debian_package || exit $?
$cargo test --release --test debian_package >"$logs/debian_package.log" 2>&1 &
package=$!

# The scale-out tests and two of the archive lanes spend their time waiting on services
# (RabbitMQ, debci's Ruby, sshd, autopkgtest's virt servers, the archive): they run beside
# the others too, in a lane of their own, sized so that both lanes end about together (a
# fresh CI run: 22 min for this lane and 31 for the rest before the lanes moved here); each
# stops what it started and scopes its leftover checks to its own ids.
services=(debci_engine remote_ssh testbed_virt_backend lane_two_releases lanes_debian lane_sslh)
service_targets=()
for name in "${services[@]}"; do
  [ -f "tests/$name.rs" ] && service_targets+=(--test "$name")
done
$cargo test --release --no-run --quiet "${service_targets[@]}" || exit $?
$cargo test --release --no-fail-fast "${service_targets[@]}" >"$logs/services.log" 2>&1 &
service_lane=$!

targets=(--lib --bins)
for t in tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = debian_package ] && continue
  printf '%s\n' "${services[@]}" | grep -qx "$name" && continue
  targets+=(--test "$name")
done
$cargo test --release --no-run --quiet "${targets[@]}" && $cargo test --release --no-fail-fast "${targets[@]}"
rest=$?
$cargo test --release --doc
doc=$?

show() { # NAME LOG STATUS: a background lane's results, and its tail when it failed
  echo "--- $1 (run beside the others; full log: $2)"
  grep -E '^(test |test result|---- |thread |     Running )' "$2" || tail -n 40 "$2"
  [ "$3" = 0 ] || tail -n 60 "$2"
}
wait "$service_lane"
svc=$?
show "the waiting lane (${services[*]})" "$logs/services.log" "$svc"
wait "$package"
pkg=$?
show tests/debian_package.rs "$logs/debian_package.log" "$pkg"

status=0
for s in "$rest" "$doc" "$svc" "$pkg"; do [ "$s" = 0 ] || status=1; done
exit $status
