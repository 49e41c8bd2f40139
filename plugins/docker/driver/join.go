// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/nori-net/nori/plugins/docker/state"
)

// dstPrefix makes Docker name the container end eth<N>, as on its own
// bridge networks.
const dstPrefix = "eth"

// join tells Docker which interface to move into the sandbox and how the
// container reaches the node router.
//
// Routes: the container's address is a /32, so the router needs a
// connected route before Docker can use it as the gateway. Only the first
// nori endpoint of a sandbox returns that route and the gateway: a second
// nori network in the same container would ask Docker for the same
// router/32 route on another interface, which the kernel refuses with
// "file exists" (cilium-docker's bug, which it also hit with a 0.0.0.0/0
// static route). The default route itself is left to Docker (Gateway, not
// a static route) because Docker programs one default route per sandbox
// and moves it when the gateway endpoint leaves. But the other nodes'
// share of the cluster pool gets routes via the router (clusterRoutes):
// when the container is on another network too (Docker's bridge), that
// network may own the default route, and the endpoints on other nodes
// must still be reached through nori.
func (d *Driver) join(ctx context.Context, body []byte) (any, error) {
	const m = "Join"
	var req joinRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	if !idPattern.MatchString(req.EndpointID) {
		return nil, invalid("%s: EndpointID %q is not a Docker ID", m, req.EndpointID)
	}
	if req.SandboxKey == "" {
		return nil, invalid("%s: SandboxKey is empty", m)
	}
	var cluster []netip.Prefix
	if node, err := d.nodeInfo(ctx); err == nil {
		cluster = clusterRoutes(node.cluster, node.cidr)
	} else {
		d.log.Warn("no cluster route for this endpoint: node info unavailable", "endpoint", shortID(req.EndpointID), "err", err)
	}
	var resp joinResponse
	err := d.cfg.State.Update(func(s *state.Data) error {
		ep := s.Endpoints[req.EndpointID]
		if ep == nil {
			return fmt.Errorf("%s: endpoint %s is unknown to nori-docker (its state was lost?); reconnect the container", m, shortID(req.EndpointID))
		}
		withRoutes := true
		for id, other := range s.Endpoints {
			if id != ep.ID && other.SandboxKey == req.SandboxKey && other.Routes {
				withRoutes = false
				break
			}
		}
		ep.SandboxKey = req.SandboxKey
		ep.Routes = withRoutes
		resp = joinResponse{
			InterfaceName: &interfaceName{SrcName: ep.Attachment.IfName, DstPrefix: dstPrefix},
			// The agent's datapath is the only way out: never attach
			// the container to docker_gwbridge as well.
			DisableGatewayService: true,
		}
		if withRoutes {
			gw, err := netip.ParseAddr(ep.Gateway)
			if err != nil {
				return fmt.Errorf("%s: endpoint %s has no usable gateway %q from the agent", m, shortID(ep.ID), ep.Gateway)
			}
			resp.Gateway = gw.String()
			resp.StaticRoutes = []staticRoute{{Destination: netip.PrefixFrom(gw, 32).String(), RouteType: routeConnected}}
			for _, p := range cluster {
				resp.StaticRoutes = append(resp.StaticRoutes,
					staticRoute{Destination: p.String(), RouteType: routeNextHop, NextHop: gw.String()})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("endpoint joined", "endpoint", shortID(req.EndpointID), "sandbox", req.SandboxKey, "routes", resp.Gateway != "")
	d.resolveLabels(req.NetworkID, req.EndpointID)
	return resp, nil
}

// leave only forgets the sandbox: Docker moves the interface back to the
// host namespace and may join the endpoint again (it does so when a
// legacy link is removed), so the veth and the agent endpoint live until
// DeleteEndpoint.
func (d *Driver) leave(_ context.Context, body []byte) (any, error) {
	const m = "Leave"
	var req endpointRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	err := d.cfg.State.Update(func(s *state.Data) error {
		if ep := s.Endpoints[req.EndpointID]; ep != nil {
			ep.SandboxKey = ""
			ep.Routes = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// programExternalConnectivity records the published ports (-p). Docker
// does no port publishing for remote drivers; applying the mappings needs
// an agent call that does not exist yet, so they are kept with the
// endpoint and logged.
func (d *Driver) programExternalConnectivity(_ context.Context, body []byte) (any, error) {
	const m = "ProgramExternalConnectivity"
	var req externalConnectivityRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	ports, err := portMappings(req.Options)
	if err != nil {
		return nil, invalid("%s: %v", m, err)
	}
	err = d.cfg.State.Update(func(s *state.Data) error {
		if ep := s.Endpoints[req.EndpointID]; ep != nil {
			ep.PortMappings = ports
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ports) > 0 {
		d.log.Warn("published ports recorded but not applied: the agent has no port mapping call yet", "endpoint", shortID(req.EndpointID), "ports", ports)
	}
	return struct{}{}, nil
}

func (d *Driver) revokeExternalConnectivity(_ context.Context, body []byte) (any, error) {
	const m = "RevokeExternalConnectivity"
	var req endpointRequest
	if err := decode(m, body, &req); err != nil {
		return nil, err
	}
	err := d.cfg.State.Update(func(s *state.Data) error {
		if ep := s.Endpoints[req.EndpointID]; ep != nil {
			ep.PortMappings = nil
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
