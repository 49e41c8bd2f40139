// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package plugins_test guards what the CNI plugins link.
package plugins_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes no plugin may depend on: the agent's
// internals (only agent/api is the plugins' contract) and the heavy
// libraries the agent uses for the datapath and the store. A plugin that
// links them grows by megabytes and starts owning logic that belongs to
// the agent.
var forbidden = []string{
	"github.com/nori-net/nori/agent/",
	"github.com/cilium/ebpf",
	"go.etcd.io/etcd",
	"github.com/vishvananda/netlink",
}

const allowed = "github.com/nori-net/nori/agent/api"

func TestPluginDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/nori-net/nori/plugins/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	seen := map[string]bool{}
	for _, d := range deps {
		seen[d] = true
		if d == allowed || strings.HasPrefix(d, allowed+"/") {
			continue
		}
		for _, f := range forbidden {
			if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) {
				t.Errorf("plugins depend on %s (forbidden: %s*); find the importer with: go mod why %s", d, f, d)
			}
		}
	}
	// Guard the guard: an empty or wrong list would pass vacuously.
	for _, must := range []string{"github.com/nori-net/nori/plugins/cni", "github.com/nori-net/nori/plugins/ipam", "github.com/nori-net/nori/plugins/docker", allowed} {
		if !seen[must] {
			t.Errorf("go list -deps did not list %s; the check saw %d packages", must, len(deps))
		}
	}
}
