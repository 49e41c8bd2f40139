// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newBPFCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bpf",
		Short: "Inspect the datapath's BPF maps",
	}
	ipcache := &cobra.Command{Use: "ipcache", Short: "The ipcache map: address prefix → identity, tunnel endpoint"}
	ipcache.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List ipcache entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := o.client().BPFIPCache(cmd.Context())
			if err != nil {
				return fmt.Errorf("list ipcache: %w", err)
			}
			if es == nil {
				es = []api.BPFIPCacheEntry{}
			}
			if o.json() {
				return writeJSON(o.stdout, es)
			}
			return RenderIPCache(o.stdout, es)
		},
	})
	tunnel := &cobra.Command{Use: "tunnel", Short: "The tunnel map: node CIDR → node address"}
	tunnel.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List tunnel entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := o.client().BPFTunnel(cmd.Context())
			if err != nil {
				return fmt.Errorf("list tunnels: %w", err)
			}
			if es == nil {
				es = []api.BPFTunnelEntry{}
			}
			if o.json() {
				return writeJSON(o.stdout, es)
			}
			return RenderTunnels(o.stdout, es)
		},
	})
	metrics := &cobra.Command{Use: "metrics", Short: "Packet and byte counters by verdict reason (drops per reason)"}
	metrics.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the datapath's counters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := o.client().BPFMetrics(cmd.Context())
			if err != nil {
				return fmt.Errorf("list metrics: %w", err)
			}
			if es == nil {
				es = []api.BPFMetric{}
			}
			if o.json() {
				return writeJSON(o.stdout, es)
			}
			return RenderMetrics(o.stdout, es)
		},
	})
	cmd.AddCommand(ipcache, tunnel, newBPFPolicyCommand(o), newBPFCTCommand(o), metrics)
	return cmd
}

// RenderMetrics prints `nori bpf metrics list` like `cilium bpf metrics
// list`: one row per reason and direction.
func RenderMetrics(w io.Writer, es []api.BPFMetric) error {
	t := newTable(w)
	row(t, "REASON", "DIRECTION", "PACKETS", "BYTES")
	for _, e := range es {
		row(t, e.Reason, e.Direction, fmt.Sprint(e.Packets), fmt.Sprint(e.Bytes))
	}
	return t.Flush()
}

// RenderIPCache prints `nori bpf ipcache list` the way `cilium bpf ipcache
// list` does, in the agent's order (by prefix).
func RenderIPCache(w io.Writer, es []api.BPFIPCacheEntry) error {
	t := newTable(w)
	row(t, "IP PREFIX/ADDRESS", "IDENTITY")
	for _, e := range es {
		tep := e.TunnelEndpoint
		if tep == "" {
			tep = "0.0.0.0"
		}
		flags := strings.Join(e.Flags, ",")
		if flags == "" {
			flags = "<none>"
		}
		row(t, e.Prefix, fmt.Sprintf("identity=%d tunnelendpoint=%s flags=%s", e.Identity, tep, flags))
	}
	return t.Flush()
}

// RenderTunnels prints `nori bpf tunnel list`.
func RenderTunnels(w io.Writer, es []api.BPFTunnelEntry) error {
	t := newTable(w)
	row(t, "PREFIX", "TUNNEL ENDPOINT")
	for _, e := range es {
		row(t, e.Prefix, e.TunnelEndpoint)
	}
	return t.Flush()
}
