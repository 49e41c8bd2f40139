// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/node"
)

// Datapath is the part of the datapath the Syncer writes.
type Datapath interface {
	UpsertIPCache(e datapath.IPCacheEntry) error
	DeleteIPCache(p netip.Prefix) error
	ListIPCache() ([]datapath.IPCacheEntry, error)
}

// Routes points the host's routes (or the tunnel map) at other nodes.
// SetRemoteCIDRs receives the whole set each time, sorted by CIDR.
type Routes interface {
	SetRemoteCIDRs(remotes []Remote) error
}

// SyncerConfig configures a Syncer.
type SyncerConfig struct {
	NodeName string
	// NodeIP and NodeCIDR describe the local node for the moments its
	// own entry is missing from etcd (its lease lapsed during a cut), so
	// its host entry and the guard on its CIDR stay; optional.
	NodeIP   netip.Addr
	NodeCIDR netip.Prefix
	Datapath Datapath
	// Routes may be nil.
	Routes Routes
	// RetryInterval after a failed datapath or route write; 1 s when zero.
	RetryInterval time.Duration
	// RefreshInterval between re-reads of the datapath map, which repair
	// entries changed behind the Syncer's back; 1 min when zero.
	RefreshInterval time.Duration
	Logger          *slog.Logger
}

// received is an etcd entry with when it arrived.
type received struct {
	Entry
	live bool
}

// Syncer keeps the datapath and routes in step with the nodes and ipcache
// entries in etcd.
type Syncer struct {
	store  *kvstore.Store
	cfg    SyncerConfig
	logger *slog.Logger
	kick   chan struct{}
	synced chan struct{}
	lat    latencies

	// owned by Run
	entries   map[netip.Addr]received
	applied   map[netip.Prefix]datapath.IPCacheEntry
	measured  map[netip.Addr]int64 // created time whose propagation was recorded
	routes    []Remote
	routesSet bool

	mu          sync.Mutex // guards the fields below, read by Status and friends
	nodes       map[string]node.Node
	isSynced    bool
	lastEvent   time.Time
	remoteEPs   int
	appliedN    int
	failing     bool
	lastErr     string
	lastErrAt   time.Time
	curRemotes  []Remote
	nodesSynced bool
	ipcSynced   bool
}

// NewSyncer returns a Syncer; it starts working with Run.
func NewSyncer(store *kvstore.Store, cfg SyncerConfig) (*Syncer, error) {
	if cfg.Datapath == nil {
		return nil, fmt.Errorf("ipcache syncer: no datapath")
	}
	if err := node.ValidateName(cfg.NodeName); err != nil {
		return nil, fmt.Errorf("ipcache syncer: %w", err)
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Syncer{
		store:    store,
		cfg:      cfg,
		logger:   cfg.Logger.With("subsys", "ipcache-syncer"),
		kick:     make(chan struct{}, 1),
		synced:   make(chan struct{}),
		lat:      newLatencies(1024),
		entries:  map[netip.Addr]received{},
		measured: map[netip.Addr]int64{},
		nodes:    map[string]node.Node{},
	}, nil
}

// Run watches etcd and writes the datapath until ctx ends. Entries are
// added as they arrive; entries it owns but no longer wants are removed
// only once both watches have listed everything, so a restarted agent
// keeps its datapath until it knows the whole cluster again.
func (s *Syncer) Run(ctx context.Context) {
	s.readBack()
	nodesCh := node.Watch(ctx, s.store, s.logger)
	ipcCh := s.store.ListAndWatch(ctx, KeyPrefix)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	refresh := time.NewTicker(s.cfg.RefreshInterval)
	defer refresh.Stop()
	for {
		select {
		case ev, ok := <-nodesCh:
			if !ok {
				return
			}
			s.onNode(ev)
		case ev, ok := <-ipcCh:
			if !ok {
				return
			}
			s.onEntry(ev)
		case <-retry.C:
		case <-s.kick:
			s.readBack()
		case <-refresh.C:
			s.readBack()
		case <-ctx.Done():
			return
		}
		// Take whatever else is queued, so a burst (the initial list)
		// costs one reconcile.
		if !s.drain(nodesCh, ipcCh) {
			return
		}
		if !s.reconcile() {
			retry.Reset(s.cfg.RetryInterval)
		}
	}
}

func (s *Syncer) drain(nodesCh <-chan node.Event, ipcCh <-chan kvstore.Event) bool {
	for range 4096 {
		select {
		case ev, ok := <-nodesCh:
			if !ok {
				return false
			}
			s.onNode(ev)
		case ev, ok := <-ipcCh:
			if !ok {
				return false
			}
			s.onEntry(ev)
		default:
			return true
		}
	}
	return true
}

// Resync makes Run read the datapath map back and rewrite what differs,
// e.g. after the datapath's maps were recreated.
func (s *Syncer) Resync() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Syncer) onNode(ev node.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastEvent = time.Now()
	switch ev.Type {
	case node.NodeAdded, node.NodeUpdated:
		s.nodes[ev.Node.Name] = ev.Node
		s.logger.Debug("node "+ev.Type.String(), "node", ev.Node.Name, "ipv4", ev.Node.IPv4, "cidr", ev.Node.IPv4CIDR)
	case node.NodeDeleted:
		delete(s.nodes, ev.Node.Name)
		if ev.Node.Name != s.cfg.NodeName {
			s.logger.Info("node left the cluster", "node", ev.Node.Name, "cidr", ev.Node.IPv4CIDR)
		}
	case node.NodesSynced:
		s.nodesSynced = true
	}
}

func (s *Syncer) onEntry(ev kvstore.Event) {
	s.mu.Lock()
	s.lastEvent = time.Now()
	live := s.ipcSynced
	s.mu.Unlock()
	switch ev.Type {
	case kvstore.EventUpsert:
		e, err := decodeEntry(ev.Key, ev.Value)
		if err != nil {
			s.logger.Warn("ignoring malformed ipcache entry", "key", ev.Key, "err", err)
			return
		}
		if old, ok := s.entries[e.IP]; ok && old.Entry == e {
			return
		}
		s.entries[e.IP] = received{Entry: e, live: live}
	case kvstore.EventDelete:
		if ip, ok := parseKey(ev.Key); ok {
			delete(s.entries, ip)
			delete(s.measured, ip)
		}
	case kvstore.EventSynced:
		s.mu.Lock()
		s.ipcSynced = true
		s.mu.Unlock()
	}
}

// readBack replaces what the Syncer believes it wrote with the entries it
// owns in the datapath map, so the next reconcile repairs any difference
// (and, at start, removes what a previous run left behind).
func (s *Syncer) readBack() {
	list, err := s.cfg.Datapath.ListIPCache()
	if err != nil {
		s.setErr(fmt.Errorf("read back ipcache map: %w", err))
		if s.applied == nil {
			s.applied = map[netip.Prefix]datapath.IPCacheEntry{}
		}
		return
	}
	s.applied = map[netip.Prefix]datapath.IPCacheEntry{}
	for _, e := range list {
		if owned(e) {
			e.Prefix = e.Prefix.Masked()
			s.applied[e.Prefix] = e
		}
	}
}

// reconcile writes the difference between desired and applied state; it
// returns false when something failed and must be retried.
func (s *Syncer) reconcile() bool {
	s.mu.Lock()
	nodes := make(map[string]node.Node, len(s.nodes))
	for k, v := range s.nodes {
		nodes[k] = v
	}
	if _, ok := nodes[s.cfg.NodeName]; !ok && s.cfg.NodeIP.IsValid() {
		nodes[s.cfg.NodeName] = node.Node{Name: s.cfg.NodeName, IPv4: s.cfg.NodeIP, IPv4CIDR: s.cfg.NodeCIDR}
	}
	synced := s.nodesSynced && s.ipcSynced
	s.mu.Unlock()

	desired, remotes := desiredState(s.cfg.NodeName, nodes, s.entries)
	var errs []string
	now := time.Now()
	for p, w := range desired {
		if cur, ok := s.applied[p]; ok && cur == w.entry {
			continue
		}
		if err := s.cfg.Datapath.UpsertIPCache(w.entry); err != nil {
			errs = append(errs, fmt.Sprintf("upsert %s: %v", p, err))
			continue
		}
		s.applied[p] = w.entry
		if w.live && w.created != 0 && s.measured[p.Addr()] != w.created {
			s.measured[p.Addr()] = w.created
			if d := now.Sub(time.Unix(0, w.created)); d >= 0 {
				s.lat.add(d)
			}
		}
	}
	if synced {
		for p := range s.applied {
			if _, ok := desired[p]; ok {
				continue
			}
			if err := s.cfg.Datapath.DeleteIPCache(p); err != nil {
				errs = append(errs, fmt.Sprintf("delete %s: %v", p, err))
				continue
			}
			delete(s.applied, p)
		}
		if s.cfg.Routes != nil && (!s.routesSet || !slices.Equal(remotes, s.routes)) {
			if err := s.cfg.Routes.SetRemoteCIDRs(remotes); err != nil {
				errs = append(errs, fmt.Sprintf("set routes: %v", err))
			} else {
				s.routes, s.routesSet = remotes, true
			}
		}
	}

	remoteEPs := 0
	for _, w := range desired {
		if w.created != 0 {
			remoteEPs++
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remoteEPs = remoteEPs
	s.appliedN = len(s.applied)
	s.curRemotes = remotes
	if synced && !s.isSynced {
		s.isSynced = true
		close(s.synced)
		s.logger.Info("datapath synced with the cluster", "nodes", len(nodes), "remoteEndpoints", remoteEPs, "entries", len(s.applied))
	}
	if len(errs) > 0 {
		s.failing = true
		s.lastErr, s.lastErrAt = strings.Join(errs, "; "), time.Now()
		s.logger.Warn("ipcache sync incomplete, retrying", "err", s.lastErr)
		return false
	}
	s.failing = false
	return true
}

func (s *Syncer) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = true
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.logger.Warn("ipcache sync", "err", err)
}

// WaitSynced returns once the datapath reflects the whole cluster state
// as first listed, or when ctx ends.
func (s *Syncer) WaitSynced(ctx context.Context) error {
	select {
	case <-s.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for ipcache sync: %w", ctx.Err())
	}
}

// Nodes returns every node known from etcd (the local one included),
// sorted by name; the health prober takes its targets from it.
func (s *Syncer) Nodes() []node.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]node.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b node.Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Remotes returns the other nodes' CIDRs as last computed (what `nori bpf
// tunnel list` shows when the datapath has no tunnel map of its own).
func (s *Syncer) Remotes() []Remote {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.curRemotes)
}
