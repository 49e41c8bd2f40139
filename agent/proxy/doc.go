// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package proxy is the user-space half of Nori's L7 proxy: it terminates
// TLS for a policy port with the certificates of a secret folder, applies
// the port's HTTP rules, and forwards allowed requests to the connection's
// original destination in plaintext (or over TLS when the rule originates
// TLS). The agent owns the listeners and the BPF redirect; this package
// only serves an already accepted connection stream, so it is tested on
// loopback without namespaces.
package proxy
