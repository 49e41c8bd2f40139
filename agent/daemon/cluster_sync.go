// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/health"
	"github.com/nori-net/nori/agent/ipcache"
	"github.com/nori-net/nori/agent/node"
	"github.com/nori-net/nori/agent/overlay"
)

// remoteRoutes adapts the overlay's route programming to the ipcache
// syncer: tunnel mode routes remote node CIDRs into nori_vxlan (for the
// node's own traffic; containers are encapsulated by BPF), native mode
// routes them via the owning node's underlay address.
type remoteRoutes struct {
	cfg  overlay.Config
	mode overlay.Mode
}

func (r remoteRoutes) SetRemoteCIDRs(remotes []ipcache.Remote) error {
	out := make([]overlay.Remote, 0, len(remotes))
	for _, rm := range remotes {
		out = append(out, overlay.Remote{CIDR: rm.CIDR, NodeIP: rm.NodeIP})
	}
	return overlay.SetRemoteCIDRs(r.cfg, r.mode, out)
}

// startClusterSync publishes the node's endpoints to the store, follows
// the other nodes' state into the datapath, and serves and runs the
// health probes. Everything here runs until ctx ends and survives store
// outages: the datapath keeps its last state while the store is away.
func (d *Daemon) startClusterSync(ctx context.Context, nodeIP netip.Addr) error {
	cidr, healthIP := d.node.cidr, health.IP(d.node.cidr)
	d.pub = ipcache.NewPublisher(d.store, ipcache.PublisherConfig{NodeName: d.cfg.NodeName, HostIP: nodeIP, Logger: d.log})
	desired := map[netip.Addr]uint32{}
	for _, ep := range d.eps.List() {
		if ip, err := netip.ParseAddr(ep.IPv4); err == nil {
			desired[ip] = ep.Identity
		}
	}
	syncWait := 30 * time.Second
	if d.resumed != nil {
		syncWait = 2 * time.Second // etcd was away a moment ago; Run retries
	}
	sctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	if err := d.pub.Sync(sctx, desired); err != nil {
		d.log.Warn("sync published endpoints", "err", err)
	}
	go d.pub.Run(ctx)

	mode := overlay.ModeTunnel
	if d.cfg.Tunnel != "vxlan" {
		mode = overlay.ModeNative
	}
	var err error
	d.syncer, err = ipcache.NewSyncer(d.store, ipcache.SyncerConfig{
		NodeName: d.cfg.NodeName,
		NodeIP:   nodeIP,
		NodeCIDR: cidr,
		Datapath: d.dp,
		Routes:   remoteRoutes{cfg: d.overlayCfg, mode: mode},
		Logger:   d.log,
	})
	if err != nil {
		return fmt.Errorf("start ipcache sync: %w", err)
	}
	go d.syncer.Run(ctx)

	d.healthSrv, err = health.NewServer(health.ServerConfig{IP: healthIP, NodeName: d.cfg.NodeName, Logger: d.log})
	if err != nil {
		return fmt.Errorf("health server: %w", err)
	}
	if err := d.healthSrv.Start(); err != nil {
		return fmt.Errorf("start health server on %s: %w", healthIP, err)
	}
	d.prober = health.NewProber(health.ProberConfig{LocalName: d.cfg.NodeName, Nodes: d.syncer.Nodes, Logger: d.log})
	go d.prober.Run(ctx)
	return nil
}

// listNodes is `nori node list`: the store's nodes with the prober's view.
func (d *Daemon) listNodes(ctx context.Context) ([]api.Node, error) {
	nodes, err := d.node.list(ctx)
	if err != nil {
		return nil, err
	}
	st := d.prober.Status()
	for i := range nodes {
		nodes[i].Health = st.NodeHealth(nodes[i].Name)
	}
	return nodes, nil
}

func (d *Daemon) deleteNode(ctx context.Context, name string) error {
	if name == d.cfg.NodeName {
		return &api.Error{Code: api.CodeInvalid, Message: "refusing to delete the local node " + name + ": stop its agent first, or run the command on another node"}
	}
	if err := node.ValidateName(name); err != nil {
		return &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	if err := node.Delete(ctx, d.store, name); err != nil {
		if errors.Is(err, node.ErrNotFound) {
			return &api.Error{Code: api.CodeNotFound, Message: "no node named " + name}
		}
		return err
	}
	return nil
}

func (d *Daemon) bpfIPCache(context.Context) ([]api.BPFIPCacheEntry, error) {
	list, err := d.dp.ListIPCache()
	if err != nil {
		return nil, err
	}
	return ipcache.APIEntries(list), nil
}

func (d *Daemon) bpfTunnel(context.Context) ([]api.BPFTunnelEntry, error) {
	list, err := d.dp.ListIPCache()
	if err != nil {
		return nil, err
	}
	return ipcache.APITunnelsFromIPCache(list), nil
}
