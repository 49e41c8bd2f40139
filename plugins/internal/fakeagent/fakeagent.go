// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package fakeagent is an in-memory stand-in for nori-agent's socket API,
// for the plugins' logic tests only: it hands out addresses and records
// endpoints but touches no kernel state. The real agent is what the
// conformance tests (tests/cniconformance) run against.
package fakeagent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

// Router is the fake node's router address; the node CIDR is Prefix.
const (
	Router = "10.99.0.1"
	Prefix = "10.99.0.0/24"
)

// Agent is a running fake.
type Agent struct {
	// Socket is the unix socket it listens on.
	Socket string

	mu        sync.Mutex
	fail      map[string]*api.Error
	next      netip.Addr
	allocs    map[api.Attachment]string
	owners    map[api.Attachment]string
	endpoints map[api.Attachment]*api.EndpointRequest
	calls     []string
}

// Start runs a fake on a socket in t's temp dir; it stops on cleanup.
func Start(t testing.TB) *Agent {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "nori.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("listen on %s: %v", sock, err)
	}
	a := &Agent{
		Socket:    sock,
		fail:      map[string]*api.Error{},
		next:      netip.MustParseAddr(Router).Next(),
		allocs:    map[api.Attachment]string{},
		owners:    map[api.Attachment]string{},
		endpoints: map[api.Attachment]*api.EndpointRequest{},
	}
	srv := httptest.NewUnstartedServer(a.mux())
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return a
}

// Fail makes every call to path answer e until cleared with nil.
func (a *Agent) Fail(path string, e *api.Error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e == nil {
		delete(a.fail, path)
		return
	}
	a.fail[path] = e
}

// Calls lists the paths called so far, in order.
func (a *Agent) Calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// Endpoint returns the recorded request of an attachment's endpoint.
func (a *Agent) Endpoint(at api.Attachment) (*api.EndpointRequest, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ep, ok := a.endpoints[at]
	return ep, ok
}

// Allocated returns an attachment's address.
func (a *Agent) Allocated(at api.Attachment) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.allocs[at]
	return ip, ok
}

func (a *Agent) mux() http.Handler {
	m := http.NewServeMux()
	handle := func(path string, f func(body json.RawMessage) (any, *api.Error)) {
		m.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			var body json.RawMessage
			if r.Method == http.MethodPost {
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					reply(w, nil, &api.Error{Code: api.CodeInvalid, Message: "decode body: " + err.Error()})
					return
				}
			}
			a.mu.Lock()
			a.calls = append(a.calls, path)
			e := a.fail[path]
			var out any
			if e == nil {
				out, e = f(body)
			}
			a.mu.Unlock()
			reply(w, out, e)
		})
	}
	handle(api.PathHealthz, func(json.RawMessage) (any, *api.Error) { return map[string]string{"status": "ok"}, nil })
	handle(api.PathIPAMAllocate, a.allocate)
	handle(api.PathIPAMRelease, a.release)
	handle(api.PathIPAMGC, a.ipamGC)
	handle(api.PathEndpointCreate, a.create)
	handle(api.PathEndpointDelete, a.delete)
	handle(api.PathEndpointCheck, a.check)
	handle(api.PathEndpointGC, a.endpointGC)
	handle(api.PathEndpoints, func(json.RawMessage) (any, *api.Error) { return a.list(), nil })
	return m
}

func reply(w http.ResponseWriter, out any, e *api.Error) {
	w.Header().Set("Content-Type", "application/json")
	if e != nil {
		status := http.StatusInternalServerError
		switch e.Code {
		case api.CodeInvalid:
			status = http.StatusBadRequest
		case api.CodeNotFound:
			status = http.StatusNotFound
		case api.CodeNotReady, api.CodePoolExhausted:
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(e)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func decode[T any](body json.RawMessage) (*T, *api.Error) {
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	return &v, nil
}

func (a *Agent) allocate(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.IPAMRequest](body)
	if e != nil {
		return nil, e
	}
	ip, ok := a.allocs[req.Attachment]
	if !ok && req.CheckOnly {
		return nil, &api.Error{Code: api.CodeNotFound, Message: "no allocation"}
	}
	if !ok {
		switch {
		case len(req.RequestedIPs) > 0:
			ip = req.RequestedIPs[0]
		case !netip.MustParsePrefix(Prefix).Contains(a.next):
			return nil, &api.Error{Code: api.CodePoolExhausted, Message: "no free address in node CIDR " + Prefix}
		default:
			ip = a.next.String()
			a.next = a.next.Next()
		}
		a.allocs[req.Attachment] = ip
		a.owners[req.Attachment] = req.Owner
	}
	return &api.IPAMResult{
		IPs:    []api.IPConfig{{Address: ip + "/24", Gateway: Router}},
		Routes: []api.Route{{Dst: "0.0.0.0/0", GW: Router}},
	}, nil
}

func (a *Agent) release(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.IPAMReleaseRequest](body)
	if e != nil {
		return nil, e
	}
	delete(a.allocs, req.Attachment)
	delete(a.owners, req.Attachment)
	return struct{}{}, nil
}

func (a *Agent) ipamGC(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.GCRequest](body)
	if e != nil {
		return nil, e
	}
	keep := valid(req.Valid)
	res := &api.GCResult{Released: []api.Attachment{}}
	for at := range a.allocs {
		if !keep[at] && a.owners[at] == req.Owner {
			delete(a.allocs, at)
			res.Released = append(res.Released, at)
		}
	}
	return res, nil
}

func (a *Agent) create(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.EndpointRequest](body)
	if e != nil {
		return nil, e
	}
	if len(req.IPs) == 0 {
		return nil, &api.Error{Code: api.CodeInvalid, Message: `invalid "ips": no address`}
	}
	a.endpoints[req.Attachment] = req
	ip, _, err := net.ParseCIDR(req.IPs[0].Address)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	mtu := req.MTU
	if mtu == 0 {
		mtu = 1450
	}
	return &api.EndpointResult{
		ID:        uint16(len(a.endpoints)),
		Host:      api.Interface{Name: "lxc" + req.ContainerID[:min(8, len(req.ContainerID))], MAC: "02:00:00:00:00:01", MTU: mtu},
		Container: api.Interface{Name: req.IfName, MAC: "02:00:00:00:00:02", MTU: mtu, Sandbox: req.Netns},
		IPs:       []api.IPConfig{{Address: ip.String() + "/32", Gateway: Router}},
		Routes:    []api.Route{{Dst: "0.0.0.0/0", GW: Router}},
		Gateway:   Router,
	}, nil
}

func (a *Agent) delete(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.EndpointDeleteRequest](body)
	if e != nil {
		return nil, e
	}
	delete(a.endpoints, req.Attachment)
	return struct{}{}, nil
}

func (a *Agent) check(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.EndpointCheckRequest](body)
	if e != nil {
		return nil, e
	}
	if _, ok := a.endpoints[req.Attachment]; !ok {
		return nil, &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no endpoint for %s/%s", req.ContainerID, req.IfName)}
	}
	if len(req.IPs) == 0 {
		return nil, &api.Error{Code: api.CodeInvalid, Message: "check without addresses"}
	}
	return struct{}{}, nil
}

func (a *Agent) endpointGC(body json.RawMessage) (any, *api.Error) {
	req, e := decode[api.GCRequest](body)
	if e != nil {
		return nil, e
	}
	keep := valid(req.Valid)
	res := &api.GCResult{Released: []api.Attachment{}}
	for at, ep := range a.endpoints {
		if !keep[at] && (req.Network == "" || ep.Network == req.Network) {
			delete(a.endpoints, at)
			res.Released = append(res.Released, at)
		}
	}
	return res, nil
}

func (a *Agent) list() []api.Endpoint {
	out := []api.Endpoint{}
	for at, ep := range a.endpoints {
		out = append(out, api.Endpoint{ContainerID: at.ContainerID, IfName: at.IfName, Netns: ep.Netns, Network: ep.Network, State: api.StateReady})
	}
	return out
}

func valid(list []api.Attachment) map[api.Attachment]bool {
	m := make(map[api.Attachment]bool, len(list))
	for _, at := range list {
		m[at] = true
	}
	return m
}
