// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Parse(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.KVStore != "embedded" || c.Socket != "/run/nori/nori.sock" || c.ClusterPoolIPv4CIDR.String() != "10.0.0.0/8" ||
		c.ClusterPoolMaskSize != 24 || c.Tunnel != "vxlan" || c.TunnelPort != 8472 || c.BPFRoot != "/sys/fs/bpf" ||
		c.KVStoreListen != "127.0.0.1:2379" || c.EnablePolicy != "default" || c.StateDir != "/var/lib/nori" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "agent.conf")
	if err := os.WriteFile(file, []byte("# comment\nnode-name: fromfile\ncluster-name=filecluster\nlog-level = debug\nkvstore-opt=etcd.address=10.1.1.1:2379\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]string{"--config-file", file, "--node-name", "fromflag", "--kvstore", "etcd"},
		env(map[string]string{"NORI_CLUSTER_NAME": "fromenv", "NORI_NODE_NAME": "envloses"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "fromflag" || c.ClusterName != "fromenv" || c.LogLevel != "debug" || c.KVStoreOpts["etcd.address"] != "10.1.1.1:2379" {
		t.Fatalf("precedence wrong: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kvstore", "consul"}, "--kvstore"},
		{[]string{"--kvstore", "etcd"}, "--kvstore-opt"},
		{[]string{"--kvstore-opt", "etcd.bogus=1"}, "unknown option"},
		{[]string{"--tunnel", "geneve"}, "--tunnel"},
		{[]string{"--tunnel-port", "70000"}, "--tunnel-port"},
		{[]string{"--cluster-pool-ipv4-cidr", "10.0.0.0"}, "--cluster-pool-ipv4-cidr"},
		{[]string{"--cluster-pool-ipv4-cidr", "10.0.0.0/16", "--cluster-pool-ipv4-mask-size", "8"}, "shorter than the pool"},
		{[]string{"--ipv4-node", "fe80::1"}, "--ipv4-node"},
		{[]string{"--enable-policy", "sometimes"}, "--enable-policy"},
		{[]string{"--state-dir", "relative"}, "absolute"},
		{[]string{"--mtu", "100"}, "--mtu"},
		{[]string{"--cluster-id", "300"}, "--cluster-id"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := Parse(tc.args, env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: want error containing %q, got %v", tc.args, tc.want, err)
		}
	}
}
