#!/bin/bash
# `make test`: every test, in three lanes that run at once. The package test
# (tests/debian_package.rs builds srukit's own .deb in a testbed: CPU-bound, the longest
# single test on a machine whose build cache is empty) opens the first lane; the scale-out
# tests and two archive lanes, which spend their time waiting on services (RabbitMQ, debci's
# Ruby, sshd, autopkgtest's virt servers, the archive), open the second; every other test
# binary is in a shared queue, longest first (by the last run's times), that the third lane
# works through, and that the first two lanes also take from as soon as their own tests end,
# so the lanes end about together whether the package build took 2 minutes (a warm cache) or
# 19 (a fresh machine). Test binaries share no state that another's testbeds could disturb
# (every leftover check is scoped to its own testbeds' ids); the waiting lane's own tests stay
# one after another (debci's broker uses fixed ports). Each binary's output is kept in
# target/test-logs/ and its results printed at the end.
set -u
cargo=${CARGO:-cargo}
cd "$(dirname "$0")/.."

logs=target/test-logs
times=$logs/times # NAME SECONDS of the last run, for the queue's order
rm -rf "$logs/claimed" "$logs/status" "$logs/times.new" "$logs/built" "$logs"/*.log
mkdir -p "$logs/claimed" "$logs/status"
# A build that fails after a lane started stops that lane too.
trap 'kill $(jobs -p) 2>/dev/null' EXIT

# run_one NAME ARGS...: one cargo test invocation, its log, status and time kept.
run_one() {
  local name=$1 start=$SECONDS
  shift
  $cargo test --release --no-fail-fast "$@" >"$logs/$name.log" 2>&1
  local s=$?
  echo $s >"$logs/status/$name"
  echo "$name $((SECONDS - start))" >>"$logs/times.new"
  echo "make test: $name $([ $s = 0 ] && echo ok || echo FAILED) ($((SECONDS - start)) s)"
}

# The queue: every test binary not in the first two lanes, and the crate's own unit tests.
services=(debci_engine remote_ssh testbed_virt_backend lane_two_releases lanes_debian lane_sslh)
queue=(lib)
for t in tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = debian_package ] && continue
  printf '%s\n' "${services[@]}" | grep -qx "$name" && continue
  queue+=("$name")
done
# Longest first, by this checkout's last run or, on a fresh checkout (CI), by the times a
# fresh machine measured (scripts/test-times, refreshed by hand from target/test-logs/times);
# a binary with no recorded time (a new one) first of all.
order=$times
[ -f "$order" ] || order=scripts/test-times
if [ -f "$order" ]; then
  mapfile -t queue < <(for n in "${queue[@]}"; do
    echo "$(awk -v n="$n" '$1 == n { t = $2 } END { print (t == "" ? 999999 : t) }' "$order") $n"
  done | sort -k1,1nr -k2 | cut -d' ' -f2)
fi
args_of() { # the cargo test arguments of a queue entry
  if [ "$1" = lib ]; then echo --lib --bins; else echo --test "$1"; fi
}
# drain: takes queue entries one at a time until none is left; mkdir is the atomic claim.
drain() {
  local name
  for name in "${queue[@]}"; do
    mkdir "$logs/claimed/$name" 2>/dev/null || continue
    # shellcheck disable=SC2046
    run_one "$name" $(args_of "$name")
  done
}

# after_build: blocks until the queue's binaries are built (the lock below is held until
# then), and says whether they were.
after_build() {
  flock -s "$logs/build.lock" true
  [ -e "$logs/built" ]
}
exec 9>"$logs/build.lock"
flock 9

# Each lane starts as soon as its own test binaries are built, so the package test's long
# CPU-bound build and the services' waiting overlap the compilation of the rest.
$cargo test --release --no-run --quiet --test debian_package || exit $?
{
  exec 9>&-
  run_one debian_package --test debian_package
  after_build && drain
} &
lanes=($!)

service_targets=()
service_names=()
for name in "${services[@]}"; do
  [ -f "tests/$name.rs" ] && service_targets+=(--test "$name") && service_names+=("$name")
done
$cargo test --release --no-run --quiet "${service_targets[@]}" || exit $?
{
  exec 9>&-
  for name in "${service_names[@]}"; do run_one "$name" --test "$name"; done
  after_build && drain
} &
lanes+=($!)

queue_targets=()
for name in "${queue[@]}"; do
  # shellcheck disable=SC2207
  queue_targets+=($(args_of "$name"))
done
if $cargo test --release --no-run --quiet "${queue_targets[@]}"; then
  touch "$logs/built"
  build=0
else
  build=$?
fi
flock -u 9
exec 9>&-
[ "$build" = 0 ] && drain
$cargo test --release --doc >"$logs/doc.log" 2>&1
echo $? >"$logs/status/doc"
wait "${lanes[@]}"
[ -f "$logs/times.new" ] && mv "$logs/times.new" "$times"

status=0
[ "$build" = 0 ] || { echo "--- the queue's test binaries did not build"; status=1; }
for f in "$logs"/status/*; do
  name=$(basename "$f")
  s=$(cat "$f")
  echo "--- $name (full log: $logs/$name.log)"
  grep -E '^(test |test result|---- |thread )' "$logs/$name.log" || tail -n 40 "$logs/$name.log"
  [ "$s" = 0 ] || { tail -n 60 "$logs/$name.log"; status=1; }
done
# Every queue entry ran (a lane that died would leave one unclaimed or without a status).
for name in "${queue[@]}"; do
  [ -f "$logs/status/$name" ] || [ "$build" != 0 ] || { echo "--- $name did not run"; status=1; }
done
grep -h '' "$times" 2>/dev/null | sort -k2,2nr | head -n 12 | sed 's/^/time: /'
exit $status
