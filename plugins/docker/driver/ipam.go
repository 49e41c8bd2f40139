// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/state"
)

// poolPrefix starts every pool ID; the node CIDR follows, so the ID is the
// same for identical requests, as Docker requires.
const poolPrefix = "nori:"

// ipamOwner marks the agent allocations made for Docker (for the agent's
// GC by owner).
const ipamOwner = "docker"

// nodeInfo asks the agent for the node CIDR and router once; both stay
// fixed for the agent's lifetime.
func (d *Driver) nodeInfo(ctx context.Context) (*nodeInfo, error) {
	d.nodeMu.Lock()
	defer d.nodeMu.Unlock()
	if d.node != nil {
		return d.node, nil
	}
	st, err := d.cfg.Agent.Status(ctx)
	if err != nil {
		return nil, d.agentError("read node CIDR", err)
	}
	cidr, err := netip.ParsePrefix(st.IPAM.CIDR)
	if err != nil {
		return nil, fmt.Errorf("read node CIDR: agent reports %q: %w", st.IPAM.CIDR, err)
	}
	router, err := netip.ParseAddr(st.IPAM.Router)
	if err != nil {
		return nil, fmt.Errorf("read node router: agent reports %q: %w", st.IPAM.Router, err)
	}
	d.node = &nodeInfo{cidr: cidr.Masked(), router: router}
	// An older agent does not say; containers then rely on the default
	// route for other nodes' endpoints.
	if c, err := netip.ParsePrefix(st.IPAM.ClusterCIDR); err == nil {
		d.node.cluster = c.Masked()
	}
	return d.node, nil
}

// requestPool answers with the node CIDR: every nori network on a node
// draws from the agent's one pool, and the router is the gateway.
func (d *Driver) requestPool(ctx context.Context, body []byte) (any, error) {
	const m = "RequestPool"
	var req requestPoolRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if req.V6 {
		return nil, invalid("%s: IPv6 is not supported by nori yet; create the network without --ipv6", m)
	}
	if req.SubPool != "" {
		return nil, invalid("%s: SubPool %q: nori allocates from the whole node CIDR; drop --ip-range", m, req.SubPool)
	}
	node, err := d.nodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	if req.Pool != "" {
		p, err := netip.ParsePrefix(req.Pool)
		if err != nil {
			return nil, invalid("%s: Pool %q is not a CIDR", m, req.Pool)
		}
		if p.Masked() != node.cidr {
			return nil, invalid("%s: Pool %s: nori allocates from this node's CIDR %s; drop --subnet or pass exactly that", m, req.Pool, node.cidr)
		}
	}
	// Without --subnet the pool is 0.0.0.0/0, as cilium-docker's was:
	// Docker checks a pool it did not ask for against the host's routes
	// and asks again while one overlaps, and the node's /32 routes to its
	// containers lie inside the node CIDR, so a second network (or any
	// network created once containers run) would loop forever. 0.0.0.0/0
	// is exempt from that check. Addresses still come from the node CIDR.
	pool := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if req.Pool != "" {
		pool = node.cidr
	}
	return requestPoolResponse{
		PoolID: poolPrefix + node.cidr.String(),
		Pool:   pool.String(),
		// Docker takes the gateway from here instead of requesting one.
		Data: map[string]string{optGateway: netip.PrefixFrom(node.router, 32).String()},
	}, nil
}

// releasePool has nothing to free: the pool is the agent's.
func (d *Driver) releasePool(_ context.Context, body []byte) (any, error) {
	var req releasePoolRequest
	if err := decode("ReleasePool", body, &req); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (d *Driver) requestAddress(ctx context.Context, body []byte) (any, error) {
	const m = "RequestAddress"
	var req requestAddressRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(req.PoolID, poolPrefix) {
		return nil, invalid("%s: PoolID %q is not a nori pool", m, req.PoolID)
	}
	node, err := d.nodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	var requested netip.Addr
	if req.Address != "" {
		if requested, err = parseAddr(req.Address); err != nil {
			return nil, invalid("%s: Address %q is not an IPv4 address", m, req.Address)
		}
	}
	if req.Options[optRequestType] == optGateway {
		// The router is the gateway of every nori network; it is the
		// agent's, so nothing is allocated.
		if requested.IsValid() && requested != node.router {
			return nil, invalid("%s: gateway %s: the gateway of a nori network is the node router %s; drop --gateway", m, requested, node.router)
		}
		return requestAddressResponse{Address: netip.PrefixFrom(node.router, node.cidr.Bits()).String()}, nil
	}

	// Docker names no container here, so the allocation gets an
	// attachment of its own that the state file remembers.
	att, err := ipamAttachment()
	if err != nil {
		return nil, err
	}
	areq := &api.IPAMRequest{Attachment: att, Network: req.PoolID, Owner: ipamOwner}
	if requested.IsValid() {
		areq.RequestedIPs = []string{requested.String()}
	}
	res, err := d.cfg.Agent.IPAMAllocate(ctx, areq)
	if err != nil {
		return nil, d.agentError("allocate address", err)
	}
	if len(res.IPs) == 0 {
		return nil, fmt.Errorf("%s: the agent returned no address", m)
	}
	ip, err := parseAddr(res.IPs[0].Address)
	if err != nil {
		return nil, fmt.Errorf("%s: the agent returned %q: %w", m, res.IPs[0].Address, err)
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		s.Addresses[ip.String()] = &state.Address{Address: ip.String(), PoolID: req.PoolID, Attachment: att}
		return nil
	})
	if err != nil {
		if rerr := d.cfg.Agent.IPAMRelease(ctx, &api.IPAMReleaseRequest{Attachment: att}); rerr != nil {
			d.log.Warn("release address after failed RequestAddress", "address", ip, "err", rerr)
		}
		return nil, err
	}
	d.log.Debug("address allocated", "address", ip, "pool", req.PoolID)
	// A /32: a prefix would give the container a connected route to the
	// node CIDR, and Docker refuses a second nori network's address that
	// falls into an existing route ("conflicts with existing route").
	return requestAddressResponse{Address: netip.PrefixFrom(ip, 32).String()}, nil
}

// releaseAddress frees an address; one that is unknown (already freed, or
// the gateway Docker releases although it never requested it) is success.
func (d *Driver) releaseAddress(ctx context.Context, body []byte) (any, error) {
	const m = "ReleaseAddress"
	var req releaseAddressRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	ip, err := parseAddr(req.Address)
	if err != nil {
		return nil, invalid("%s: Address %q is not an IPv4 address", m, req.Address)
	}
	var known bool
	d.cfg.State.View(func(s *state.Data) { _, known = s.Addresses[ip.String()] })
	d.nodeMu.Lock()
	isRouter := d.node != nil && d.node.router == ip
	d.nodeMu.Unlock()
	if isRouter && !known {
		return struct{}{}, nil
	}
	err = d.cfg.Agent.IPAMRelease(ctx, &api.IPAMReleaseRequest{Address: ip.String()})
	if err != nil && !api.IsCode(err, api.CodeNotFound) {
		return nil, d.agentError("release address "+ip.String(), err)
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		delete(s.Addresses, ip.String())
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.log.Debug("address released", "address", ip, "known", known)
	return struct{}{}, nil
}

// ipamAttachment names a Docker IPAM allocation in the agent.
func ipamAttachment() (api.Attachment, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return api.Attachment{}, fmt.Errorf("name address allocation: %w", err)
	}
	return api.Attachment{ContainerID: "docker-ipam-" + hex.EncodeToString(b), IfName: "eth0"}, nil
}

// parseAddr accepts "10.0.1.5" and "10.0.1.5/24"; IPv4 only.
func parseAddr(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		s = p.Addr().String()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err
	}
	if !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s is not IPv4", a)
	}
	return a, nil
}
