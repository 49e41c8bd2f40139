// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newEndpointCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoint",
		Aliases: []string{"endpoints", "ep"},
		Short:   "Inspect the containers connected to this node",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eps, err := o.client().Endpoints(cmd.Context())
			if err != nil {
				return fmt.Errorf("list endpoints: %w", err)
			}
			if eps == nil {
				eps = []api.Endpoint{}
			}
			if o.json() {
				return writeJSON(o.stdout, eps)
			}
			return RenderEndpoints(o.stdout, eps)
		},
	}, &cobra.Command{
		Use:   "get ID",
		Short: "Show one endpoint",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 16)
			if err != nil {
				return fmt.Errorf("parse endpoint ID %q: want a number from 0 to 65535", args[0])
			}
			ep, err := o.client().Endpoint(cmd.Context(), uint16(id))
			if err != nil {
				return fmt.Errorf("get endpoint %d: %w", id, err)
			}
			if o.json() {
				return writeJSON(o.stdout, ep)
			}
			return RenderEndpoint(o.stdout, ep)
		},
	})
	return cmd
}

// RenderEndpoints prints the `nori endpoint list` table: cilium's columns,
// one label per line, plus the container's name.
func RenderEndpoints(w io.Writer, eps []api.Endpoint) error {
	eps = slices.Clone(eps)
	slices.SortFunc(eps, func(a, b api.Endpoint) int { return int(a.ID) - int(b.ID) })
	t := newTable(w)
	row(t, "ENDPOINT", "POLICY (ingress)", "POLICY (egress)", "IDENTITY", "LABELS (source:key[=value])", "IPv4", "NAME/CONTAINER", "STATUS")
	row(t, "", "ENFORCEMENT", "ENFORCEMENT", "", "", "", "", "")
	for _, ep := range eps {
		cells := []string{
			strconv.Itoa(int(ep.ID)),
			enabled(ep.PolicyIngress),
			enabled(ep.PolicyEgress),
			strconv.FormatUint(uint64(ep.Identity), 10),
			"",
			ep.IPv4,
			containerName(ep),
			ep.State,
		}
		multiRow(t, cells, 4, sortedLabels(ep.Labels))
	}
	return t.Flush()
}

// RenderEndpoint prints one endpoint as `name: value` lines.
func RenderEndpoint(w io.Writer, ep *api.Endpoint) error {
	t := newTable(w)
	row(t, "ID:", strconv.Itoa(int(ep.ID)))
	row(t, "Container ID:", ep.ContainerID)
	row(t, "Name:", orDash(ep.Name))
	row(t, "Runtime:", orDash(ep.Runtime))
	row(t, "Network:", orDash(ep.Network))
	row(t, "State:", ep.State)
	row(t, "Identity:", strconv.FormatUint(uint64(ep.Identity), 10))
	multiRow(t, []string{"Labels:", "-"}, 1, sortedLabels(ep.Labels))
	row(t, "IPv4:", ep.IPv4)
	row(t, "Interface:", fmt.Sprintf("%s (host side %s, ifindex %d, MAC %s)", ep.IfName, ep.HostIfName, ep.HostIfIndex, ep.MAC))
	if ep.Netns != "" {
		row(t, "Netns:", ep.Netns)
	}
	row(t, "Policy enforcement:", fmt.Sprintf("ingress %s, egress %s", enabled(ep.PolicyIngress), enabled(ep.PolicyEgress)))
	if ep.PolicyRevision != 0 {
		row(t, "Policy revision:", strconv.FormatUint(ep.PolicyRevision, 10))
	}
	ports := make([]string, 0, len(ep.PortMappings))
	for _, p := range ep.PortMappings {
		host := strconv.Itoa(p.HostPort)
		if p.HostIP != "" {
			host = p.HostIP + ":" + host
		}
		ports = append(ports, fmt.Sprintf("%s->%d/%s", host, p.ContainerPort, strings.ToLower(p.Protocol)))
	}
	if len(ports) > 0 {
		multiRow(t, []string{"Port mappings:", ""}, 1, ports)
	}
	if !ep.Created.IsZero() {
		row(t, "Created:", ep.Created.UTC().Format(time.RFC3339))
	}
	keys := make([]string, 0, len(ep.Extra))
	for k := range ep.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		row(t, k+":", ep.Extra[k])
	}
	return t.Flush()
}

// containerName is the runtime's name, else the short container ID.
func containerName(ep api.Endpoint) string {
	if ep.Name != "" {
		return ep.Name
	}
	return shortID(ep.ContainerID)
}

// shortID shortens a container ID the way runtimes print it: 12 hex
// digits, without nerdctl's `<namespace>-` prefix.
func shortID(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 && len(id)-i-1 >= 12 {
		id = id[i+1:]
	}
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func sortedLabels(l []string) []string {
	l = slices.Clone(l)
	slices.Sort(l)
	return l
}
