// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package link

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// SetupHostOnly creates the veth pair of a Docker endpoint: both ends in
// the host namespace, the peer named cfg.IfName and left down. Docker
// moves the peer into the container at Join and configures it there (its
// address, and the gateway and routes the driver returns); the host end
// is configured as Setup does. The peer's MAC is chosen here and handed
// to Docker, so the datapath and the container agree on it.
func SetupHostOnly(cfg Config) (v *Veth, err error) {
	if _, err := netlink.LinkByName(cfg.IfName); err == nil {
		return nil, fmt.Errorf("%w: %s in the host namespace", ErrExists, cfg.IfName)
	}
	veth, hostMAC, ctrMAC, err := addVeth(cfg, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = netlink.LinkDel(veth)
		}
	}()
	host, err := netlink.LinkByName(cfg.HostIfName)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", cfg.HostIfName, err)
	}
	peer, err := netlink.LinkByName(cfg.IfName)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", cfg.IfName, err)
	}
	if err := configureHost(host, cfg, ctrMAC); err != nil {
		return nil, err
	}
	return &Veth{
		HostName:     cfg.HostIfName,
		HostIndex:    host.Attrs().Index,
		HostMAC:      hostMAC,
		ContainerMAC: ctrMAC,
		ContainerIdx: peer.Attrs().Index,
	}, nil
}
