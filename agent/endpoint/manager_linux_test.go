// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package endpoint

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/internal/netnstest"
	"github.com/nori-net/nori/agent/link"
)

// fakeDatapath records what the manager asks of the datapath; the real
// datapath has its own kernel tests and the e2e suite.
type fakeDatapath struct {
	mu       sync.Mutex
	attached map[uint16]uint32 // endpoint ID → identity
}

func (f *fakeDatapath) Attach(ep *Endpoint) error { return f.Update(ep) }
func (f *fakeDatapath) Update(ep *Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attached[ep.ID] = ep.Identity
	return nil
}
func (f *fakeDatapath) Detach(ep *Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.attached, ep.ID)
	return nil
}
func (f *fakeDatapath) identity(id uint16) (uint32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.attached[id]
	return v, ok
}

type fakeIdentities struct{}

func (fakeIdentities) Allocate(_ context.Context, labels []string) (uint32, error) {
	return uint32(256 + len(labels)), nil
}
func (fakeIdentities) Release(context.Context, uint32) error { return nil }

// fakeLabels resolves asynchronously after a short delay, like podman.
type fakeLabels struct{}

func (fakeLabels) Synchronous(Lookup) bool { return false }
func (fakeLabels) Resolve(_ context.Context, l Lookup) (string, string, []string, error) {
	return "podman", l.Args["K8S_POD_NAME"], []string{"container:app=web", "container:tier=front"}, nil
}

func newNetns(t *testing.T, prefix string) string { return netnstest.New(t, prefix) }

// inNetns runs fn on a thread that lives in the named namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	_ = netnstest.NewWorker(t, name).Do(func() error { fn(); return nil })
}

func newManager(t *testing.T, dir string, dp *fakeDatapath) *Manager {
	t.Helper()
	m, err := NewManager(Config{
		StateDir: dir, Router: netip.MustParseAddr("10.98.0.1"), DefaultMTU: 1450,
		Datapath: dp, Identities: fakeIdentities{}, Labels: fakeLabels{},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestManagerLifecycle(t *testing.T) {
	node := newNetns(t, "nori-et-node")
	ctr := newNetns(t, "nori-et-ctr")
	ctr2 := newNetns(t, "nori-et-ctr")
	dir := t.TempDir()
	dp := &fakeDatapath{attached: map[uint16]uint32{}}
	ctx := context.Background()
	req := &api.EndpointRequest{
		Attachment: api.Attachment{ContainerID: "abc", IfName: "eth0"},
		Netns:      "/run/netns/" + ctr,
		IPs:        []api.IPConfig{{Address: "10.98.0.5/24"}},
		Args:       map[string]string{"K8S_POD_NAME": "web1"},
	}
	req2 := &api.EndpointRequest{
		Attachment: api.Attachment{ContainerID: "def", IfName: "eth0"},
		Netns:      "/run/netns/" + ctr2,
		IPs:        []api.IPConfig{{Address: "10.98.0.6/24"}},
	}
	inNetns(t, node, func() {
		m := newManager(t, dir, dp)
		res, err := m.Create(ctx, req)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if res.IPs[0].Address != "10.98.0.5/32" || res.Gateway != "10.98.0.1" || res.Container.Sandbox != req.Netns || res.Host.Name == "" {
			t.Fatalf("unexpected result %+v", res)
		}
		again, err := m.Create(ctx, req)
		if err != nil || again.ID != res.ID {
			t.Fatalf("repeated Create must return the same endpoint: %+v %v", again, err)
		}
		if _, err := m.Create(ctx, req2); err != nil {
			t.Fatalf("Create 2: %v", err)
		}
		// Labels arrive asynchronously; the identity follows.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ep, err := m.Get(res.ID)
			if err == nil && ep.State == api.StateReady {
				if ep.Name != "web1" || len(ep.Labels) != 2 || ep.Identity != 258 {
					t.Fatalf("resolved endpoint wrong: %+v", ep)
				}
				if id, _ := dp.identity(res.ID); id != 258 {
					t.Fatalf("datapath identity %d, want 258", id)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("identity not resolved: %+v %v", ep, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := m.Check(ctx, &api.EndpointCheckRequest{Attachment: req.Attachment, Netns: req.Netns, IPs: []api.IPConfig{{Address: "10.98.0.5/32"}}}); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if err := m.Check(ctx, &api.EndpointCheckRequest{Attachment: req.Attachment, Netns: req.Netns, IPs: []api.IPConfig{{Address: "10.98.0.77/32"}}}); err == nil {
			t.Fatal("Check with a wrong address succeeded")
		}
		m.Close()

		// Container 2 goes away while the agent is "down".
		if out, err := exec.Command("ip", "netns", "del", ctr2).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		// Namespace teardown (and with it the veth) is asynchronous.
		for i := 0; i < 100; i++ {
			if _, _, err := link.HostLink(link.HostIfName("def", "eth0")); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		m2 := newManager(t, dir, dp)
		gone, err := m2.Restore(ctx)
		if err != nil {
			t.Fatalf("Restore: %v", err)
		}
		if len(gone) != 1 || gone[0] != req2.Attachment {
			t.Fatalf("gone = %v, want [%v]", gone, req2.Attachment)
		}
		eps := m2.List()
		if len(eps) != 1 || eps[0].ID != res.ID || eps[0].State != api.StateReady {
			t.Fatalf("restored endpoints %+v", eps)
		}
		if _, ok := dp.identity(res.ID); !ok {
			t.Fatal("restore did not re-attach the datapath")
		}
		released, err := m2.GC(ctx, "", nil)
		if err != nil || len(released) != 1 {
			t.Fatalf("GC: %v %v", released, err)
		}
		if m2.Count() != 0 {
			t.Fatal("GC left endpoints")
		}
		if err := m2.Delete(ctx, req.Attachment); err != nil {
			t.Fatalf("Delete of a deleted endpoint must succeed: %v", err)
		}
	})
}

func TestCreateValidation(t *testing.T) {
	m := newManager(t, t.TempDir(), &fakeDatapath{attached: map[uint16]uint32{}})
	for _, req := range []*api.EndpointRequest{
		{Attachment: api.Attachment{IfName: "eth0"}, Netns: "/x", IPs: []api.IPConfig{{Address: "10.0.0.2/32"}}},
		{Attachment: api.Attachment{ContainerID: "a"}, Netns: "/x", IPs: []api.IPConfig{{Address: "10.0.0.2/32"}}},
		{Attachment: api.Attachment{ContainerID: "a", IfName: "eth0"}, IPs: []api.IPConfig{{Address: "10.0.0.2/32"}}},
		{Attachment: api.Attachment{ContainerID: "a", IfName: "eth0"}, Netns: "/x"},
		{Attachment: api.Attachment{ContainerID: "a", IfName: "eth0"}, Netns: "/x", IPs: []api.IPConfig{{Address: "nope"}}},
		{Attachment: api.Attachment{ContainerID: "a", IfName: "eth0"}, Netns: "/x", IPs: []api.IPConfig{{Address: "fd00::1/128"}}},
	} {
		if _, err := m.Create(context.Background(), req); err == nil {
			t.Errorf("Create(%+v) succeeded", req)
		}
	}
}

// TestHostOnlyEndpoint is the Docker driver's path: both veth ends in the
// node namespace (Docker moves the container end at Join), no label
// lookup by the agent, labels set later by the driver, and checks,
// repeated creates and deletes that only look at the host end.
func TestHostOnlyEndpoint(t *testing.T) {
	node := newNetns(t, "nori-et-node")
	dp := &fakeDatapath{attached: map[uint16]uint32{}}
	ctx := context.Background()
	att := api.Attachment{ContainerID: "0123456789abcdef", IfName: "tmp0123456789ab"}
	req := &api.EndpointRequest{
		Attachment: att, SkipNetnsSetup: true, Runtime: "docker",
		IPs: []api.IPConfig{{Address: "10.98.0.9/32"}},
	}
	inNetns(t, node, func() {
		m := newManager(t, t.TempDir(), dp)
		res, err := m.Create(ctx, req)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		peer, err := netlink.LinkByName(att.IfName)
		if err != nil {
			t.Fatalf("container end %s not in the node namespace: %v", att.IfName, err)
		}
		if peer.Attrs().HardwareAddr.String() != res.Container.MAC {
			t.Errorf("container end MAC %s, result says %s", peer.Attrs().HardwareAddr, res.Container.MAC)
		}
		if _, err := netlink.LinkByName(res.Host.Name); err != nil {
			t.Fatalf("host end %s: %v", res.Host.Name, err)
		}
		// Docker moves the container end away: simulate with a rename.
		if err := netlink.LinkSetName(peer, "moved0"); err != nil {
			t.Fatal(err)
		}
		if err := m.Check(ctx, &api.EndpointCheckRequest{Attachment: att}); err != nil {
			t.Errorf("Check after the container end moved: %v", err)
		}
		again, err := m.Create(ctx, req)
		if err != nil || again.ID != res.ID || again.Host.Name != res.Host.Name {
			t.Fatalf("repeated Create must keep the endpoint: %+v %v", again, err)
		}
		time.Sleep(100 * time.Millisecond) // no background resolution may run
		if ep, _ := m.Get(res.ID); ep.State != api.StateWaitingForIdentity {
			t.Fatalf("before SetLabels: state %s, want waiting-for-identity (labels come from the driver)", ep.State)
		}
		if err := m.SetLabels(ctx, &api.EndpointLabelsRequest{Attachment: att, Runtime: "docker", Name: "app1",
			Labels: map[string]string{"name": "app1"}, Netns: "/var/run/docker/netns/abc"}); err != nil {
			t.Fatalf("SetLabels: %v", err)
		}
		ep, _ := m.Get(res.ID)
		if ep.State != api.StateReady || ep.Name != "app1" || len(ep.Labels) != 1 || ep.Labels[0] != "container:name=app1" || ep.Netns != "/var/run/docker/netns/abc" {
			t.Fatalf("after SetLabels: %+v", ep)
		}
		if id, _ := dp.identity(res.ID); id != ep.Identity {
			t.Errorf("datapath identity %d, endpoint %d", id, ep.Identity)
		}
		// A create retried after the labels came (and with them the
		// sandbox path) must still find the same endpoint.
		if again, err := m.Create(ctx, req); err != nil || again.ID != res.ID {
			t.Fatalf("Create after SetLabels must keep the endpoint: %+v %v", again, err)
		}
		if ep, _ := m.Get(res.ID); ep.State != api.StateReady || ep.Identity == 0 {
			t.Fatalf("Create after SetLabels reset the endpoint: %+v", ep)
		}
		if err := m.SetLabels(ctx, &api.EndpointLabelsRequest{Attachment: api.Attachment{ContainerID: "nope", IfName: "x"}}); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetLabels of an unknown endpoint: %v, want ErrNotFound", err)
		}
		if err := m.Delete(ctx, att); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := netlink.LinkByName(res.Host.Name); err == nil {
			t.Errorf("host end %s left after Delete", res.Host.Name)
		}
	})
}
