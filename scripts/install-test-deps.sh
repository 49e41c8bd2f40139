#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright The Nori Authors.
#
# Installs everything the tests need on a fresh Debian 12 machine, as root:
# Debian packages, nerdctl built from the pinned tools module in tests/tools,
# the busybox test image, and the reference CNI plugins in /opt/cni/bin.
# Idempotent; when everything is present it only checks and returns quickly.
#
# Outputs (gitignored): $NORI_CACHE_DIR (default <repo>/.cache)/bin/nerdctl
# and $NORI_CACHE_DIR/image/{rootfs.tar,busybox.tar}.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${NORI_CACHE_DIR:-$repo/.cache}
say() { echo "install-test-deps: $*"; }

[ "$(id -u)" = 0 ] || { say "must run as root"; exit 1; }

# --- Debian packages -------------------------------------------------------
packages="clang-14 llvm-14 libbpf-dev bpftool iproute2 iputils-ping iperf3 nftables
iptables busybox-static containernetworking-plugins runc containerd podman docker.io
etcd-server etcd-client netcat-openbsd curl file nginx-light"
# One dpkg-query for all packages keeps the warm path fast.
# shellcheck disable=SC2086 # word splitting of the list is intended
installed=$(dpkg-query -W -f='${Package} ${Status}\n' $packages 2>/dev/null | awk '/ install ok installed$/ {print $1}')
missing=""
for p in $packages; do
	echo "$installed" | grep -qx "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing Debian packages:$missing"
	# The tests start their own containerd, dockerd and etcd per simulated
	# host; daemons that postinst scripts start would hold /run/containerd,
	# /var/run/docker.sock and port 2379 (and nginx, the bench's TLS anchor,
	# port 80 in the root netns). policy-rc.d stops invoke-rc.d and
	# deb-systemd-invoke from starting anything while we install.
	policy=/usr/sbin/policy-rc.d
	own_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' > "$policy"
		chmod 755 "$policy"
		own_policy=1
		trap 'rm -f "$policy"' EXIT
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086 # word splitting of the list is intended
	apt-get install -y $missing
	if [ -n "$own_policy" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
else
	say "Debian packages present"
fi

# --- Go --------------------------------------------------------------------
command -v go >/dev/null 2>&1 || { say "go is not installed (need the version in go.mod)"; exit 1; }

# --- nerdctl from the pinned tools module ----------------------------------
# Rebuilt when missing or older than the module files that pin it.
nerdctl=$cache/bin/nerdctl
if [ ! -x "$nerdctl" ] || [ "$repo/tests/tools/go.mod" -nt "$nerdctl" ] || [ "$repo/tests/tools/go.sum" -nt "$nerdctl" ]; then
	say "building nerdctl into $nerdctl"
	mkdir -p "$cache/bin"
	(cd "$repo/tests/tools" && go build -o "$nerdctl.tmp" github.com/containerd/nerdctl/v2/cmd/nerdctl)
	mv "$nerdctl.tmp" "$nerdctl"
else
	say "nerdctl up to date ($nerdctl)"
fi

# --- busybox image ---------------------------------------------------------
img=$cache/image
if [ ! -s "$img/busybox.tar" ] || [ ! -s "$img/rootfs.tar" ] ||
	[ /bin/busybox -nt "$img/busybox.tar" ] || [ "$repo/tests/image/build.sh" -nt "$img/busybox.tar" ]; then
	say "building busybox image into $img"
	"$repo/tests/image/build.sh" "$img"
else
	say "busybox image up to date ($img)"
fi

# --- reference CNI plugins where nerdctl and most docs expect them ---------
mkdir -p /opt/cni/bin
linked=""
for p in /usr/lib/cni/*; do
	[ -e "$p" ] || continue
	dst=/opt/cni/bin/$(basename "$p")
	if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
		ln -s "$p" "$dst"
		linked="$linked $(basename "$p")"
	fi
done
if [ -n "$linked" ]; then say "linked into /opt/cni/bin:$linked"; else say "/opt/cni/bin has the reference plugins"; fi

say "done"
