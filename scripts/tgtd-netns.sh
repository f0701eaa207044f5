#!/usr/bin/env bash
# Test helper: runs tgtd in its own network namespace (its portal is that namespace's
# 127.0.0.1:3260), optionally alone in a cgroup v1 memory controller, as the testbeds do.
#
#   tgtd-netns.sh start LOGFILE [CGROUP]   prints "PID CONTROL_PORT" once tgtd is ready
#   tgtd-netns.sh stop PID [CGROUP]        stops it, removes its control socket and cgroup
#
# CGROUP is a name under /sys/fs/cgroup/memory/. The control port (tgtadm -C) is random so
# parallel tests, and other users of this machine, each get their own tgtd.
set -euo pipefail

memcg=/sys/fs/cgroup/memory

gone() { # true when PID no longer runs (a zombie counts as gone)
  [ ! -e "/proc/$1/stat" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

start() {
  local log=$1 cg=${2:-}
  command -v tgtd >/dev/null || { echo "tgtd-netns.sh: tgtd is not installed (package tgt)" >&2; exit 3; }
  if [ -n "$cg" ]; then mkdir -p "$memcg/$cg"; fi
  for _ in $(seq 1 20); do
    local port=$((10000 + RANDOM % 22000)) # tgtd takes -C up to 32767
    [ -e "/var/run/tgtd/socket.$port" ] && continue
    # unshare --net without --fork execs: the pid we get is tgtd's.
    CG="$cg" PORT="$port" unshare --net sh -c '
      ip link set lo up
      if [ -n "$CG" ]; then echo $$ > /sys/fs/cgroup/memory/$CG/cgroup.procs; fi
      exec tgtd -f -C "$PORT" --iscsi portal=127.0.0.1:3260' >>"$log" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 1 100); do
      if gone "$pid"; then break; fi
      # Ready: our tgtd holds this port's lock (not another tgtd) and listens on 3260
      # (0CBC, state 0A = LISTEN) in its namespace.
      if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "socket.$port.lock" &&
         grep -q ':0CBC 00000000:0000 0A' "/proc/$pid/net/tcp" 2>/dev/null &&
         tgtadm -C "$port" --op show --mode system >/dev/null 2>&1; then
        echo "$pid $port"
        return 0
      fi
      sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  echo "tgtd-netns.sh: tgtd did not start; see $log" >&2
  exit 3
}

stop() {
  local pid=$1 cg=${2:-} port
  port=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/.* -C \([0-9]*\) .*/\1/p' || true)
  # tgtd ignores SIGTERM while it has targets (`tgtadm --op delete --mode system` refuses
  # too); its state lives in the backing files, so SIGKILL loses nothing a test needs.
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do gone "$pid" && break; sleep 0.05; done
  if [ -n "$port" ]; then rm -f "/var/run/tgtd/socket.$port" "/var/run/tgtd/socket.$port.lock"; fi
  if [ -n "$cg" ] && [ -d "$memcg/$cg" ]; then
    for _ in $(seq 1 50); do rmdir "$memcg/$cg" 2>/dev/null && break; sleep 0.1; done
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: $0 start LOGFILE [CGROUP] | stop PID [CGROUP]" >&2; exit 2 ;;
esac
