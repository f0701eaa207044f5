#!/usr/bin/env bash
# Installs what srukit's main job and its tests need on a fresh Debian 12 machine, once.
# Idempotent and quick when everything is there: apt is only asked when a package is missing.
set -euo pipefail

packages=(
  # the patch engine's references and the source package tools
  quilt dpkg-dev devscripts distro-info-data fakeroot debhelper dh-python python3 git
  # testbeds
  mmdebstrap systemd-container iproute2 uidmap procps util-linux
  # a testbed's own network with a way to the mirror (`uplink`)
  slirp4netns
  # verification oracles on the host
  tgt libiscsi-bin qemu-utils qemu-block-extra
  # report tests: JUnit XML schema validation, JSON Schema validation of result.json
  libxml2-utils python3-jsonschema
  # benchmarks' anchors and lintian
  autopkgtest sbuild lintian hyperfine
  # named explicitly though other packages pull them in: build --sign tests (gpg), the
  # package test (man), the soak script (bc)
  gnupg man-db bc
  # the terminal test: `srukit run` in a real terminal, its screen captured
  tmux
  # tests/replay_debian.rs: its private apt (deb-src for bookworm-security) checks with it
  debian-archive-keyring
  # the DEP-8 tests: autopkgtest writes the tests of a `Testsuite: autopkgtest-pkg-*` source
  # with autodep8 (tests/dep8_suites.rs runs a Perl module's)
  autodep8
  # exported DEP-8 tests run under dash (their runtime's tests too); dch writes a lane's entry
  dash devscripts
  # the debci engine (`srukit debci up`, `srukit dispatch`, tests/debci_engine.rs): debci
  # (workers), debci-collector (`debci enqueue`/`collector`), the broker, amqp-consume, and
  # apt-ftparchive for the local repos. Never debci-worker: its postinst builds an lxc
  # testbed. The srukit backend is installed by `debci up` (or srukit's .deb).
  debci debci-collector rabbitmq-server amqp-tools apt-utils
  # the "remote machine" (testbeds/remote/netns-sshd): sshd is run from the remote image, the
  # host's openssh-client logs in (autopkgtest-virt-ssh), apt-cacher-ng is the remote's proxy
  openssh-server openssh-client apt-cacher-ng
)

[ "$(id -u)" = 0 ] || { echo "setup.sh: run as root (apt-get, namespaces)" >&2; exit 3; }

# deb-src for bookworm, so `apt-get source` works for the real-package tests.
srclist=/etc/apt/sources.list.d/srukit-deb-src.sources
if [ ! -f "$srclist" ]; then
  cat > "$srclist" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# deb-src lists present? (apt-get source needs them)
ls /var/lib/apt/lists/*_source_Sources* >/dev/null 2>&1 || need_update=1

if [ ${#missing[@]} -gt 0 ] || [ "${need_update:-0}" = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}" >&2
    # policy-rc.d: no daemon is started on the host by a package's postinst
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
    # rabbitmq-server's postinst must leave no broker (nor its epmd) running: `srukit debci
    # up` starts its own, loopback only, on these ports.
    if printf '%s\n' "${missing[@]}" | grep -qx rabbitmq-server; then
      /usr/sbin/rabbitmqctl stop >/dev/null 2>&1 || true
      epmd -kill >/dev/null 2>&1 || true
    fi
  fi
fi

# autopkgtest-virt-unshare and sbuild's unshare mode need subordinate ids for root.
for f in /etc/subuid /etc/subgid; do
  grep -q '^root:' "$f" 2>/dev/null || echo 'root:100000:65536' >> "$f"
done
