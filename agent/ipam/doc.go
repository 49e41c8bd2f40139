// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package ipam hands out endpoint addresses from the node CIDR. The
// Allocator is pure logic over a small Store interface; DiskStore keeps one
// file per address under <state-dir>/ipam, like CNI's host-local, written so
// that a SIGKILL at any point neither corrupts a file nor loses an
// allocation that Allocate returned.
package ipam
