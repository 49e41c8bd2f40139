// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package netconf parses what a CNI runtime hands nori-cni and nori-ipam:
// the network configuration on stdin, its runtimeConfig capabilities and
// CNI_ARGS. Every rejection is a *types.Error with code 7 (or 4 for
// CNI_ARGS) whose message names the exact offending field, so that a user
// can fix the conflist without reading the source.
package netconf
