// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/endpoint"
	"github.com/nori-net/nori/agent/ipcache"
)

// endpointDatapath adapts the BPF datapath to what the endpoint manager
// needs: programs on the host end of the veth, one map entry per address.
type endpointDatapath struct {
	dp *datapath.Datapath
	// pub publishes each endpoint address and identity to the cluster;
	// it is set after the endpoints are restored, so restore itself
	// publishes nothing (Publisher.Sync does that in one go).
	pub **ipcache.Publisher
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
	for _, ip := range ep.IPs {
		if err := a.dp.UpsertEndpoint(datapath.Endpoint{
			IP:       ip,
			IfIndex:  ep.HostIfIndex,
			MAC:      ctrMAC,
			NodeMAC:  hostMAC,
			Identity: ep.Identity,
			ID:       ep.ID,
		}); err != nil {
			return fmt.Errorf("write endpoint %d (%s) to the datapath: %w", ep.ID, ip, err)
		}
		if p := a.publisher(); p != nil {
			// Queued, never blocks ADD on the store.
			_ = p.Upsert(context.Background(), ip, ep.Identity)
		}
	}
	return nil
}

func (a *endpointDatapath) Detach(ep *endpoint.Endpoint) error {
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
	return errors.Join(errs...)
}
