// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newNodeCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "node",
		Aliases: []string{"nodes"},
		Short:   "Inspect the cluster's nodes",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List nodes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nodes, err := o.client().Nodes(cmd.Context())
			if err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			if nodes == nil {
				nodes = []api.Node{}
			}
			if o.json() {
				return writeJSON(o.stdout, nodes)
			}
			return RenderNodes(o.stdout, nodes)
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a node that is gone for good, freeing its CIDR",
		Long: "Remove a node from the cluster state: its node entry and its CIDR claim, so the CIDR\n" +
			"may go to another host. A node whose agent still runs registers again when it restarts.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.client().NodeDelete(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete node %s: %w", args[0], err)
			}
			if o.json() {
				return writeJSON(o.stdout, api.NodeDeleteRequest{Name: args[0]})
			}
			_, err := fmt.Fprintf(o.stdout, "Deleted node %s\n", args[0])
			return err
		},
	})
	return cmd
}

// RenderNodes prints the `nori node list` table.
func RenderNodes(w io.Writer, nodes []api.Node) error {
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b api.Node) int { return strings.Compare(a.Name, b.Name) })
	t := newTable(w)
	row(t, "Name", "IPv4 Address", "Endpoint CIDR", "Health")
	for _, n := range nodes {
		row(t, n.Name, n.IPv4, n.IPv4CIDR, orDash(n.Health))
	}
	return t.Flush()
}
