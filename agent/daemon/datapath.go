// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/endpoint"
	"github.com/nori-net/nori/agent/ipcache"
	"github.com/nori-net/nori/agent/policyengine"
	"github.com/nori-net/nori/agent/proxylistener"
)

// endpointDatapath adapts the BPF datapath to what the endpoint manager
// needs: programs on the host end of the veth, one map entry per address.
type endpointDatapath struct {
	dp *datapath.Datapath
	// pub publishes each endpoint address and identity to the cluster;
	// it is set after the endpoints are restored, so restore itself
	// publishes nothing (Publisher.Sync does that in one go).
	pub **ipcache.Publisher
	// policy computes each endpoint's policy map keys and enforcement
	// flags before the endpoint's map entry is written.
	policy *policyengine.Engine
	// proxy learns where each endpoint's netns is, so that its ingress
	// redirects can be served by listeners inside it.
	proxy *proxylistener.Manager

	// mu serialises the writes of endpoint map entries, so a background
	// flag change (setFlags) never overwrites a newer entry with an older
	// one.
	mu sync.Mutex
	// written is the last entry written per endpoint ID and address.
	written map[uint16][]datapath.Endpoint
	// pinned are the endpoint map entries a previous agent run left, read
	// once when the first restored endpoint is updated.
	pinned map[netip.Addr]datapath.Endpoint
}

// currentFlags are the enforcement flags an endpoint's datapath entry
// carries now: as last written, or as the previous run left them.
func (a *endpointDatapath) currentFlags(ep *endpoint.Endpoint) uint16 {
	if w := a.written[ep.ID]; len(w) > 0 {
		return w[0].Flags
	}
	if a.pinned == nil {
		a.pinned = map[netip.Addr]datapath.Endpoint{}
		if list, err := a.dp.ListEndpoints(); err == nil {
			for _, e := range list {
				a.pinned[e.IP] = e
			}
		}
	}
	for _, ip := range ep.IPs {
		if e, ok := a.pinned[ip]; ok && e.ID == ep.ID {
			return e.Flags
		}
	}
	return 0
}

func (a *endpointDatapath) publisher() *ipcache.Publisher {
	if a.pub == nil {
		return nil
	}
	return *a.pub
}

func (a *endpointDatapath) Attach(ep *endpoint.Endpoint) error {
	// Map entries first: the moment the programs run, peers can be found.
	if err := a.Update(ep); err != nil {
		return err
	}
	if err := a.dp.AttachEndpoint(ep.HostIfIndex, ep.HostIfName); err != nil {
		return fmt.Errorf("attach programs to %s: %w", ep.HostIfName, err)
	}
	return nil
}

func (a *endpointDatapath) Update(ep *endpoint.Endpoint) error {
	hostMAC, err := net.ParseMAC(ep.HostMAC)
	if err != nil {
		return fmt.Errorf("endpoint %d host mac %q: %w", ep.ID, ep.HostMAC, err)
	}
	ctrMAC, err := net.ParseMAC(ep.ContainerMAC)
	if err != nil {
		return fmt.Errorf("endpoint %d container mac %q: %w", ep.ID, ep.ContainerMAC, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// A Docker endpoint (HostOnly) learns its netns (the sandbox) only
	// with its labels; until then its flows for the proxy go to the
	// node's listeners.
	if a.proxy != nil && ep.Netns != "" {
		a.proxy.SetEndpoint(ep.ID, ep.IPs, ep.Netns)
	}
	// The policy keys go in before the entry that turns enforcement on.
	flags, err := a.policy.Endpoint(ep.ID, ep.Identity, ep.Labels, a.currentFlags(ep))
	if err != nil {
		return fmt.Errorf("policy of endpoint %d: %w", ep.ID, err)
	}
	var entries []datapath.Endpoint
	for _, ip := range ep.IPs {
		e := datapath.Endpoint{
			IP:       ip,
			IfIndex:  ep.HostIfIndex,
			MAC:      ctrMAC,
			NodeMAC:  hostMAC,
			Identity: ep.Identity,
			ID:       ep.ID,
			Flags:    flags,
		}
		if err := a.dp.UpsertEndpoint(e); err != nil {
			return fmt.Errorf("write endpoint %d (%s) to the datapath: %w", ep.ID, ip, err)
		}
		entries = append(entries, e)
		if p := a.publisher(); p != nil {
			// Queued, never blocks ADD on the store.
			_ = p.Upsert(context.Background(), ip, ep.Identity)
		}
	}
	if a.written == nil {
		a.written = map[uint16][]datapath.Endpoint{}
	}
	a.written[ep.ID] = entries
	return nil
}

// setFlags rewrites an endpoint's entries with the enforcement flags the
// policy engine wants now (policyengine.Config.SetFlags).
func (a *endpointDatapath) setFlags(epID uint16) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	entries, ok := a.written[epID]
	if !ok {
		return nil // removed meanwhile
	}
	flags := a.policy.Flags(epID)
	for i := range entries {
		entries[i].Flags = flags
		if err := a.dp.UpsertEndpoint(entries[i]); err != nil {
			return fmt.Errorf("write endpoint %d flags: %w", epID, err)
		}
	}
	return nil
}

func (a *endpointDatapath) Detach(ep *endpoint.Endpoint) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.written, ep.ID)
	var errs []error
	for _, ip := range ep.IPs {
		if err := a.dp.DeleteEndpoint(ip); err != nil {
			errs = append(errs, fmt.Errorf("remove endpoint %d (%s) from the datapath: %w", ep.ID, ip, err))
		}
		if p := a.publisher(); p != nil {
			_ = p.Delete(context.Background(), ip)
		}
	}
	if err := a.dp.DetachEndpoint(ep.HostIfName); err != nil {
		errs = append(errs, fmt.Errorf("detach programs from %s: %w", ep.HostIfName, err))
	}
	// After the entry is gone: no packet is judged without its keys.
	if err := a.policy.RemoveEndpoint(ep.ID); err != nil {
		errs = append(errs, err)
	}
	if a.proxy != nil {
		a.proxy.RemoveEndpoint(ep.ID)
	}
	return errors.Join(errs...)
}
