// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/hostnet"
)

func goVersion() string { return runtime.Version() }

// cidrDirName names the IPAM state folder after the node CIDR, so a node
// that comes back with another CIDR never reads the old allocations.
func cidrDirName(p netip.Prefix) string {
	return strings.ReplaceAll(p.String(), "/", "_")
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		out = append(out, a)
	}
	return out
}

func (d *Daemon) status(ctx context.Context) *api.Status {
	s := &api.Status{
		Version:     api.BuildVersion,
		NodeName:    d.cfg.NodeName,
		ClusterName: d.cfg.ClusterName,
		Endpoints:   d.eps.Count(),
		Tunnel:      d.cfg.Tunnel,
		Policy:      d.cfg.EnablePolicy,
		Uptime:      time.Since(d.started).Round(time.Second).String(),
		IPAM:        d.alloc.Stats(),
	}
	s.IPAM.ClusterCIDR = d.cfg.ClusterPoolIPv4CIDR.String()
	s.PolicyRevision, s.PolicyRules = d.policy.Revision()
	s.KVStore = d.storeStatus()
	s.Datapath = api.ComponentStatus{State: "Ok", Message: fmt.Sprintf("%s, programs pinned under %s/nori", d.dp.AttachMode(), d.cfg.BPFRoot)}
	if err := hostnet.MasqueradeActive(); err != nil {
		s.Masquerade = api.ComponentStatus{State: "Failure", Message: err.Error()}
	} else {
		s.Masquerade = api.ComponentStatus{State: "Ok", Message: "nftables, " + d.cfg.ClusterPoolIPv4CIDR.String() + " to non-cluster destinations"}
	}
	if d.prober != nil {
		c := d.prober.Status().Component()
		s.ClusterHealth = &c
	}
	if d.syncer != nil {
		c := d.syncer.Status().Component(time.Now())
		s.ClusterSync = &c
		s.Propagation = d.syncer.Propagation().API()
	}
	s.Proxy = d.proxyStatus()
	if ids, err := d.ids.list(ctx); err == nil {
		s.Identities = len(ids)
	}
	return s
}

func (d *Daemon) storeStatus() api.ComponentStatus {
	st := d.store.Status()
	mode := "etcd"
	if d.embedded != nil {
		mode = "embedded etcd"
	}
	msg := fmt.Sprintf("%s: %s, lease %x (ttl %s), %d leased keys", mode, strings.Join(st.Endpoints, ","), st.LeaseID, st.LeaseTTL, st.LeasedKeys)
	if !st.Connected {
		if st.LastError != "" {
			msg += ", last error: " + st.LastError
		}
		return api.ComponentStatus{State: "Failure", Message: msg}
	}
	return api.ComponentStatus{State: "Ok", Message: msg}
}
