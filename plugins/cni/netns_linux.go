// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import "syscall"

// nsfsMagic is NSFS_MAGIC from linux/magic.h: the filesystem of a live
// namespace file (/proc/PID/ns/net or a bind mount in /run/netns).
const nsfsMagic = 0x6e736673

// netnsAlive reports whether path still names a network namespace. An
// empty path (nerdctl's DEL), a missing file, or a leftover file in
// /run/netns whose bind mount is gone all mean "no".
func netnsAlive(path string) bool {
	if path == "" {
		return false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return false
	}
	return uint64(st.Type) == nsfsMagic
}
