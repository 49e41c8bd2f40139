// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package daemon builds nori-agent's object graph from its Config and runs
// it: datapath first (so a bad --bpf-root fails fast), then the store, the
// node's CIDR, host networking, IPAM, identities, endpoints and finally the
// socket API. Stopping the agent stops the control plane only: pinned
// programs and maps keep every running container connected.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/config"
	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/endpoint"
	"github.com/nori-net/nori/agent/health"
	"github.com/nori-net/nori/agent/hostnet"
	"github.com/nori-net/nori/agent/ipam"
	"github.com/nori-net/nori/agent/ipcache"
	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/labels"
	"github.com/nori-net/nori/agent/monitor"
	"github.com/nori-net/nori/agent/node"
	"github.com/nori-net/nori/agent/overlay"
	"github.com/nori-net/nori/agent/policyengine"
	"github.com/nori-net/nori/agent/policystore"
	"github.com/nori-net/nori/agent/proxylistener"
	"github.com/nori-net/nori/agent/server"
)

// resumeAfter is how long a node that ran before waits for etcd at start
// before it starts from its state dir instead.
const resumeAfter = 10 * time.Second

// Daemon is a running agent.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	started time.Time

	dp       *datapath.Datapath
	embedded *kvstore.Embedded
	store    *kvstore.Store
	node     *nodeState
	alloc    *ipam.Allocator
	ipamDisk *ipam.DiskStore
	ids      *identities
	resolver *labels.Resolver
	eps      *endpoint.Manager
	srv      *server.Server

	epDatapath  *endpointDatapath
	policyStore *policystore.Store
	policy      *policyengine.Engine
	hub         *monitor.Hub
	// l7Hub is hub for the proxy's request records, which may come
	// before the hub exists (listeners start with the policy).
	l7Hub atomic.Pointer[monitor.Hub]
	proxy *proxylistener.Manager
	// cfgMu serialises read-modify-writes of the datapath's node config.
	cfgMu sync.Mutex

	pub       *ipcache.Publisher
	syncer    *ipcache.Syncer
	healthSrv *health.Server
	prober    *health.Prober
	cancelBg  context.CancelFunc

	// resumed is the cached node when the agent started while etcd was
	// unreachable (nil when it registered normally).
	resumed *node.Node

	mtu           int
	overlayCfg    overlay.Config
	tunnelIfIndex int // 0 in native-routing mode
	ready         atomic.Bool
}

// Run starts the agent and blocks until ctx ends.
func Run(ctx context.Context, cfg *config.Config, log *slog.Logger) (err error) {
	d := &Daemon{cfg: cfg, log: log, started: time.Now()}
	defer d.close()
	if err := d.start(ctx); err != nil {
		return err
	}
	d.ready.Store(true)
	log.Info("nori-agent ready", "node", cfg.NodeName, "cidr", d.alloc.CIDR(), "router", d.alloc.Router(),
		"endpoints", d.eps.Count(), "attach", d.dp.AttachMode(), "took", time.Since(d.started).Round(time.Millisecond))

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.srv.Serve() }()
	var embErr <-chan error
	if d.embedded != nil {
		embErr = d.embedded.Err()
	}
	select {
	case <-ctx.Done():
		log.Info("stopping; the datapath stays in place")
	case err := <-serveErr:
		return err
	case err := <-embErr:
		return fmt.Errorf("embedded store failed: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.srv.Shutdown(shutCtx)
}

func (d *Daemon) start(ctx context.Context) error {
	cfg := d.cfg
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	var err error
	d.dp, err = datapath.Open(datapath.Config{BPFRoot: cfg.BPFRoot, Logger: d.log})
	if err != nil {
		return err
	}

	nodeIP, underlayMTU, err := d.underlay()
	if err != nil {
		return err
	}
	d.mtu = cfg.MTU
	if d.mtu == 0 {
		d.mtu = underlayMTU
		if cfg.Tunnel == "vxlan" {
			d.mtu -= overlay.Overhead
		}
	}

	if err := d.connectStore(ctx); err != nil {
		return err
	}
	if d.node, err = registerNode(ctx, d.store, cfg, nodeIP, d.resumed, d.log); err != nil {
		return err
	}
	cidr, router := d.node.cidr, d.node.router

	healthIP := health.IP(cidr)
	tunnelPort := 0
	if cfg.Tunnel == "vxlan" {
		tunnelPort = cfg.TunnelPort
	}
	if err := hostnet.Setup(hostnet.Config{Router: router, Health: healthIP, ClusterPool: cfg.ClusterPoolIPv4CIDR, TunnelPort: tunnelPort,
		ProxyMark: datapath.MarkToProxy, ProxyMarkMask: datapath.MarkMagicMask, Logger: d.log}); err != nil {
		return err
	}
	if err := d.setupOverlay(router, nodeIP, underlayMTU); err != nil {
		return err
	}

	if d.ipamDisk, err = ipam.NewDiskStore(filepath.Join(cfg.StateDir, "ipam", cidrDirName(cidr)), d.log); err != nil {
		return err
	}
	if d.alloc, err = ipam.New(cidr, router, d.ipamDisk, d.log, healthIP); err != nil {
		return err
	}
	if d.ids, err = newIdentities(ctx, d.store, cfg, d.resumed != nil, d.log); err != nil {
		return err
	}
	d.epDatapath = &endpointDatapath{dp: d.dp, pub: &d.pub}
	if err := d.startPolicy(ctx); err != nil {
		return err
	}

	filter := labels.DefaultFilter()
	if len(cfg.Labels) > 0 {
		if filter, err = labels.NewFilter(cfg.Labels); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	podman := []string{cfg.PodmanPath}
	d.resolver = labels.NewResolver(labels.Config{ContainerdSocket: cfg.ContainerdSocket, PodmanCommand: podman}, d.log.With("subsys", "labels"))
	d.eps, err = endpoint.NewManager(endpoint.Config{
		StateDir:   cfg.StateDir,
		Router:     router,
		DefaultMTU: d.mtu,
		Datapath:   d.epDatapath,
		Identities: d.ids,
		Labels:     labelSource{r: d.resolver, filter: filter},
		Logger:     d.log,
		PolicyStatus: func(id uint16) (bool, bool, uint64) {
			st, _ := d.policy.Status(id)
			return st.Ingress, st.Egress, st.Revision
		},
		PublishPorts: hostnet.PublishPorts,
	})
	if err != nil {
		return err
	}
	gone, err := d.eps.Restore(ctx)
	if err != nil {
		d.log.Error("restoring endpoints", "err", err)
	}
	d.sweepDatapath()
	if d.tunnelIfIndex != 0 {
		// After the endpoints: from-overlay redirects need their entries.
		if err := d.dp.AttachOverlay(d.tunnelIfIndex, overlay.DefaultDevice); err != nil {
			return fmt.Errorf("attach overlay programs: %w", err)
		}
	}
	for _, att := range gone {
		// The runtime's DEL could not reach a dead agent: free the
		// address here, or it leaks.
		if _, _, err := d.alloc.Release(att); err != nil {
			d.log.Warn("release address of vanished endpoint", "container", att.ContainerID, "err", err)
		}
	}

	bgCtx, cancel := context.WithCancel(context.Background())
	d.cancelBg = cancel
	if err := d.startClusterSync(bgCtx, nodeIP); err != nil {
		return err
	}
	d.runPolicy(bgCtx)
	if err := d.startMonitor(bgCtx); err != nil {
		return err
	}
	if err := d.startMetrics(bgCtx); err != nil {
		return err
	}

	d.srv, err = server.Listen(cfg.Socket, server.Backend{
		Endpoints:  d.eps,
		IPAM:       ipamAPI{a: d.alloc},
		Identities: d.ids.list,
		Nodes:      d.listNodes,
		NodeDelete: d.deleteNode,
		BPFIPCache: d.bpfIPCache,
		BPFTunnel:  d.bpfTunnel,
		BPFMetrics: d.bpfMetrics,
		Status:     d.status,
		Ready: func() error {
			if !d.ready.Load() {
				return errors.New("nori-agent is starting")
			}
			return nil
		},
		Version:      api.Version{Version: api.BuildVersion, GoVersion: goVersion()},
		PolicyImport: d.policyImport,
		PolicyGet:    d.policyGet,
		PolicyDelete: d.policyDelete,
		PolicyTrace:  d.policyTrace,
		BPFPolicy:    d.bpfPolicy,
		BPFCT:        d.bpfCT,
		Monitor:      d.hub,
	}, d.log)
	return err
}

// underlay returns the node's underlay address and the MTU of its device.
func (d *Daemon) underlay() (netip.Addr, int, error) {
	if d.cfg.IPv4Node.IsValid() {
		mtu, err := hostnet.DeviceMTUFor(d.cfg.IPv4Node)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("--ipv4-node %s: %w", d.cfg.IPv4Node, err)
		}
		return d.cfg.IPv4Node, mtu, nil
	}
	ip, mtu, err := hostnet.DefaultRouteIPv4()
	if err != nil {
		return netip.Addr{}, 0, err
	}
	return ip, mtu, nil
}

func (d *Daemon) connectStore(ctx context.Context) error {
	var endpoints []string
	if d.cfg.KVStore == config.KVStoreEmbedded {
		emb, err := kvstore.StartEmbedded(ctx, kvstore.EmbeddedConfig{
			DataDir:      filepath.Join(d.cfg.StateDir, "etcd"),
			ListenClient: d.cfg.KVStoreListen,
			Name:         d.cfg.NodeName,
			Logger:       d.log,
		})
		if err != nil {
			return fmt.Errorf("start embedded store: %w", err)
		}
		d.embedded = emb
		endpoints = emb.Endpoints()
	} else if addr := d.cfg.KVStoreOpts["etcd.address"]; addr != "" {
		endpoints = splitAddrs(addr)
	}
	ccfg := kvstore.ClientConfig{
		Endpoints:   endpoints,
		ConfigFile:  d.cfg.KVStoreOpts["etcd.config"],
		ClusterName: d.cfg.ClusterName,
		Logger:      d.log,
	}
	// A node that ran before can start from its state dir while etcd is
	// away: its CIDR is in node.json and its endpoints in their records.
	// A new node needs etcd for its CIDR and waits for it.
	wait := 60 * time.Second
	cached, cacheErr := node.ReadCache(d.cfg.StateDir)
	canResume := d.embedded == nil && cacheErr == nil && cached.Name == d.cfg.NodeName && cached.IPv4CIDR.IsValid()
	if canResume {
		wait = resumeAfter
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	store, err := kvstore.Connect(cctx, ccfg)
	if err != nil && canResume && ctx.Err() == nil {
		d.log.Warn("etcd unreachable; starting from the state dir and connecting in the background", "err", err, "cidr", cached.IPv4CIDR)
		store, err = kvstore.ConnectLater(ccfg)
		d.resumed = &cached
	}
	if err != nil {
		return err
	}
	d.store = store
	return nil
}

func (d *Daemon) close() {
	if d.cancelBg != nil {
		d.cancelBg()
	}
	if d.healthSrv != nil {
		_ = d.healthSrv.Close()
	}
	if d.proxy != nil {
		d.proxy.Close()
	}
	if d.hub != nil {
		_ = d.hub.Close()
	}
	if d.eps != nil {
		d.eps.Close()
	}
	if d.resolver != nil {
		_ = d.resolver.Close()
	}
	if d.store != nil {
		_ = d.store.Close()
	}
	if d.embedded != nil {
		_ = d.embedded.Close()
	}
	if d.ipamDisk != nil {
		_ = d.ipamDisk.Close()
	}
	if d.dp != nil {
		_ = d.dp.Close()
	}
}

// sweepDatapath removes endpoint map entries that no restored endpoint
// owns (the agent died between writing the map and saving the record).
func (d *Daemon) sweepDatapath() {
	owned := map[netip.Addr]bool{}
	for _, ep := range d.eps.List() {
		if ip, err := netip.ParseAddr(ep.IPv4); err == nil {
			owned[ip] = true
		}
	}
	entries, err := d.dp.ListEndpoints()
	if err != nil {
		d.log.Warn("list datapath endpoints", "err", err)
		return
	}
	for _, e := range entries {
		if !owned[e.IP] {
			d.log.Info("removing stale datapath endpoint", "ip", e.IP)
			_ = d.dp.DeleteEndpoint(e.IP)
		}
	}
}

// setupOverlay creates (or, with --tunnel=disabled, removes) the VXLAN
// device and tells the datapath how to reach other nodes. The device's
// ifindex changes when it is recreated (another --tunnel-port), so the
// datapath config is written on every start.
func (d *Daemon) setupOverlay(router, nodeIP netip.Addr, underlayMTU int) error {
	d.overlayCfg = overlay.Config{
		Device:   overlay.DefaultDevice,
		Port:     d.cfg.TunnelPort,
		MTU:      underlayMTU - overlay.Overhead,
		RouterIP: router,
		Logger:   d.log,
	}
	nc := datapath.NodeConfig{RouterIP: router, ClusterCIDR: d.cfg.ClusterPoolIPv4CIDR, NodeIP: nodeIP, Flags: d.policyConfigFlags()}
	if d.cfg.Tunnel == "vxlan" {
		ifindex, err := overlay.Setup(d.overlayCfg)
		if err != nil {
			return fmt.Errorf("set up the VXLAN overlay: %w", err)
		}
		d.tunnelIfIndex = ifindex
		nc.TunnelIfIndex = ifindex
		nc.Flags |= datapath.ConfigTunnel
	} else {
		if err := d.dp.DetachOverlay(overlay.DefaultDevice); err != nil {
			d.log.Warn("detach overlay programs", "err", err)
		}
		if err := overlay.Teardown(d.overlayCfg); err != nil {
			d.log.Warn("remove VXLAN device", "err", err)
		}
	}
	if err := d.dp.SetConfig(nc); err != nil {
		return fmt.Errorf("configure datapath: %w", err)
	}
	return nil
}
