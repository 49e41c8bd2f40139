// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

// memStore is a Store in memory for the allocator's logic; failPut makes
// the next Put fail.
type memStore struct {
	allocs  map[netip.Addr]Allocation
	last    netip.Addr
	failPut bool
}

func newMemStore() *memStore { return &memStore{allocs: map[netip.Addr]Allocation{}} }

func (m *memStore) Load() ([]Allocation, netip.Addr, error) {
	var out []Allocation
	for _, a := range m.allocs {
		out = append(out, a)
	}
	return out, m.last, nil
}

func (m *memStore) Put(a Allocation) error {
	if m.failPut {
		m.failPut = false
		return errors.New("disk full")
	}
	if _, ok := m.allocs[a.IP]; ok {
		return fmt.Errorf("%s exists", a.IP)
	}
	m.allocs[a.IP] = a
	return nil
}

func (m *memStore) Delete(ip netip.Addr) error { delete(m.allocs, ip); return nil }
func (m *memStore) SetLast(ip netip.Addr) error {
	m.last = ip
	return nil
}

func newAlloc(t *testing.T, cidr string, store Store, reserved ...netip.Addr) *Allocator {
	t.Helper()
	p := netip.MustParsePrefix(cidr)
	a, err := New(p, p.Addr().Next(), store, nil, reserved...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func req(id string, ips ...string) api.IPAMRequest {
	return api.IPAMRequest{Attachment: api.Attachment{ContainerID: id, IfName: "eth0"}, Owner: "cni", RequestedIPs: ips}
}

func TestNewValidates(t *testing.T) {
	tests := []struct{ cidr, router, want string }{
		{"10.0.1.0/24", "10.0.1.1", ""},
		{"10.0.1.0/31", "10.0.1.1", "prefix length"},
		{"fd00::/64", "fd00::1", "IPv4"},
		{"10.0.1.0/24", "10.0.2.1", "outside"},
	}
	for _, tt := range tests {
		_, err := New(netip.MustParsePrefix(tt.cidr), netip.MustParseAddr(tt.router), newMemStore(), nil)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("New(%s, %s) = %v, want %q", tt.cidr, tt.router, err, tt.want)
		}
	}
}

// A /29 with a reserved .6 leaves .2-.5: network, router, broadcast and
// the reserved address are never handed out.
func TestExhaustionAndExclusions(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/29", newMemStore(), netip.MustParseAddr("10.0.1.6"), netip.MustParseAddr("192.0.2.1"))
	if st := a.Stats(); st.Capacity != 4 || st.Allocated != 0 || st.CIDR != "10.0.1.0/29" || st.Router != "10.0.1.1" {
		t.Fatalf("stats %+v", st)
	}
	var got []string
	for i := range 4 {
		r, err := a.Allocate(req(fmt.Sprint("c", i)))
		if err != nil {
			t.Fatal(err)
		}
		if r.Address.Bits() != 29 || r.Gateway.String() != "10.0.1.1" {
			t.Fatalf("result %+v", r)
		}
		got = append(got, r.IP.String())
	}
	if strings.Join(got, ",") != "10.0.1.2,10.0.1.3,10.0.1.4,10.0.1.5" {
		t.Fatalf("allocated %v", got)
	}
	_, err := a.Allocate(req("c9"))
	if !errors.Is(err, ErrPoolExhausted) || !strings.Contains(err.Error(), "10.0.1.0/29") {
		t.Fatalf("full pool: %v", err)
	}
	if st := a.Stats(); st.Allocated != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestIdempotentPerAttachment(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/24", newMemStore())
	r1, err := a.Allocate(req("c1"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := a.Allocate(req("c1"))
	if err != nil || r2.IP != r1.IP {
		t.Fatalf("second allocate: %v %v", r2.IP, err)
	}
	other := req("c1")
	other.IfName = "eth1"
	r3, err := a.Allocate(other)
	if err != nil || r3.IP == r1.IP {
		t.Fatalf("other interface of the same container: %v %v", r3.IP, err)
	}
	if got, ok := a.Get(api.Attachment{ContainerID: "c1", IfName: "eth0"}); !ok || got.IP != r1.IP {
		t.Fatalf("Get = %v %v", got.IP, ok)
	}
	if r := r1.API(); len(r.IPs) != 1 || r.IPs[0].Address != "10.0.1.2/24" || r.IPs[0].Gateway != "10.0.1.1" {
		t.Fatalf("API() = %+v", r)
	}
}

func TestRequestedIPs(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/24", newMemStore(), netip.MustParseAddr("10.0.1.254"))
	if _, err := a.Allocate(req("holder", "10.0.1.50")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id string
		ips      []string
		wantIP   string
		wantErr  error
	}{
		{"free address", "c1", []string{"10.0.1.7"}, "10.0.1.7", nil},
		{"CNI prefix form", "c2", []string{"10.0.1.8/24"}, "10.0.1.8", nil},
		{"same again is idempotent", "c1", []string{"10.0.1.7"}, "10.0.1.7", nil},
		{"attachment holds another", "c1", []string{"10.0.1.9"}, "", ErrConflict},
		{"held by another container", "c3", []string{"10.0.1.50"}, "", ErrConflict},
		{"router", "c3", []string{"10.0.1.1"}, "", ErrConflict},
		{"reserved", "c3", []string{"10.0.1.254"}, "", ErrConflict},
		{"network address", "c3", []string{"10.0.1.0"}, "", ErrInvalid},
		{"broadcast", "c3", []string{"10.0.1.255"}, "", ErrInvalid},
		{"outside the CIDR", "c3", []string{"10.0.2.5"}, "", ErrInvalid},
		{"garbage", "c3", []string{"ten"}, "", ErrInvalid},
		{"two addresses", "c3", []string{"10.0.1.20", "10.0.1.21"}, "", ErrInvalid},
		{"no container ID", "", nil, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := a.Allocate(req(tt.id, tt.ips...))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil || r.IP.String() != tt.wantIP {
				t.Fatalf("got %v, %v; want %s", r.IP, err, tt.wantIP)
			}
		})
	}
}

func TestRoundRobinDoesNotReuseAtOnce(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/24", newMemStore())
	r1, _ := a.Allocate(req("c1"))
	if _, found, err := a.Release(r1.Attachment); !found || err != nil {
		t.Fatalf("release: %v %v", found, err)
	}
	r2, _ := a.Allocate(req("c2"))
	if r2.IP == r1.IP {
		t.Fatalf("just-freed %s handed out again", r1.IP)
	}
	// Wrap-around: the search continues past the end of the range.
	b := newAlloc(t, "10.0.1.0/29", newMemStore())
	var ips []netip.Addr
	for i := range 5 {
		r, err := b.Allocate(req(fmt.Sprint("c", i)))
		if err != nil {
			t.Fatal(err)
		}
		ips = append(ips, r.IP)
	}
	b.ReleaseIP(ips[1])
	r, err := b.Allocate(req("again"))
	if err != nil || r.IP != ips[1] {
		t.Fatalf("after wrap: %v %v, want %v", r.IP, err, ips[1])
	}
}

func TestReleaseAndGC(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/24", newMemStore())
	for _, id := range []string{"a", "b", "c"} {
		if _, err := a.Allocate(req(id)); err != nil {
			t.Fatal(err)
		}
	}
	docker := req("d")
	docker.Owner = "docker"
	rd, _ := a.Allocate(docker)

	if _, found, err := a.Release(api.Attachment{ContainerID: "nope", IfName: "eth0"}); found || err != nil {
		t.Fatalf("release of nothing: %v %v", found, err)
	}
	if _, found, err := a.ReleaseIP(netip.MustParseAddr("10.0.1.200")); found || err != nil {
		t.Fatalf("release of a free address: %v %v", found, err)
	}
	released, err := a.GC("cni", []api.Attachment{{ContainerID: "b", IfName: "eth0"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range released {
		ids = append(ids, r.ContainerID)
	}
	if strings.Join(ids, ",") != "a,c" {
		t.Fatalf("GC released %v", ids)
	}
	if al, found, err := a.ReleaseIP(rd.IP); !found || err != nil || al.ContainerID != "d" {
		t.Fatalf("release docker address: %+v %v %v", al, found, err)
	}
	if l := a.List(); len(l) != 1 || l[0].ContainerID != "b" {
		t.Fatalf("left: %+v", l)
	}
}

func TestStoreFailureChangesNothing(t *testing.T) {
	s := newMemStore()
	a := newAlloc(t, "10.0.1.0/24", s)
	s.failPut = true
	if _, err := a.Allocate(req("c1")); err == nil {
		t.Fatal("allocate succeeded although the store failed")
	}
	if _, ok := a.Get(api.Attachment{ContainerID: "c1", IfName: "eth0"}); ok || len(a.List()) != 0 {
		t.Fatal("failed allocation is visible")
	}
	if _, err := a.Allocate(req("c1")); err != nil {
		t.Fatal(err)
	}
}

// 50 parallel ADDs (issue 2's acceptance) get 50 distinct addresses; run
// with -race.
func TestParallelAllocationsAreDistinct(t *testing.T) {
	a := newAlloc(t, "10.0.1.0/24", newMemStore())
	const n = 50
	var wg sync.WaitGroup
	results := make([]netip.Addr, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := a.Allocate(req(fmt.Sprint("c", i)))
			results[i], errs[i] = r.IP, err
			// Repeated ADDs of the same container race too.
			if r2, err := a.Allocate(req(fmt.Sprint("c", i))); err != nil || r2.IP != r.IP {
				errs[i] = fmt.Errorf("repeat: %v %v", r2.IP, err)
			}
		})
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[results[i]] {
			t.Fatalf("%s handed out twice", results[i])
		}
		seen[results[i]] = true
	}
	for i := range n {
		wg.Go(func() { a.Release(api.Attachment{ContainerID: fmt.Sprint("c", i), IfName: "eth0"}) })
	}
	wg.Wait()
	if st := a.Stats(); st.Allocated != 0 {
		t.Fatalf("after releasing all: %+v", st)
	}
}

func TestStaleAddressOutsideCIDR(t *testing.T) {
	s := newMemStore()
	s.allocs[netip.MustParseAddr("10.0.9.5")] = Allocation{Attachment: api.Attachment{ContainerID: "old", IfName: "eth0"}, IP: netip.MustParseAddr("10.0.9.5"), Owner: "cni"}
	a := newAlloc(t, "10.0.1.0/24", s)
	if st := a.Stats(); st.Allocated != 0 {
		t.Fatalf("stale address counted: %+v", st)
	}
	if _, found, _ := a.Release(api.Attachment{ContainerID: "old", IfName: "eth0"}); !found {
		t.Fatal("stale allocation cannot be released")
	}
}
