// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/policy"
	"github.com/nori-net/nori/agent/policymap"
)

// endpointKeys is the policy map content of one endpoint, in the
// datapath's types. proxyPort gives redirecting keys their listener.
func endpointKeys(epID uint16, pol *policy.EndpointPolicy, cidrs policymap.CIDRIdentities,
	proxyPort func(dir uint8, l7 string) uint16) (map[datapath.PolicyKey]datapath.PolicyValue, error) {
	keys, err := policymap.Compute(epID, pol, cidrs)
	if err != nil {
		return nil, err
	}
	out := make(map[datapath.PolicyKey]datapath.PolicyValue, len(keys))
	for k, v := range keys {
		if v.Redirect {
			v.ProxyPort = proxyPort(k.Dir, v.L7)
		}
		out[datapath.PolicyKey{
			EndpointID: k.EndpointID,
			Dir:        datapath.Direction(k.Dir),
			Identity:   k.Identity,
			Proto:      k.Proto,
			Port:       k.Port,
			PortBits:   k.PortBits,
		}] = datapath.PolicyValue{
			Verdict:   v.Verdict,
			Redirect:  v.Redirect,
			ProxyPort: v.ProxyPort,
			RuleID:    v.RuleID,
		}
	}
	return out, nil
}
