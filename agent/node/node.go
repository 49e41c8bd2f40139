// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package node registers the local host in the cluster state and claims its
// node CIDR from the cluster pool, and lists and watches the other hosts.
//
// Keys (relative to the kvstore cluster prefix):
//
//	nodes/<name>          JSON Node, tied to the agent's session lease
//	cidrs/<a.b.c.d>-<len> node name, no lease: a host keeps its CIDR while
//	                      it is away and gets it back under the same name,
//	                      until `nori node delete` removes it
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/kvstore"
)

const (
	nodesPrefix = "nodes/"
	cidrsPrefix = "cidrs/"
)

// Defaults of --cluster-pool-ipv4-cidr and --cluster-pool-ipv4-mask-size.
var (
	DefaultPool     = netip.MustParsePrefix("10.0.0.0/8")
	DefaultMaskSize = 24
)

// ErrNotFound: no such node.
var ErrNotFound = errors.New("node not found")

// Node is one host as stored in etcd.
type Node struct {
	Name       string       `json:"name"`
	Cluster    string       `json:"cluster"`
	ClusterID  uint32       `json:"clusterID"`
	IPv4       netip.Addr   `json:"ipv4"`
	IPv4CIDR   netip.Prefix `json:"ipv4AllocCIDR"`
	RouterIPv4 netip.Addr   `json:"routerIPv4"`
}

// API converts the node for the agent's socket API.
func (n Node) API() api.Node {
	return api.Node{Name: n.Name, Cluster: n.Cluster, IPv4: addrString(n.IPv4), IPv4CIDR: prefixString(n.IPv4CIDR), RouterIPv4: addrString(n.RouterIPv4)}
}

// Config describes the local node.
type Config struct {
	Name string
	// ClusterID is --cluster-id; the cluster name comes from the Store.
	ClusterID uint32
	// IPv4 is the underlay address other hosts tunnel to.
	IPv4 netip.Addr
	// Pool and MaskSize: node CIDRs of /MaskSize are cut from Pool.
	Pool     netip.Prefix
	MaskSize int
	// StateDir, when set, receives node.json, a copy of the registered
	// node for tools and for a restart while etcd is away; etcd stays
	// authoritative.
	StateDir string
	Logger   *slog.Logger
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$`)

// ValidateName checks a node name; it is part of etcd keys.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid node name %q: use letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

// Manager registers the local node and reads the others. Safe for
// concurrent use.
type Manager struct {
	store  *kvstore.Store
	cfg    Config
	logger *slog.Logger

	mu    sync.Mutex
	local Node
}

// New checks cfg and returns a Manager; nothing is written until Register.
func New(store *kvstore.Store, cfg Config) (*Manager, error) {
	if err := ValidateName(cfg.Name); err != nil {
		return nil, err
	}
	if !cfg.Pool.IsValid() {
		cfg.Pool = DefaultPool
	}
	if cfg.MaskSize == 0 {
		cfg.MaskSize = DefaultMaskSize
	}
	if !cfg.Pool.Addr().Is4() {
		return nil, fmt.Errorf("cluster pool %s: only IPv4 is supported", cfg.Pool)
	}
	cfg.Pool = cfg.Pool.Masked()
	if cfg.MaskSize < cfg.Pool.Bits() || cfg.MaskSize > 30 {
		return nil, fmt.Errorf("cluster pool mask size %d: must lie between the pool's prefix length %d and 30", cfg.MaskSize, cfg.Pool.Bits())
	}
	if cfg.MaskSize-cfg.Pool.Bits() > 24 {
		return nil, fmt.Errorf("cluster pool %s with mask size %d: more than 2^24 node CIDRs", cfg.Pool, cfg.MaskSize)
	}
	if cfg.IPv4.IsValid() && cfg.Pool.Contains(cfg.IPv4) {
		return nil, fmt.Errorf("node address %s lies inside the cluster pool %s", cfg.IPv4, cfg.Pool)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Manager{store: store, cfg: cfg, logger: cfg.Logger.With("subsys", "node")}, nil
}

// Register claims the node CIDR and writes the node entry under the
// agent's lease (restored by the kvstore if the lease is ever lost).
func (m *Manager) Register(ctx context.Context) (Node, error) {
	cidr, err := m.ClaimCIDR(ctx)
	if err != nil {
		return Node{}, err
	}
	n := Node{
		Name:       m.cfg.Name,
		Cluster:    m.store.ClusterName(),
		ClusterID:  m.cfg.ClusterID,
		IPv4:       m.cfg.IPv4,
		IPv4CIDR:   cidr,
		RouterIPv4: cidr.Addr().Next(),
	}
	data, err := json.Marshal(n)
	if err != nil {
		return Node{}, fmt.Errorf("encode node: %w", err)
	}
	if err := m.store.PutWithLease(ctx, nodesPrefix+n.Name, data); err != nil {
		return Node{}, fmt.Errorf("register node %s: %w", n.Name, err)
	}
	m.mu.Lock()
	m.local = n
	m.mu.Unlock()
	if m.cfg.StateDir != "" {
		if err := writeCache(m.cfg.StateDir, n); err != nil {
			m.logger.Warn("write node cache", "err", err)
		}
	}
	m.logger.Info("node registered", "name", n.Name, "cidr", n.IPv4CIDR, "router", n.RouterIPv4, "ipv4", n.IPv4)
	return n, nil
}

// Resume takes the node as cached in the state dir (node.json) when etcd
// cannot be reached at start. The CIDR claim outlives the agent in etcd,
// so only the node entry is missing; it is queued under the session
// lease and written as soon as the store grants one. The underlay address
// is today's, not the cached one.
func (m *Manager) Resume(cached Node) (Node, error) {
	if cached.Name != m.cfg.Name || !cached.IPv4CIDR.IsValid() {
		return Node{}, fmt.Errorf("node cache is for %q with CIDR %s, not usable for %q", cached.Name, cached.IPv4CIDR, m.cfg.Name)
	}
	n := cached
	n.Cluster = m.store.ClusterName()
	n.ClusterID = m.cfg.ClusterID
	n.IPv4 = m.cfg.IPv4
	n.RouterIPv4 = n.IPv4CIDR.Addr().Next()
	data, err := json.Marshal(n)
	if err != nil {
		return Node{}, fmt.Errorf("encode node: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := m.store.PutWithLease(ctx, nodesPrefix+n.Name, data); err != nil {
		m.logger.Warn("node entry queued until etcd answers", "err", err)
	}
	m.mu.Lock()
	m.local = n
	m.mu.Unlock()
	m.logger.Info("node resumed from the state dir", "name", n.Name, "cidr", n.IPv4CIDR, "router", n.RouterIPv4, "ipv4", n.IPv4)
	return n, nil
}

// Local is the node as last registered (zero before Register).
func (m *Manager) Local() Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.local
}

// List reads every registered node from etcd, ordered by name.
func List(ctx context.Context, store *kvstore.Store) ([]Node, error) {
	kvs, _, err := store.List(ctx, nodesPrefix)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]Node, 0, len(kvs))
	for _, kv := range kvs {
		var n Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			continue
		}
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// List reads every registered node from etcd, ordered by name.
func (m *Manager) List(ctx context.Context) ([]Node, error) { return List(ctx, m.store) }

// Delete removes a node from the cluster: its entry and its CIDR claims,
// so the CIDR may go to another host. An agent still running under that
// name writes its entry again only when it restarts or loses its lease.
func Delete(ctx context.Context, store *kvstore.Store, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	_, hadNode, err := store.Get(ctx, nodesPrefix+name)
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	kvs, _, err := store.List(ctx, cidrsPrefix)
	if err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	hadCIDR := false
	for _, kv := range kvs {
		if string(kv.Value) != name {
			continue
		}
		hadCIDR = true
		full := store.Key(kv.Key)
		// Only delete the claim if it still names this node.
		_, err := store.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(full), "=", name)).
			Then(clientv3.OpDelete(full)).
			Commit()
		if err != nil {
			return fmt.Errorf("delete node %s: release %s: %w", name, kv.Key, err)
		}
	}
	if err := store.Delete(ctx, nodesPrefix+name); err != nil {
		return fmt.Errorf("delete node %s: %w", name, err)
	}
	if !hadNode && !hadCIDR {
		return fmt.Errorf("delete node %s: %w", name, ErrNotFound)
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}
