// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"strings"
	"testing"
)

// TestEtcd starts Debian's etcd on its own host, writes through it from
// another host over the underlay, restarts it and reads the key back.
func TestEtcd(t *testing.T) {
	sw := NewSwitch(t)
	h := sw.AddHost(t, "a")
	e := sw.StartEtcd(t)
	if out, err := h.Exec(t, "env", "ETCDCTL_API=3", "etcdctl", "--endpoints=http://"+e.Address(), "put", "k", "v"); err != nil {
		t.Fatalf("put from host a: %v %s", err, out)
	}
	e.Stop(t)
	e.Start(t)
	out, err := e.Ctl(t, "get", "k", "--print-value-only")
	if err != nil || strings.TrimSpace(out) != "v" {
		t.Fatalf("get after restart: %q %v", out, err)
	}
}

// TestEtcdTLS: with client certificates required, etcdctl with the
// client certificate works and without it fails.
func TestEtcdTLS(t *testing.T) {
	sw := NewSwitch(t)
	e := sw.StartEtcdTLS(t)
	if out, err := e.Ctl(t, "put", "k", "v"); err != nil {
		t.Fatalf("put with a client certificate: %v %s", err, out)
	}
	out, err := e.Host.Exec(t, "env", "ETCDCTL_API=3", "etcdctl", "--endpoints=https://"+e.Address(),
		"--cacert="+e.tls.ca, "--dial-timeout=2s", "--command-timeout=3s", "get", "k")
	if err == nil {
		t.Fatalf("get without a client certificate succeeded: %s", out)
	}
}
