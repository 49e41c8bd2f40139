// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"net/netip"
	"regexp"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/plugins/docker/state"
)

// runtimeDocker is the runtime name the agent records for these endpoints.
const runtimeDocker = "docker"

// idPattern is what Docker network and endpoint IDs look like (64 hex in
// practice); anything else would end up in interface names and files.
var idPattern = regexp.MustCompile(`^[0-9a-zA-Z][-.0-9a-zA-Z_]{0,127}$`)

// attachmentFor derives the agent attachment from the Docker endpoint ID,
// so a DeleteEndpoint after a lost state file still finds the endpoint.
// IfName is the name of the container end while it is still in the host
// namespace; Docker renames it to eth<N> when it moves it into the
// container. "tmp" plus 12 ID characters fits IFNAMSIZ and cannot clash
// with the agent's lxc<hash> host ends.
func attachmentFor(endpointID string) api.Attachment {
	short := endpointID
	if len(short) > 12 {
		short = short[:12]
	}
	return api.Attachment{ContainerID: endpointID, IfName: "tmp" + short}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (d *Driver) createEndpoint(ctx context.Context, body []byte) (any, error) {
	const m = "CreateEndpoint"
	var req createEndpointRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	switch {
	case !idPattern.MatchString(req.NetworkID):
		return nil, invalid("%s: NetworkID %q is not a Docker ID", m, req.NetworkID)
	case !idPattern.MatchString(req.EndpointID):
		return nil, invalid("%s: EndpointID %q is not a Docker ID", m, req.EndpointID)
	case req.Interface == nil || req.Interface.Address == "":
		return nil, invalid("%s: Interface.Address is empty: the network must use nori's IPAM driver", m)
	case req.Interface.AddressIPv6 != "":
		return nil, invalid("%s: Interface.AddressIPv6: IPv6 is not supported by nori yet", m)
	}
	addr, err := netip.ParsePrefix(req.Interface.Address)
	if err != nil || !addr.Addr().Is4() {
		return nil, invalid("%s: Interface.Address %q is not an IPv4 CIDR", m, req.Interface.Address)
	}
	ports, err := portMappings(req.Options)
	if err != nil {
		return nil, invalid("%s: %v", m, err)
	}

	var mtu int
	d.cfg.State.View(func(s *state.Data) {
		if n := s.Networks[req.NetworkID]; n != nil {
			mtu = n.MTU
		}
	})
	att := attachmentFor(req.EndpointID)
	res, err := d.cfg.Agent.EndpointCreate(ctx, &api.EndpointRequest{
		Attachment:     att,
		Network:        shortID(req.NetworkID),
		IPs:            []api.IPConfig{{Address: addr.String()}},
		MTU:            mtu,
		Runtime:        runtimeDocker,
		PortMappings:   ports,
		SkipNetnsSetup: true,
	})
	if err != nil {
		return nil, d.agentError("create endpoint "+shortID(req.EndpointID), err)
	}
	ifName := att.IfName
	if res.Container.Name != "" {
		ifName = res.Container.Name
	}
	ep := &state.Endpoint{
		ID:           req.EndpointID,
		NetworkID:    req.NetworkID,
		Attachment:   api.Attachment{ContainerID: att.ContainerID, IfName: ifName},
		Address:      addr.String(),
		HostIfName:   res.Host.Name,
		MAC:          res.Container.MAC,
		Gateway:      res.Gateway,
		PortMappings: ports,
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		s.Endpoints[req.EndpointID] = ep
		return nil
	})
	if err != nil {
		// Docker sends no DeleteEndpoint for a failed CreateEndpoint.
		if derr := d.cfg.Agent.EndpointDelete(ctx, &api.EndpointDeleteRequest{Attachment: att}); derr != nil {
			d.log.Warn("delete endpoint after failed CreateEndpoint", "endpoint", req.EndpointID, "err", derr)
		}
		return nil, err
	}
	d.log.Info("endpoint created", "endpoint", shortID(req.EndpointID), "address", addr, "hostIf", res.Host.Name)
	if req.Interface.MacAddress != "" && !strings.EqualFold(req.Interface.MacAddress, res.Container.MAC) {
		// Docker sets its MAC when it moves the interface, and the
		// datapath addresses the container by the agent's MAC.
		d.log.Warn("Docker chose the container MAC; the agent API cannot take it yet, so traffic to the container may be lost",
			"endpoint", shortID(req.EndpointID), "docker", req.Interface.MacAddress, "agent", res.Container.MAC)
	}

	// Docker supplied the address, so only the MAC is ours to report, and
	// only when Docker chose none (it refuses a driver that changes its
	// choice). Reporting it keeps `docker inspect` and the agent agreeing.
	if req.Interface.MacAddress == "" && res.Container.MAC != "" {
		return createEndpointResponse{Interface: &endpointInterface{MacAddress: res.Container.MAC}}, nil
	}
	return createEndpointResponse{}, nil
}

// deleteEndpoint removes the agent endpoint (veth, datapath, identity).
// An endpoint the agent does not know is already deleted.
func (d *Driver) deleteEndpoint(ctx context.Context, body []byte) (any, error) {
	const m = "DeleteEndpoint"
	var req endpointRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if !idPattern.MatchString(req.EndpointID) {
		return nil, invalid("%s: EndpointID %q is not a Docker ID", m, req.EndpointID)
	}
	att := attachmentFor(req.EndpointID)
	d.cfg.State.View(func(s *state.Data) {
		if ep := s.Endpoints[req.EndpointID]; ep != nil {
			att = ep.Attachment
		}
	})
	err := d.cfg.Agent.EndpointDelete(ctx, &api.EndpointDeleteRequest{Attachment: att})
	if err != nil && !api.IsCode(err, api.CodeNotFound) {
		return nil, d.agentError("delete endpoint "+shortID(req.EndpointID), err)
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		delete(s.Endpoints, req.EndpointID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("endpoint deleted", "endpoint", shortID(req.EndpointID))
	return struct{}{}, nil
}

// endpointOperInfo feeds `docker inspect`; Docker asks for it while
// listing, so an unknown endpoint is an empty answer, not an error.
func (d *Driver) endpointOperInfo(_ context.Context, body []byte) (any, error) {
	const m = "EndpointOperInfo"
	var req endpointRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	v := map[string]any{}
	d.cfg.State.View(func(s *state.Data) {
		ep := s.Endpoints[req.EndpointID]
		if ep == nil {
			return
		}
		v["hostInterface"] = ep.HostIfName
		v["address"] = ep.Address
		if ep.MAC != "" {
			v["macAddress"] = ep.MAC
		}
		if ep.ContainerID != "" {
			v["containerID"] = ep.ContainerID
		}
	})
	return endpointInfoResponse{Value: v}, nil
}
