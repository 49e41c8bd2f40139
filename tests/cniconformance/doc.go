// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package cniconformance drives a CNI network configuration list through
// libcni, the library every runtime uses, and asserts what runtimes rely
// on: VERSION, ADD (result shape), CHECK, STATUS, GC (an attachment the
// runtime no longer lists is removed), and DEL (twice, and with an empty
// netns as nerdctl sends it). It is a helper for end-to-end tests that
// run a real nori-agent; it creates no agent itself.
//
//	cniconformance.Run(t, conflist, []string{binDir, "/usr/lib/cni"}, "/run/netns/h1-c1", "0.4.0", "1.0.0", "1.1.0")
//
// The list is run once per version with "cniVersion" replaced. Debian 12's
// reference plugins (portmap, host-local 1.1.1) stop at 1.0.0, so a list
// run at 1.1.0 must not contain them.
package cniconformance
