// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"cmp"
	"context"
	"slices"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/monitor"
)

// bpfPolicy lists policy map entries for `nori bpf policy list`, with the
// labels of each peer identity.
func (d *Daemon) bpfPolicy(_ context.Context, endpointID uint16) ([]api.BPFPolicyEntry, error) {
	var (
		list []datapath.PolicyEntry
		err  error
	)
	if endpointID == 0 {
		list, err = d.dp.ListPolicy()
	} else {
		list, err = d.dp.ListPolicyEndpoint(endpointID)
	}
	if err != nil {
		return nil, err
	}
	labels := monitorEnricher{d}
	out := make([]api.BPFPolicyEntry, 0, len(list))
	for _, e := range list {
		k, v := e.Key, e.Value
		a := api.BPFPolicyEntry{
			EndpointID: k.EndpointID,
			Direction:  k.Dir.String(),
			Identity:   k.Identity,
			Proto:      monitor.ProtoName(k.Proto),
			Verdict:    policyVerdictName(v.Verdict),
			Redirect:   v.Redirect,
			ProxyPort:  v.ProxyPort,
			RuleID:     v.RuleID,
			Packets:    e.Packets,
		}
		if k.Proto == 0 {
			a.Proto = "ANY"
		}
		if k.Identity != 0 {
			a.IdentityLabels = labels.IdentityLabels(k.Identity)
		}
		if k.Proto != 0 && k.PortBits > 0 {
			a.Port = k.Port
			a.PortPrefix = k.PortBits
			a.EndPort = k.Port | uint16(0xffff>>k.PortBits)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y api.BPFPolicyEntry) int {
		return cmp.Or(cmp.Compare(x.EndpointID, y.EndpointID), cmp.Compare(x.Direction, y.Direction),
			cmp.Compare(x.Identity, y.Identity), cmp.Compare(x.Proto, y.Proto), cmp.Compare(x.Port, y.Port))
	})
	return out, nil
}

func policyVerdictName(v uint8) string {
	switch v {
	case datapath.PolicyAllow:
		return "allow"
	case datapath.PolicyDeny:
		return "deny"
	}
	return "invalid"
}

// bpfMetrics lists the datapath's counters, drops first.
func (d *Daemon) bpfMetrics(context.Context) ([]api.BPFMetric, error) {
	m, err := d.dp.Metrics()
	if err != nil {
		return nil, err
	}
	out := make([]api.BPFMetric, 0, len(m))
	for k, v := range m {
		out = append(out, api.BPFMetric{Reason: k.Reason.String(), Drop: k.Reason.IsDrop(), Direction: k.Dir.String(), Packets: v.Packets, Bytes: v.Bytes})
	}
	slices.SortFunc(out, func(x, y api.BPFMetric) int {
		if x.Drop != y.Drop {
			if x.Drop {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(x.Reason, y.Reason), cmp.Compare(x.Direction, y.Direction))
	})
	return out, nil
}

// bpfCT lists the conntrack table for `nori bpf ct list`.
func (d *Daemon) bpfCT(context.Context) ([]api.BPFCTEntry, error) {
	list, err := d.dp.ListCT()
	if err != nil {
		return nil, err
	}
	out := make([]api.BPFCTEntry, 0, len(list))
	for _, e := range list {
		out = append(out, api.BPFCTEntry{
			Proto:          monitor.ProtoName(e.Proto),
			Src:            e.Src.String(),
			Dst:            e.Dst.String(),
			Reply:          e.Reply,
			SrcIdentity:    e.SrcIdentity,
			DstIdentity:    e.DstIdentity,
			EndpointID:     e.EndpointID,
			ExpiresSeconds: int64(e.Expires.Seconds()),
			Flags:          e.Flags.String(),
		})
	}
	slices.SortFunc(out, func(x, y api.BPFCTEntry) int {
		return cmp.Or(cmp.Compare(x.Src, y.Src), cmp.Compare(x.Dst, y.Dst), cmp.Compare(x.Proto, y.Proto))
	})
	return out, nil
}
