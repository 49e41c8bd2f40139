// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/plugins/internal/fakeagent"
)

// newNetns creates an empty network namespace the test owns and removes
// it on cleanup.
func newNetns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("nori-cnitest-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	return "/run/netns/" + name
}

// TestDelAgentDownNetnsAlive: while the container's netns (and so its veth
// and address) still exists, DEL with a dead agent answers 11 and keeps the
// address reserved; the retried DEL, with the agent back, frees both.
func TestDelAgentDownNetnsAlive(t *testing.T) {
	netns := newNetns(t)
	if !netnsAlive(netns) {
		t.Fatalf("netnsAlive(%s) = false for a live netns", netns)
	}
	if netnsAlive("/run/netns/nori-test-absent") || netnsAlive("") || netnsAlive("/etc/hostname") {
		t.Fatal("netnsAlive true for something that is not a netns")
	}

	data := t.TempDir()
	ipam := fmt.Sprintf(`{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.98.0.0/24"}]]}`, data)
	agent := fakeagent.Start(t)
	c := conf("1.0.0", agent.Socket, ipam, "")
	mustOK(t, run(t, "nori-cni", "ADD", "c-alive", netns, "", c), "ADD")

	dead := deadSockets(t)["missing"]
	out := run(t, "nori-cni", "DEL", "c-alive", netns, "", conf("1.0.0", dead, ipam, ""))
	mustCode(t, out, types.ErrTryAgainLater, "nori-agent is not reachable at "+dead)
	if len(ipFiles(t, data)) != 1 {
		t.Errorf("host-local released the address of a live interface: %v", ipFiles(t, data))
	}

	mustOK(t, run(t, "nori-cni", "DEL", "c-alive", netns, "", c), "retried DEL")
	if f := ipFiles(t, data); len(f) != 0 {
		t.Errorf("host-local still holds %v", f)
	}
}
