// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newIdentityCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "identity",
		Aliases: []string{"identities", "id"},
		Short:   "Inspect security identities",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List identities and their labels",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids, err := o.client().Identities(cmd.Context())
			if err != nil {
				return fmt.Errorf("list identities: %w", err)
			}
			if ids == nil {
				ids = []api.Identity{}
			}
			if o.json() {
				return writeJSON(o.stdout, ids)
			}
			return RenderIdentities(o.stdout, ids)
		},
	})
	return cmd
}

// RenderIdentities prints the `nori identity list` table, one label per
// line.
func RenderIdentities(w io.Writer, ids []api.Identity) error {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b api.Identity) int { return cmp.Compare(a.ID, b.ID) })
	t := newTable(w)
	row(t, "ID", "LABELS")
	for _, id := range ids {
		multiRow(t, []string{strconv.FormatUint(uint64(id.ID), 10), ""}, 1, sortedLabels(id.Labels))
	}
	return t.Flush()
}
