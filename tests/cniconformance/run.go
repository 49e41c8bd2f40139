// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cniconformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/nori-net/nori/agent/api"
)

// Run drives confList at each version (DefaultVersions when none) with
// the main attachment in netnsPath. See RunOptions.
func Run(t *testing.T, confList []byte, cniPath []string, netnsPath string, versions ...string) {
	t.Helper()
	RunOptions(t, Options{ConfList: confList, CNIPath: cniPath, Netns: netnsPath, Versions: versions})
}

// RunOptions runs, per version in a subtest named after it:
//
//  1. VERSION of every plugin (and IPAM plugin) of the list must include it;
//  2. ADD; CheckResult on the result; the agent lists the endpoint;
//  3. CHECK (from 0.4.0) and STATUS (from 1.1.0; libcni skips it below);
//  4. GC: a second attachment (in GCNetns) that the runtime does not list
//     is removed, and the listed one survives. From 1.1.0 the second one
//     is added through another libcni cache, so the plugins' own GC must
//     remove it; below, libcni's GC does it with a DEL from its cache;
//  5. DEL twice, then once more with an empty netns (nerdctl): all succeed
//     and the agent no longer lists the endpoint.
//
// Attachments are deleted on cleanup, also when the test fails.
func RunOptions(t *testing.T, o Options) {
	t.Helper()
	if err := o.defaults(); err != nil {
		t.Fatalf("cniconformance: %v", err)
	}
	if o.CacheDir == "" {
		o.CacheDir = t.TempDir()
	}
	if o.GCNetns == "" {
		o.GCNetns = newNetns(t)
	}
	for _, v := range o.Versions {
		t.Run(v, func(t *testing.T) { runVersion(t, o, v) })
	}
}

type suite struct {
	t       *testing.T
	o       Options
	version string
	list    *libcni.NetworkConfigList
	cni     *libcni.CNIConfig
	agent   *api.Client
}

func runVersion(t *testing.T, o Options, v string) {
	raw, err := atVersion(o.ConfList, v)
	if err != nil {
		t.Fatal(err)
	}
	list, err := libcni.NetworkConfFromBytes(raw)
	if err != nil {
		t.Fatalf("parse conflist at %s: %v", v, err)
	}
	s := &suite{t: t, o: o, version: v, list: list,
		cni: libcni.NewCNIConfigWithCacheDir(o.CNIPath, o.CacheDir, nil)}
	if o.AgentSocket != "-" {
		s.agent = &api.Client{Socket: o.AgentSocket, Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	s.checkVersions(ctx)

	main := s.rt("nori-conf-"+v+"-"+randHex(), o.Netns)
	t.Cleanup(func() { _ = s.cni.DelNetworkList(context.Background(), list, main) })
	res, err := s.cni.AddNetworkList(ctx, list, main)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	addrs, err := CheckResult(res, v, o.IfName, o.Netns)
	if err != nil {
		t.Fatalf("ADD result: %v\n%s", err, resultJSON(res))
	}
	s.wantEndpoint(ctx, main, true, addrs)

	s.check(ctx, main, "CHECK after ADD")
	if err := s.cni.GetStatusNetworkList(ctx, list); err != nil {
		t.Errorf("STATUS: %v", err)
	}

	s.gc(ctx, main)
	s.check(ctx, main, "CHECK after GC")

	for i := 1; i <= 2; i++ {
		if err := s.cni.DelNetworkList(ctx, list, main); err != nil {
			t.Errorf("DEL #%d: %v", i, err)
		}
	}
	noNetns := *main
	noNetns.NetNS = ""
	if err := s.cni.DelNetworkList(ctx, list, &noNetns); err != nil {
		t.Errorf("DEL with empty CNI_NETNS: %v", err)
	}
	s.wantEndpoint(ctx, main, false, nil)
}

// checkVersions asks every plugin of the list, and every IPAM plugin
// named in it, which versions it speaks.
func (s *suite) checkVersions(ctx context.Context) {
	var names []string
	for _, p := range s.list.Plugins {
		names = append(names, p.Network.Type)
		if p.Network.IPAM.Type != "" {
			names = append(names, p.Network.IPAM.Type)
		}
	}
	for _, name := range names {
		info, err := s.cni.GetVersionInfo(ctx, name)
		if err != nil {
			s.t.Fatalf("VERSION of %s: %v", name, err)
		}
		if !slices.Contains(info.SupportedVersions(), s.version) {
			s.t.Fatalf("VERSION: %s supports %v, not %s (Debian 12's reference plugins stop at 1.0.0)", name, info.SupportedVersions(), s.version)
		}
	}
}

func (s *suite) rt(containerID, netns string) *libcni.RuntimeConf {
	args := s.o.Args
	if args == nil {
		args = [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAME", containerID}}
	}
	return &libcni.RuntimeConf{
		ContainerID:    containerID,
		NetNS:          netns,
		IfName:         s.o.IfName,
		Args:           args,
		CapabilityArgs: s.o.CapabilityArgs,
	}
}

func (s *suite) check(ctx context.Context, rt *libcni.RuntimeConf, what string) {
	err := s.cni.CheckNetworkList(ctx, s.list, rt)
	if errors.Is(err, libcni.ErrorCheckNotSupp) {
		return // 0.3.x has no CHECK
	}
	if err != nil {
		s.t.Errorf("%s: %v", what, err)
	}
}

func (s *suite) gc(ctx context.Context, keep *libcni.RuntimeConf) {
	stale := s.rt("nori-conf-stale-"+s.version+"-"+randHex(), s.o.GCNetns)
	// From 1.1.0 libcni forwards GC to the plugins. Adding the stale
	// attachment through a cache the GC does not read leaves the removal
	// to the plugins; below 1.1.0 only libcni's cache-driven DEL exists.
	adder := s.cni
	if v11, _ := version.GreaterThanOrEqualTo(s.version, "1.1.0"); v11 {
		adder = libcni.NewCNIConfigWithCacheDir(s.o.CNIPath, s.t.TempDir(), nil)
	}
	s.t.Cleanup(func() { _ = adder.DelNetworkList(context.Background(), s.list, stale) })
	res, err := adder.AddNetworkList(ctx, s.list, stale)
	if err != nil {
		s.t.Fatalf("ADD of the attachment GC should remove: %v", err)
	}
	addrs, err := CheckResult(res, s.version, s.o.IfName, s.o.GCNetns)
	if err != nil {
		s.t.Fatalf("ADD result of the GC attachment: %v", err)
	}
	s.wantEndpoint(ctx, stale, true, addrs)

	err = s.cni.GCNetworkList(ctx, s.list, &libcni.GCArgs{ValidAttachments: []types.GCAttachment{
		{ContainerID: keep.ContainerID, IfName: keep.IfName},
	}})
	if err != nil {
		s.t.Errorf("GC: %v", err)
	}
	s.wantEndpoint(ctx, stale, false, nil)
	s.wantEndpoint(ctx, keep, true, nil)
}

// wantEndpoint asks the agent whether it lists the attachment (and, when
// addrs is given, with that address).
func (s *suite) wantEndpoint(ctx context.Context, rt *libcni.RuntimeConf, want bool, addrs []string) {
	s.t.Helper()
	if s.agent == nil {
		return
	}
	eps, err := s.agent.Endpoints(ctx)
	if err != nil {
		s.t.Fatalf("list endpoints at %s: %v", s.o.AgentSocket, err)
	}
	for _, ep := range eps {
		if ep.ContainerID != rt.ContainerID || ep.IfName != rt.IfName {
			continue
		}
		if !want {
			s.t.Errorf("agent still lists endpoint %d for %s/%s", ep.ID, rt.ContainerID, rt.IfName)
			return
		}
		if len(addrs) > 0 && ep.IPv4 != "" && !slices.Contains(addrs, ep.IPv4) && !slices.ContainsFunc(addrs, func(a string) bool { return a+"/32" == ep.IPv4 }) {
			s.t.Errorf("agent lists %s/%s with %s, result said %v", rt.ContainerID, rt.IfName, ep.IPv4, addrs)
		}
		return
	}
	if want {
		s.t.Errorf("agent does not list an endpoint for %s/%s", rt.ContainerID, rt.IfName)
	}
}

// newNetns creates a namespace for the GC attachment, removed on cleanup.
func newNetns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("nori-conf-%d-%s", os.Getpid(), randHex())
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

func randHex() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func resultJSON(r types.Result) string {
	if r == nil {
		return "<nil>"
	}
	var buf bytes.Buffer
	_ = r.PrintTo(&buf)
	return buf.String()
}
