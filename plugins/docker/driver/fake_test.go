// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/dockerapi"
	"github.com/nori-net/nori/plugins/docker/state"
)

const (
	testCIDR   = "10.99.0.0/24"
	testRouter = "10.99.0.1"
	// testCluster holds testCIDR, as the cluster pool holds every node CIDR.
	testCluster = "10.96.0.0/12"
	testSocket  = "/test/nori.sock"
)

// fakeAgent is an in-memory Agent: it hands out addresses from testCIDR
// and records endpoints and labels, touching no kernel state.
type fakeAgent struct {
	mu          sync.Mutex
	unreachable bool
	noLabels    bool // answer EndpointLabels as an agent without the route
	next        netip.Addr
	allocs      map[string]api.IPAMRequest // by address
	endpoints   map[api.Attachment]*api.EndpointRequest
	labels      []LabelsRequest
	calls       []string
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{
		next:      netip.MustParseAddr(testRouter).Next(),
		allocs:    map[string]api.IPAMRequest{},
		endpoints: map[api.Attachment]*api.EndpointRequest{},
	}
}

func (f *fakeAgent) enter(call string) error {
	f.calls = append(f.calls, call)
	if f.unreachable {
		return fmt.Errorf("%w at %s: dial unix: connection refused", api.ErrUnreachable, testSocket)
	}
	return nil
}

func (f *fakeAgent) Status(context.Context) (*api.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("Status"); err != nil {
		return nil, err
	}
	return &api.Status{IPAM: api.IPAMStatus{CIDR: testCIDR, Router: testRouter, ClusterCIDR: testCluster}}, nil
}

func (f *fakeAgent) IPAMAllocate(_ context.Context, req *api.IPAMRequest) (*api.IPAMResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("IPAMAllocate"); err != nil {
		return nil, err
	}
	ip := f.next
	if len(req.RequestedIPs) == 1 {
		ip = netip.MustParseAddr(req.RequestedIPs[0])
		if _, held := f.allocs[ip.String()]; held {
			return nil, &api.Error{Code: api.CodeConflict, Message: "allocate " + ip.String() + ": held by another container"}
		}
	} else {
		f.next = f.next.Next()
	}
	f.allocs[ip.String()] = *req
	return &api.IPAMResult{IPs: []api.IPConfig{{Address: ip.String() + "/24", Gateway: testRouter}}}, nil
}

func (f *fakeAgent) IPAMRelease(_ context.Context, req *api.IPAMReleaseRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("IPAMRelease"); err != nil {
		return err
	}
	if req.Address != "" {
		delete(f.allocs, req.Address)
		return nil
	}
	for ip, r := range f.allocs {
		if r.Attachment == req.Attachment {
			delete(f.allocs, ip)
		}
	}
	return nil
}

func (f *fakeAgent) IPAMGC(_ context.Context, req *api.GCRequest) (*api.GCResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("IPAMGC"); err != nil {
		return nil, err
	}
	res := &api.GCResult{}
	for ip, r := range f.allocs {
		if r.Owner == req.Owner && !slices.Contains(req.Valid, r.Attachment) {
			delete(f.allocs, ip)
			res.Released = append(res.Released, r.Attachment)
		}
	}
	return res, nil
}

func (f *fakeAgent) EndpointCreate(_ context.Context, req *api.EndpointRequest) (*api.EndpointResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("EndpointCreate"); err != nil {
		return nil, err
	}
	if !req.SkipNetnsSetup && req.Netns == "" {
		return nil, &api.Error{Code: api.CodeInvalid, Message: "netns is empty"}
	}
	cp := *req
	f.endpoints[req.Attachment] = &cp
	return &api.EndpointResult{
		ID:        uint16(len(f.endpoints)),
		Host:      api.Interface{Name: "lxc" + req.ContainerID[:11], MAC: "02:00:00:00:00:01"},
		Container: api.Interface{Name: req.IfName, MAC: "02:00:00:00:00:02"},
		IPs:       []api.IPConfig{{Address: req.IPs[0].Address, Gateway: testRouter}},
		Gateway:   testRouter,
	}, nil
}

func (f *fakeAgent) EndpointDelete(_ context.Context, req *api.EndpointDeleteRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("EndpointDelete"); err != nil {
		return err
	}
	delete(f.endpoints, req.Attachment)
	return nil
}

func (f *fakeAgent) EndpointLabels(_ context.Context, req *LabelsRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.enter("EndpointLabels"); err != nil {
		return err
	}
	if f.noLabels {
		return &api.Error{Code: api.CodeInternal, Message: "agent answered 404 Not Found: 404 page not found", HTTPStatus: http.StatusNotFound}
	}
	if _, ok := f.endpoints[req.Attachment]; !ok {
		return &api.Error{Code: api.CodeNotFound, Message: "no endpoint", HTTPStatus: http.StatusNotFound}
	}
	f.labels = append(f.labels, *req)
	return nil
}

func (f *fakeAgent) setUnreachable(v bool) {
	f.mu.Lock()
	f.unreachable = v
	f.mu.Unlock()
}

// fakeDocker lists endpoint → container on networks, each after a given
// number of polls (Docker lists a container only after Join returned;
// before, it shows "ep-<endpoint ID>").
type fakeDocker struct {
	mu         sync.Mutex
	netName    string
	endpoints  map[string]string // endpoint → container
	delay      int               // polls before the endpoints show
	polls      int
	containers map[string]*dockerapi.Container
}

func (f *fakeDocker) Network(_ context.Context, id string) (*dockerapi.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	n := &dockerapi.Network{ID: id, Name: f.netName, Endpoints: map[string]string{}}
	for e, c := range f.endpoints {
		if f.polls <= f.delay {
			// Not tied to its sandbox yet: Docker lists the endpoint
			// under its own ID.
			c = "ep-" + e
		}
		n.Endpoints[e] = c
	}
	return n, nil
}

func (f *fakeDocker) Container(_ context.Context, id string) (*dockerapi.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, fmt.Errorf("inspect container %s: %w", id, dockerapi.ErrNotFound)
	}
	return c, nil
}

// harness is a Driver behind a test HTTP server.
type harness struct {
	t      *testing.T
	agent  *fakeAgent
	docker *fakeDocker
	dir    string
	d      *Driver
	srv    *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, agent: newFakeAgent(), dir: t.TempDir(),
		docker: &fakeDocker{netName: "nori-net", endpoints: map[string]string{}, containers: map[string]*dockerapi.Container{}}}
	h.start()
	return h
}

// start (re)creates the driver on the harness's state dir, as a restart
// of nori-docker would.
func (h *harness) start() {
	h.t.Helper()
	if h.srv != nil {
		h.srv.Close()
		h.d.Close()
	}
	st, err := state.Open(h.dir)
	if err != nil {
		h.t.Fatalf("open state: %v", err)
	}
	h.d = New(Config{Agent: h.agent, Docker: h.docker, State: st, AgentSocket: testSocket, LabelTimeout: 5 * time.Second})
	h.srv = httptest.NewServer(h.d.Handler())
	srv, d := h.srv, h.d
	h.t.Cleanup(func() { srv.Close(); d.Close() })
}

// call posts body to /method and returns the status and the trimmed body.
func (h *harness) call(method, body string) (int, string) {
	h.t.Helper()
	resp, err := http.Post(h.srv.URL+"/"+method, MediaType, strings.NewReader(body))
	if err != nil {
		h.t.Fatalf("POST %s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != MediaType {
		h.t.Errorf("%s: Content-Type %q, want %q", method, ct, MediaType)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// ok calls and fails the test unless Docker would read success.
func (h *harness) ok(method, body string) string {
	h.t.Helper()
	status, out := h.call(method, body)
	if status != http.StatusOK {
		h.t.Fatalf("%s %s: status %d: %s", method, body, status, out)
	}
	return out
}

func (h *harness) state() *state.Data {
	var d *state.Data
	h.d.cfg.State.View(func(s *state.Data) { d = s })
	return d
}
