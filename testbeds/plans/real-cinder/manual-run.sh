#!/bin/bash
# manual-run.sh [--set SECTION.KEY=VALUE]... [--mib N] [ROOT]
#
# The real-cinder lane by hand, without srukit's verify engine: how export.py was proved.
# ROOT is an extracted bookworm image with tgt and python3-cinder (default
# ${XDG_CACHE_HOME:-~/.cache}/srukit/scratch/cinder-chroot, made with
#   mmdebstrap --variant=apt --include=tgt,iproute2,python3,procps,python3-cinder \
#       bookworm cinder-chroot.tar http://deb.debian.org/debian
# and extracted with tar -x). It is never written: each run mounts a fresh overlay on it.
#
# In `unshare --mount --pid --net --fork --mount-proc` (lo up, nothing shared with the host's
# tgt): applies testbeds/bookworm-cinder.toml's setup commands and the --set edits to
# /etc/cinder/cinder.conf, starts tgtd alone in a v1 memory cgroup, runs export.py for a fresh
# volume with a sparse 256 MiB file LUN, prints the target file cinder wrote, then measures
# what the plan's checks measure: WCE over iSCSI (`srukit probe wce`, $SRUKIT or srukit on
# PATH), O_DIRECT in tgtd's fdinfo, and the dirty+writeback bytes in tgtd's cgroup after
# qemu-io wrote N MiB (default 200; qemu-utils + qemu-block-extra on the host) while the
# session is still open. Root needed. Exit 0 when cinder exported the volume.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
def=$here/../../bookworm-cinder.toml
sets=()
mib=200
while [ $# -gt 0 ]; do
	case $1 in
	--set) sets+=("$2"); shift 2 ;;
	--mib) mib=$2; shift 2 ;;
	-*) echo "usage: $0 [--set SECTION.KEY=VALUE]... [--mib N] [ROOT]" >&2; exit 2 ;;
	*) break ;;
	esac
done
root=$(realpath "${1:-${XDG_CACHE_HOME:-$HOME/.cache}/srukit/scratch/cinder-chroot}")
[ -x "$root/usr/sbin/tgtd" ] && [ -d "$root/usr/lib/python3/dist-packages/cinder" ] ||
	{ echo "$root: not an image with tgt and python3-cinder" >&2; exit 2; }
srukit=${SRUKIT:-$(command -v srukit || true)}

# On real disk next to the image (the LUN's page cache is what data-at-risk measures).
work=$(mktemp -d "$(dirname "$root")/real-cinder-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/upper" "$work/work" "$work/merged" "$work/data"
python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["setup"]))' \
	"$def" > "$work/setup.sh"
printf '%s\n' "${sets[@]}" > "$work/sets"

unshare --mount --pid --net --fork --mount-proc bash -s "$root" "$work" "$here" "$srukit" "$mib" <<'INNER'
set -euo pipefail
root=$1 work=$2 here=$3 srukit=$4 mib=$5
m=$work/merged
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/work" "$m"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount -t tmpfs tmpfs "$m/run"
mount -t tmpfs tmpfs "$m/tmp"
mkdir -p "$m/srv/data" "$m/run/tgtd" "$m/usr/local/lib/srukit"
mount --bind "$work/data" "$m/srv/data"
ip link set lo up

chroot "$m" sh -e < "$work/setup.sh"
# The verifier's edits, as the plan's phase applies them: key = value in its INI section.
while read -r kv; do
	[ -n "$kv" ] || continue
	python3 - "$m/etc/cinder/cinder.conf" "${kv%%.*}" "$(k=${kv#*.}; echo "${k%%=*}")" "${kv#*=}" <<'PY'
import sys
path, section, key, value = sys.argv[1:]
lines = open(path).read().splitlines(keepends=True)
at = next((i for i, l in enumerate(lines) if l.strip() == '[%s]' % section), None)
if at is None:  # a missing section goes at the end, as srukit's INI edit does
    lines += ['\n', '[%s]\n' % section]
    at = len(lines) - 1
at += 1
while at < len(lines) and lines[at].strip() and not lines[at].startswith('['):
    at += 1
lines.insert(at, '%s = %s\n' % (key, value))
open(path, 'w').write(''.join(lines))
PY
done < "$work/sets"
echo "--- /etc/cinder/cinder.conf"; cat "$m/etc/cinder/cinder.conf"
cp "$here/export.py" "$m/usr/local/lib/srukit/export.py"
chroot "$m" dpkg-query -W python3-cinder tgt

cg=/sys/fs/cgroup/memory/srukit-real-cinder-$$
mkdir "$cg"
chroot "$m" tgtd -f --iscsi portal=127.0.0.1:3260 > "$work/tgtd.log" 2>&1 &
tgtd=$!
echo $tgtd > "$cg/cgroup.procs"
cleanup() {
	kill -KILL $tgtd 2>/dev/null || true; wait $tgtd 2>/dev/null || true
	for _ in $(seq 20); do rmdir "$cg" 2>/dev/null && break; sleep 0.1; done
}
trap cleanup EXIT
for _ in $(seq 50); do chroot "$m" tgtadm --lld iscsi --op show --mode sys >/dev/null 2>&1 && break; sleep 0.1; done

vol=$(cat /proc/sys/kernel/random/uuid)
truncate -s 256M "$work/data/lun.img"
t0=$(date +%s.%N)
chroot "$m" python3 /usr/local/lib/srukit/export.py "$vol" /srv/data/lun.img | tee "$work/export.out"
t1=$(date +%s.%N)
echo "--- export.py took $(echo "$t1 - $t0" | bc) s"
iqn=$(head -1 "$work/export.out")
tfile=$m/var/lib/cinder/volumes/volume-$vol
echo "--- target file /var/lib/cinder/volumes/volume-$vol"; cat "$tfile"
echo "--- tgt-admin -s (target and LUN 1)"
chroot "$m" tgt-admin -s | grep -E "^Target|LUN: 1|Backing store (path|flags)|IncomingUser" -A0 | head -8
chap=$(awk '$1 == "incominguser" {print $2 ":" $3}' "$tfile")
if [ -n "$srukit" ]; then
	echo "--- WCE"; "$srukit" probe wce --portal 127.0.0.1:3260 --target "$iqn" --chap "$chap"
fi
for fd in /proc/$tgtd/fd/*; do
	# tgtd is chrooted: the link reads as the path seen from here, so match the file name.
	case $(readlink "$fd") in */lun.img) ;; *) continue ;; esac
	echo "--- fdinfo ${fd##*/}: $(grep flags "/proc/$tgtd/fdinfo/${fd##*/}")"
done
if command -v qemu-io >/dev/null; then
	echo "--- data at risk: qemu-io writes $mib MiB, session kept open"
	user=${chap%%:*} pass=${chap#*:}
	# cinder's generated CHAP names and secrets are alphanumeric: safe in the URL.
	stdbuf -oL qemu-io -f raw -t none -c "write -P 0xab 0 ${mib}M" -c 'sleep 4000' \
		"iscsi://$user%$pass@127.0.0.1/$iqn/1" > "$work/qemu.out" 2>&1 &
	q=$!
	for _ in $(seq 600); do grep -qE 'wrote|rror' "$work/qemu.out" && break; sleep 0.1; done
	cat "$work/qemu.out"
	grep -E '^(dirty|writeback) ' "$cg/memory.stat"
	kill $q 2>/dev/null; wait $q 2>/dev/null || true
fi
INNER
