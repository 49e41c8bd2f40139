// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newBPFPolicyCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "The policy map: endpoint, direction, peer identity, port → verdict"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list [ENDPOINT]",
		Short: "List the policy entries of one endpoint, or of all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var id uint16
			if len(args) == 1 {
				n, err := strconv.ParseUint(args[0], 10, 16)
				if err != nil || n == 0 {
					return fmt.Errorf("parse endpoint ID %q: want a number from 1 to 65535", args[0])
				}
				id = uint16(n)
			}
			es, err := o.client().BPFPolicy(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("list policy map: %w", err)
			}
			if es == nil {
				es = []api.BPFPolicyEntry{}
			}
			if o.json() {
				return writeJSON(o.stdout, es)
			}
			return RenderBPFPolicy(o.stdout, es)
		},
	})
	return cmd
}

func newBPFCTCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{Use: "ct", Short: "The connection tracking map"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List connection tracking entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := o.client().BPFCT(cmd.Context())
			if err != nil {
				return fmt.Errorf("list conntrack map: %w", err)
			}
			if es == nil {
				es = []api.BPFCTEntry{}
			}
			if o.json() {
				return writeJSON(o.stdout, es)
			}
			return RenderCT(o.stdout, es)
		},
	})
	return cmd
}

// RenderBPFPolicy prints `nori bpf policy list` like `cilium bpf policy
// get`: one row per entry, the peer's labels one per line, sorted by
// endpoint, direction, verdict (denies first) and peer.
func RenderBPFPolicy(w io.Writer, es []api.BPFPolicyEntry) error {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b api.BPFPolicyEntry) int {
		return cmp.Or(cmp.Compare(a.EndpointID, b.EndpointID), cmp.Compare(a.Direction, b.Direction),
			cmp.Compare(b.Verdict, a.Verdict), cmp.Compare(a.Identity, b.Identity),
			cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	t := newTable(w)
	row(t, "ENDPOINT", "DIRECTION", "POLICY", "IDENTITY", "LABELS (source:key[=value])", "PORT/PROTO", "PROXY PORT", "RULE", "PACKETS")
	for _, e := range es {
		verdict := strings.ToUpper(e.Verdict[:min(1, len(e.Verdict))]) + e.Verdict[min(1, len(e.Verdict)):]
		if e.Redirect {
			verdict += " (proxy)"
		}
		identity, labels := "ANY", []string{"reserved:unknown"}
		if e.Identity != 0 {
			identity, labels = strconv.FormatUint(uint64(e.Identity), 10), sortedLabels(e.IdentityLabels)
		}
		proxy, rule := "-", "-"
		if e.ProxyPort != 0 {
			proxy = strconv.Itoa(int(e.ProxyPort))
		}
		if e.RuleID != 0 {
			rule = strconv.FormatUint(uint64(e.RuleID), 10)
		}
		cells := []string{strconv.Itoa(int(e.EndpointID)), e.Direction, verdict, identity, "",
			portProto(e), proxy, rule, strconv.FormatUint(e.Packets, 10)}
		multiRow(t, cells, 4, labels)
	}
	return t.Flush()
}

// portProto prints an entry's ports as cilium does: 80/TCP, 8000-8080/UDP,
// ANY/TCP (every port of one protocol) or ANY.
func portProto(e api.BPFPolicyEntry) string {
	lo, hi := e.Port, e.EndPort
	if e.PortPrefix > 0 && e.PortPrefix <= 16 {
		hi = lo | uint16(1<<(16-e.PortPrefix)-1)
	}
	hi = max(hi, lo)
	proto := strings.ToUpper(e.Proto)
	anyPort := lo == 0 && (hi == 0 || hi == 65535)
	switch {
	case anyPort && (proto == "ANY" || proto == ""):
		return "ANY"
	case anyPort:
		return "ANY/" + proto
	case proto == "" || proto == "ANY":
		proto = "ANY"
	}
	if lo == hi {
		return fmt.Sprintf("%d/%s", lo, proto)
	}
	return fmt.Sprintf("%d-%d/%s", lo, hi, proto)
}

// RenderCT prints `nori bpf ct list`, forward entries before their
// replies, in the agent's order otherwise.
func RenderCT(w io.Writer, es []api.BPFCTEntry) error {
	t := newTable(w)
	row(t, "PROTO", "SOURCE", "DESTINATION", "DIRECTION", "IDENTITY", "ENDPOINT", "EXPIRES", "FLAGS")
	for _, e := range es {
		dir := "original"
		if e.Reply {
			dir = "reply"
		}
		ep := "-"
		if e.EndpointID != 0 {
			ep = strconv.Itoa(int(e.EndpointID))
		}
		row(t, strings.ToUpper(e.Proto), e.Src, e.Dst, dir, fmt.Sprintf("%d->%d", e.SrcIdentity, e.DstIdentity),
			ep, fmt.Sprintf("%ds", e.ExpiresSeconds), orDash(e.Flags))
	}
	return t.Flush()
}
