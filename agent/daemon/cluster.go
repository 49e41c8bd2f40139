// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/config"
	"github.com/nori-net/nori/agent/identity"
	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/node"
)

// nodeState is the local node as registered in the store.
type nodeState struct {
	mgr    *node.Manager
	cidr   netip.Prefix
	router netip.Addr
}

func registerNode(ctx context.Context, store *kvstore.Store, cfg *config.Config, nodeIP netip.Addr, resumed *node.Node, log *slog.Logger) (*nodeState, error) {
	mgr, err := node.New(store, node.Config{
		Name:      cfg.NodeName,
		ClusterID: cfg.ClusterID,
		IPv4:      nodeIP,
		Pool:      cfg.ClusterPoolIPv4CIDR,
		MaskSize:  cfg.ClusterPoolMaskSize,
		StateDir:  cfg.StateDir,
		Logger:    log,
	})
	if err != nil {
		return nil, err
	}
	var n node.Node
	if resumed != nil {
		n, err = mgr.Resume(*resumed)
	} else {
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		n, err = mgr.Register(rctx)
	}
	if err != nil {
		return nil, fmt.Errorf("register node: %w", err)
	}
	return &nodeState{mgr: mgr, cidr: n.IPv4CIDR, router: n.RouterIPv4}, nil
}

func (n *nodeState) list(ctx context.Context) ([]api.Node, error) {
	nodes, err := n.mgr.List(ctx)
	if err != nil {
		return nil, &api.Error{Code: api.CodeNotReady, Message: "list nodes: " + err.Error()}
	}
	local := n.mgr.Local().Name
	out := make([]api.Node, 0, len(nodes))
	for _, nd := range nodes {
		a := nd.API()
		a.Local = nd.Name == local
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// identities wraps the cluster-wide allocator for the endpoint manager
// and the API.
type identities struct {
	a     *identity.Allocator
	store *kvstore.Store
}

func newIdentities(ctx context.Context, store *kvstore.Store, cfg *config.Config, offline bool, log *slog.Logger) (*identities, error) {
	a, err := identity.New(ctx, store, identity.Config{ClusterID: cfg.ClusterID, NodeName: cfg.NodeName, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("start identity allocator: %w", err)
	}
	go a.RunGC(ctx, identity.DefaultGCInterval)
	if offline {
		// The cache fills once etcd answers; restored endpoints keep
		// the identities in their records meanwhile.
		return &identities{a: a, store: store}, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.WaitSynced(wctx); err != nil {
		return nil, fmt.Errorf("sync identities from the store: %w", err)
	}
	return &identities{a: a, store: store}, nil
}

func (i *identities) Allocate(ctx context.Context, labels []string) (uint32, error) {
	// Without a session etcd is away: fail now rather than hold an ADD
	// (or the restore of every endpoint at start) until it returns.
	if i.store.LeaseID() == 0 {
		return 0, fmt.Errorf("allocate identity: %w", kvstore.ErrNoSession)
	}
	return i.a.Allocate(ctx, labels)
}

func (i *identities) Release(ctx context.Context, id uint32) error { return i.a.Release(ctx, id) }

// labelMap is every identity of the cluster, reserved ones included, as
// the policy engine takes them.
func (i *identities) labelMap() map[uint32][]string { return labelMap(i.a.List()) }

func labelMap(ids []identity.Identity) map[uint32][]string {
	out := make(map[uint32][]string, len(ids))
	for _, id := range ids {
		out[id.ID] = id.API().Labels
	}
	return out
}

func (i *identities) list(context.Context) ([]api.Identity, error) {
	ids := i.a.List()
	out := make([]api.Identity, 0, len(ids))
	for _, id := range ids {
		out = append(out, id.API())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}
