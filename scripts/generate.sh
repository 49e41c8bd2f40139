#!/usr/bin/env bash
# Rebuild the committed eBPF objects from bpf/ with the pinned toolchain
# (clang-14 + libbpf-dev from Debian 12), installing it when missing. The
# output is byte-identical for the same sources, so `git diff` after this
# script shows exactly what a C change did.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang-14 >/dev/null || need+=(clang-14)
command -v llvm-strip-14 >/dev/null || need+=(llvm-14)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# vmlinux.h is committed: regenerate it only on request, since it follows
# the running kernel rather than the sources.
if [ "${NORI_REGEN_VMLINUX:-}" = 1 ]; then
  command -v bpftool >/dev/null || { apt-get install -y -qq bpftool >/dev/null; }
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/vmlinux.h
fi

go generate ./agent/datapath/bpfobj
sha256sum agent/datapath/bpfobj/*_bpfel.o
