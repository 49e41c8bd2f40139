#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright The Nori Authors.
#
# Builds the busybox test image from Debian's busybox-static, because the
# tests must not pull images from a registry. Output is byte-reproducible
# (fixed mtimes, owners and order), so rebuilding changes nothing.
#
#   tests/image/build.sh OUTDIR
#
# writes OUTDIR/rootfs.tar (for `podman import`) and OUTDIR/busybox.tar, a
# docker-archive loadable by `nerdctl load`, `docker load` and `podman load`,
# tagged localhost/nori-busybox:latest (harness.BusyboxImage).
set -eu

out=${1:?usage: build.sh OUTDIR}
name=${NORI_TEST_IMAGE:-localhost/nori-busybox:latest}
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build.sh: $busybox missing: run scripts/install-test-deps.sh" >&2; exit 1; }
# A dynamically linked busybox would not run in an image without libc.
if file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked'; then
	echo "build.sh: $busybox is not static: install busybox-static" >&2; exit 1
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" \
	"$root/root" "$root/run" "$root/var/www" "$root/usr"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
# Merged /usr, so /sbin/ip, /usr/bin/env and friends resolve too.
ln -s bin "$root/sbin"
ln -s ../bin "$root/usr/bin"
ln -s ../bin "$root/usr/sbin"
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
cat > "$root/etc/hosts" <<'H'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
H
: > "$root/etc/resolv.conf"
echo nori-busybox > "$root/etc/hostname"
echo 'it works' > "$root/var/www/index.html"

# Reproducible tar: sorted, fixed owner and mtime.
# Entries of the archive have no "./" prefix, as `docker save` writes them.
mktar() { # dir file [members]
	dir=$1 file=$2
	shift 2
	[ $# -gt 0 ] || set -- .
	find "$dir" -exec touch -h -d @0 {} +
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
		--format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
		-C "$dir" -cf "$file" "$@"
}
mktar "$root" "$work/layer.tar"
cp "$work/layer.tar" "$out/rootfs.tar.tmp"
mv "$out/rootfs.tar.tmp" "$out/rootfs.tar"

layer_sha=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
arc=$work/archive
mkdir -p "$arc/$layer_sha"
mv "$work/layer.tar" "$arc/$layer_sha/layer.tar"
printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"tests/image/build.sh from busybox-static"}]}' \
	"$arch" "$layer_sha" > "$work/config.json"
config_sha=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$arc/$config_sha.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' \
	"$config_sha" "$name" "$layer_sha" > "$arc/manifest.json"
repo=${name%:*}
tag=${name##*:}
printf '{"%s":{"%s":"%s"}}' "$repo" "$tag" "$layer_sha" > "$arc/repositories"
mktar "$arc" "$out/busybox.tar.tmp" manifest.json repositories "$config_sha.json" "$layer_sha"
mv "$out/busybox.tar.tmp" "$out/busybox.tar"
echo "built $out/rootfs.tar and $out/busybox.tar ($name, config sha256:$config_sha)"
