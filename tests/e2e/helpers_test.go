// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

// Package e2e holds Nori's end-to-end tests: real nori-agent processes on
// simulated hosts (network namespaces on a switch), real runtimes
// (nerdctl + containerd, Podman) and the real CNI plugins driven through
// libcni. Run with `make test` (or `go test -tags e2e ./tests/e2e/` as
// root after scripts/install-test-deps.sh and make build).
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/tests/harness"
)

// nsPluginDir returns a directory of wrappers that run each of the host's
// CNI plugins inside the host's network namespace, as a runtime on that
// host would (the test process itself stays in the root namespace, and
// portmap must program the host's iptables, not ours).
func nsPluginDir(t *testing.T, h *harness.Host) string {
	t.Helper()
	dir := filepath.Join(h.Dir, "cni", "nsbin")
	if _, err := os.Stat(dir); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(h.CNIBinDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		script := fmt.Sprintf("#!/bin/sh\nexec nsenter --net=%s %s \"$@\"\n", h.Netns, filepath.Join(h.CNIBinDir, e.Name()))
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cniRuntime drives a network list through libcni on a host.
type cniRuntime struct {
	h    *harness.Host
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

func newCNIRuntime(t *testing.T, h *harness.Host, conflist string) *cniRuntime {
	t.Helper()
	list, err := libcni.ConfListFromBytes([]byte(conflist))
	if err != nil {
		t.Fatalf("parse conflist: %v", err)
	}
	return &cniRuntime{
		h:    h,
		cni:  libcni.NewCNIConfigWithCacheDir([]string{nsPluginDir(t, h)}, filepath.Join(h.Dir, "cni", "cache"), nil),
		list: list,
	}
}

func (r *cniRuntime) rt(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netns,
		IfName:      "eth0",
		Args:        [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", id}},
	}
}

func (r *cniRuntime) add(ctx context.Context, id, netns string) (*current.Result, error) {
	res, err := r.cni.AddNetworkList(ctx, r.list, r.rt(id, netns))
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(res)
}

func (r *cniRuntime) del(ctx context.Context, id, netns string) error {
	return r.cni.DelNetworkList(ctx, r.list, r.rt(id, netns))
}

// newNetns creates a network namespace standing for a container and
// removes it when the test ends.
func newNetns(t *testing.T, name string) string {
	t.Helper()
	full := fmt.Sprintf("nc-%s-%d", name, time.Now().UnixNano()%1e6)
	if out, err := run("ip", "netns", "add", full); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = run("ip", "netns", "del", full) })
	_, _ = run("ip", "-n", full, "link", "set", "lo", "up")
	return "/run/netns/" + full
}

// inNS runs a command in a network namespace given by path.
func inNS(netns string, args ...string) (string, error) {
	return run("nsenter", append([]string{"--net=" + netns}, args...)...)
}

func resultIP(t *testing.T, res *current.Result) string {
	t.Helper()
	if len(res.IPs) == 0 {
		t.Fatalf("result without IPs: %+v", res)
	}
	return res.IPs[0].Address.IP.String()
}

// cniCode extracts the CNI error code from a libcni error.
func cniCode(err error) (uint, string) {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code, e.Msg
	}
	return 0, fmt.Sprint(err)
}

// waitFor polls cond until it returns nil or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %s: %v", what, timeout, err)
}

func endpoints(t *testing.T, h *harness.Host) []api.Endpoint {
	t.Helper()
	eps, err := h.Client().Endpoints(context.Background())
	if err != nil {
		t.Fatalf("list endpoints on %s: %v", h.Name, err)
	}
	return eps
}

// noriCLI runs the nori CLI against a host's agent.
func noriCLI(t *testing.T, h *harness.Host, args ...string) string {
	t.Helper()
	out, err := run(filepath.Join(harness.BinDir(t), "nori"), append([]string{"--socket", h.Socket}, args...)...)
	if err != nil {
		t.Fatalf("nori %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}
