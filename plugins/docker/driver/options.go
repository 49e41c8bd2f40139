// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nori-net/nori/agent/api"
)

// genericOptions returns the `docker network create -o k=v` options,
// which Docker nests under com.docker.network.generic.
func genericOptions(opts map[string]any) (map[string]string, error) {
	raw, ok := opts[optGeneric]
	if !ok || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("option %s: got %T, want an object", optGeneric, raw)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case string:
			out[k] = v
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out, nil
}

// parseMTU reads -o com.docker.network.driver.mtu; 0 means the agent's
// default.
func parseMTU(generic map[string]string) (int, error) {
	s, ok := generic[optMTU]
	if !ok || s == "" {
		return 0, nil
	}
	mtu, err := strconv.Atoi(s)
	if err != nil || mtu < 68 || mtu > 65535 {
		return 0, fmt.Errorf("option %s: %q is not an MTU between 68 and 65535", optMTU, s)
	}
	return mtu, nil
}

// portMappings reads the published ports (-p) from an endpoint's or
// sandbox's options, in the agent's CNI-shaped form. A range of host
// ports becomes one mapping per port.
func portMappings(opts map[string]any) ([]api.PortMapping, error) {
	raw, ok := opts[optPortMap]
	if !ok || raw == nil {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("option %s: %w", optPortMap, err)
	}
	var pbs []portBinding
	if err := json.Unmarshal(b, &pbs); err != nil {
		return nil, fmt.Errorf("option %s: %w", optPortMap, err)
	}
	var out []api.PortMapping
	for _, pb := range pbs {
		proto, err := protoName(pb.Proto)
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", optPortMap, err)
		}
		last := pb.HostPortEnd
		if last < pb.HostPort {
			last = pb.HostPort
		}
		for hp := int(pb.HostPort); hp <= int(last); hp++ {
			out = append(out, api.PortMapping{HostPort: hp, ContainerPort: int(pb.Port), Protocol: proto, HostIP: pb.HostIP})
		}
	}
	return out, nil
}

func protoName(p uint8) (string, error) {
	switch p {
	case 6:
		return "tcp", nil
	case 17:
		return "udp", nil
	case 132:
		return "sctp", nil
	}
	return "", fmt.Errorf("protocol %d is not tcp, udp or sctp", p)
}
