// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"

	"github.com/nori-net/nori/plugins/docker/state"
)

func (d *Driver) createNetwork(_ context.Context, body []byte) (any, error) {
	const m = "CreateNetwork"
	var req createNetworkRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if req.NetworkID == "" {
		return nil, invalid("%s: NetworkID is empty", m)
	}
	if len(req.IPv6Data) > 0 {
		return nil, invalid("%s: IPv6 is not supported by nori yet; create the network without --ipv6", m)
	}
	// The datapath routes only what the agent's IPAM handed out, so an
	// address from Docker's default IPAM would be unreachable.
	for _, p := range req.IPv4Data {
		if p.AddressSpace != LocalAddressSpace && p.AddressSpace != GlobalAddressSpace {
			return nil, invalid("%s: pool %s comes from address space %q: nori networks need nori's IPAM (docker network create --driver nori --ipam-driver nori)", m, p.Pool, p.AddressSpace)
		}
	}
	generic, err := genericOptions(req.Options)
	if err != nil {
		return nil, invalid("%s: %v", m, err)
	}
	mtu, err := parseMTU(generic)
	if err != nil {
		return nil, invalid("%s: %v", m, err)
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		s.Networks[req.NetworkID] = &state.Network{ID: req.NetworkID, MTU: mtu, Options: generic}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("network created", "network", req.NetworkID, "mtu", mtu)
	return struct{}{}, nil
}

// deleteNetwork forgets the network. Docker deletes its endpoints first,
// and deleting an unknown network succeeds so a retry after a lost answer
// does too.
func (d *Driver) deleteNetwork(_ context.Context, body []byte) (any, error) {
	const m = "DeleteNetwork"
	var req networkRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if req.NetworkID == "" {
		return nil, invalid("%s: NetworkID is empty", m)
	}
	err := d.cfg.State.Update(func(s *state.Data) error {
		delete(s.Networks, req.NetworkID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("network deleted", "network", req.NetworkID)
	return struct{}{}, nil
}
