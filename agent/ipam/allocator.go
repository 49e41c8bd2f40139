// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipam

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/api"
)

var (
	// ErrPoolExhausted: the node CIDR has no free address.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrInvalid: the request is malformed (missing container ID, a
	// requested address that does not parse or lies outside the CIDR).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: a requested address is held by another attachment or
	// reserved.
	ErrConflict = errors.New("address not available")
)

// Result is an allocation in the shape a caller hands to a container.
type Result struct {
	Allocation
	// Address carries the node CIDR's prefix length.
	Address netip.Prefix
	// Gateway is the node's router address.
	Gateway netip.Addr
}

// API converts the result for the agent's socket API.
func (r Result) API() api.IPAMResult {
	return api.IPAMResult{IPs: []api.IPConfig{{Address: r.Address.String(), Gateway: r.Gateway.String()}}}
}

// Allocator assigns addresses of one node CIDR. It is safe for concurrent
// use; every change is written to the Store before it is visible.
type Allocator struct {
	cidr     netip.Prefix
	router   netip.Addr
	first    uint32 // first assignable address (network + 1)
	last     uint32 // last assignable address (broadcast - 1)
	excluded map[netip.Addr]bool
	logger   *slog.Logger

	mu      sync.Mutex
	store   Store
	byIP    map[netip.Addr]Allocation
	byAtt   map[api.Attachment]netip.Addr
	lastIP  netip.Addr
	nowFunc func() time.Time
}

// New builds an Allocator for cidr (IPv4, /30 or larger) with router, the
// node's router address inside it, and loads the store. Besides the network,
// broadcast and router addresses, reserved addresses are never handed out
// (reserved ones outside cidr are ignored).
func New(cidr netip.Prefix, router netip.Addr, store Store, logger *slog.Logger, reserved ...netip.Addr) (*Allocator, error) {
	if !cidr.IsValid() || !cidr.Addr().Is4() || cidr.Bits() > 30 {
		return nil, fmt.Errorf("create allocator: node CIDR %s must be IPv4 with a prefix length of at most 30", cidr)
	}
	cidr = cidr.Masked()
	if !cidr.Contains(router) {
		return nil, fmt.Errorf("create allocator: router %s outside node CIDR %s", router, cidr)
	}
	if logger == nil {
		logger = slog.Default()
	}
	network := toU32(cidr.Addr())
	size := uint32(1) << (32 - cidr.Bits())
	a := &Allocator{
		cidr:     cidr,
		router:   router,
		first:    network + 1,
		last:     network + size - 2,
		excluded: map[netip.Addr]bool{},
		logger:   logger.With("subsys", "ipam"),
		store:    store,
		byIP:     map[netip.Addr]Allocation{},
		byAtt:    map[api.Attachment]netip.Addr{},
		nowFunc:  time.Now,
	}
	for _, r := range append([]netip.Addr{router}, reserved...) {
		if a.inRange(r) {
			a.excluded[r] = true
		}
	}
	allocs, last, err := store.Load()
	if err != nil {
		return nil, fmt.Errorf("load ipam store: %w", err)
	}
	for _, al := range allocs {
		if !cidr.Contains(al.IP) {
			// The node got a new CIDR (it was deleted from the cluster);
			// keep the old entry so its endpoint can still be released.
			a.logger.Warn("stored address outside node CIDR", "ip", al.IP, "cidr", cidr, "containerID", al.ContainerID)
		}
		a.byIP[al.IP] = al
		if al.ContainerID != "" {
			a.byAtt[al.Attachment] = al.IP
		}
	}
	if a.inRange(last) {
		a.lastIP = last
	}
	return a, nil
}

// CIDR is the node CIDR the allocator serves.
func (a *Allocator) CIDR() netip.Prefix { return a.cidr }

// Router is the node's router address.
func (a *Allocator) Router() netip.Addr { return a.router }

// Allocate returns the address of req's attachment, allocating one when it
// holds none yet: a requested address if it is free, otherwise the next
// free address after the one handed out last, so a just-released address is
// not reused at once.
func (a *Allocator) Allocate(req api.IPAMRequest) (Result, error) {
	if req.ContainerID == "" || req.IfName == "" {
		return Result{}, fmt.Errorf("allocate address: container ID and interface name are required: %w", ErrInvalid)
	}
	requested, err := a.parseRequested(req.RequestedIPs)
	if err != nil {
		return Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ip, ok := a.byAtt[req.Attachment]; ok {
		if requested.IsValid() && requested != ip {
			return Result{}, fmt.Errorf("allocate %s for %s/%s: the attachment already holds %s: %w", requested, req.ContainerID, req.IfName, ip, ErrConflict)
		}
		return a.result(a.byIP[ip]), nil
	}
	ip := requested
	if ip.IsValid() {
		if held, ok := a.byIP[ip]; ok {
			return Result{}, fmt.Errorf("allocate %s: held by container %s (%s): %w", ip, held.ContainerID, held.IfName, ErrConflict)
		}
	} else if ip, err = a.next(); err != nil {
		return Result{}, err
	}
	al := Allocation{Attachment: req.Attachment, IP: ip, Owner: req.Owner, Network: req.Network, Created: a.nowFunc().UTC()}
	if err := a.store.Put(al); err != nil {
		return Result{}, fmt.Errorf("store allocation of %s: %w", ip, err)
	}
	a.byIP[ip] = al
	a.byAtt[al.Attachment] = ip
	if !requested.IsValid() {
		a.lastIP = ip
		if err := a.store.SetLast(ip); err != nil {
			a.logger.Warn("record last allocated address", "err", err)
		}
	}
	a.logger.Debug("allocated", "ip", ip, "containerID", req.ContainerID, "ifName", req.IfName, "owner", req.Owner)
	return a.result(al), nil
}

// parseRequested accepts "10.0.1.5" and CNI's "10.0.1.5/24"; only one IPv4
// address per attachment is supported.
func (a *Allocator) parseRequested(reqs []string) (netip.Addr, error) {
	if len(reqs) == 0 {
		return netip.Addr{}, nil
	}
	if len(reqs) > 1 {
		return netip.Addr{}, fmt.Errorf("allocate address: %d addresses requested, only one IPv4 address per attachment is supported: %w", len(reqs), ErrInvalid)
	}
	s := reqs[0]
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("allocate address: requested address %q: %w", reqs[0], ErrInvalid)
	}
	if !a.inRange(ip) {
		return netip.Addr{}, fmt.Errorf("allocate address: requested address %s is not a host address of node CIDR %s: %w", ip, a.cidr, ErrInvalid)
	}
	if a.excluded[ip] {
		return netip.Addr{}, fmt.Errorf("allocate address: requested address %s is reserved (router or agent use): %w", ip, ErrConflict)
	}
	return ip, nil
}

// next finds the first free address after lastIP, wrapping around.
func (a *Allocator) next() (netip.Addr, error) {
	start := a.first
	if a.lastIP.IsValid() {
		start = toU32(a.lastIP) + 1
	}
	n := a.last - a.first + 1
	for i := uint32(0); i < n; i++ {
		cand := start + i
		if cand > a.last {
			cand -= n
		}
		ip := fromU32(cand)
		if a.excluded[ip] {
			continue
		}
		if _, held := a.byIP[ip]; !held {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("allocate address in node CIDR %s (%d of %d in use): %w", a.cidr, a.allocatedLocked(), a.capacity(), ErrPoolExhausted)
}

// Release frees the address of an attachment; found is false when it held
// none, which is not an error.
func (a *Allocator) Release(att api.Attachment) (Allocation, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.byAtt[att]
	if !ok {
		return Allocation{}, false, nil
	}
	al := a.byIP[ip]
	return al, true, a.releaseLocked(al)
}

// ReleaseIP frees one address whoever holds it (Docker's IPAM driver knows
// addresses, not containers).
func (a *Allocator) ReleaseIP(ip netip.Addr) (Allocation, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	al, ok := a.byIP[ip]
	if !ok {
		return Allocation{}, false, nil
	}
	return al, true, a.releaseLocked(al)
}

func (a *Allocator) releaseLocked(al Allocation) error {
	if err := a.store.Delete(al.IP); err != nil {
		return fmt.Errorf("release %s: %w", al.IP, err)
	}
	delete(a.byIP, al.IP)
	if cur, ok := a.byAtt[al.Attachment]; ok && cur == al.IP {
		delete(a.byAtt, al.Attachment)
	}
	a.logger.Debug("released", "ip", al.IP, "containerID", al.ContainerID, "ifName", al.IfName)
	return nil
}

// GC releases every allocation of owner whose attachment is not in valid
// (CNI GC, and the agent's own sweep after restoring endpoints). It goes on
// after a failed release and returns what it freed plus the first error.
func (a *Allocator) GC(owner string, valid []api.Attachment) ([]Allocation, error) {
	keep := make(map[api.Attachment]bool, len(valid))
	for _, v := range valid {
		keep[v] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var released []Allocation
	var firstErr error
	for _, al := range a.sortedLocked() {
		if al.Owner != owner || keep[al.Attachment] {
			continue
		}
		if err := a.releaseLocked(al); err != nil {
			firstErr = cmp.Or(firstErr, err)
			continue
		}
		released = append(released, al)
	}
	return released, firstErr
}

// Get returns the allocation of an attachment.
func (a *Allocator) Get(att api.Attachment) (Result, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ip, ok := a.byAtt[att]
	if !ok {
		return Result{}, false
	}
	return a.result(a.byIP[ip]), true
}

// List returns every allocation ordered by address.
func (a *Allocator) List() []Allocation {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sortedLocked()
}

// Stats reports how full the pool is.
func (a *Allocator) Stats() api.IPAMStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return api.IPAMStatus{CIDR: a.cidr.String(), Router: a.router.String(), Allocated: a.allocatedLocked(), Capacity: a.capacity()}
}

func (a *Allocator) sortedLocked() []Allocation {
	out := make([]Allocation, 0, len(a.byIP))
	for _, al := range a.byIP {
		out = append(out, al)
	}
	slices.SortFunc(out, func(x, y Allocation) int { return x.IP.Compare(y.IP) })
	return out
}

// allocatedLocked counts addresses in the CIDR; stale ones outside it do
// not use the pool.
func (a *Allocator) allocatedLocked() int {
	n := 0
	for ip := range a.byIP {
		if a.inRange(ip) {
			n++
		}
	}
	return n
}

func (a *Allocator) capacity() int {
	return int(a.last-a.first+1) - len(a.excluded)
}

func (a *Allocator) result(al Allocation) Result {
	return Result{Allocation: al, Address: netip.PrefixFrom(al.IP, a.cidr.Bits()), Gateway: a.router}
}

func (a *Allocator) inRange(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	v := toU32(ip)
	return v >= a.first && v <= a.last
}

func toU32(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
