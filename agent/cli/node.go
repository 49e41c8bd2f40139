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
