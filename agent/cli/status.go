// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newStatusCommand(o *options) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's health",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := o.client().Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("get status: %w", err)
			}
			if o.json() {
				return writeJSON(o.stdout, s)
			}
			return RenderStatus(o.stdout, s, verbose, time.Now())
		},
	}
	cmd.Flags().BoolVar(&verbose, "verbose", false, "list every controller")
	return cmd
}

// statusLabelWidth lines values up the way `cilium status` does.
const statusLabelWidth = 25

// RenderStatus prints the status lines of `nori status`; now dates the
// controllers' last runs.
func RenderStatus(w io.Writer, s *api.Status, verbose bool, now time.Time) error {
	line := func(label, value string) {
		fmt.Fprintf(w, "%-*s%s\n", statusLabelWidth, label+":", value)
	}
	if s.NodeName != "" {
		node := s.NodeName
		if s.ClusterName != "" {
			node += " (cluster " + s.ClusterName + ")"
		}
		line("Node", node)
	}
	line("KVStore", component(s.KVStore))
	if s.ClusterSync != nil {
		line("Cluster sync", component(*s.ClusterSync))
	}
	line("Datapath", component(s.Datapath))
	if s.Version != "" {
		v := s.Version
		if s.Uptime != "" {
			v += ", up " + s.Uptime
		}
		line("Nori", "Ok   "+v)
	}
	ipam := fmt.Sprintf("IPv4: %d/%d allocated", s.IPAM.Allocated, s.IPAM.Capacity)
	if s.IPAM.CIDR != "" {
		ipam += " from " + s.IPAM.CIDR
	}
	if s.IPAM.Router != "" {
		ipam += ", router " + s.IPAM.Router
	}
	line("IPAM", ipam)
	line("Endpoints", fmt.Sprint(s.Endpoints))
	line("Identities", fmt.Sprint(s.Identities))
	line("Tunnel", orDash(s.Tunnel))
	line("Masquerading", component(s.Masquerade))
	pol := orDash(s.Policy)
	if s.Policy != "" {
		pol += fmt.Sprintf(", revision %d, %d rules", s.PolicyRevision, s.PolicyRules)
	}
	line("Policy enforcement", pol)
	if s.Proxy != nil {
		line("Proxy Status", proxyLine(s.Proxy, verbose))
	}
	if s.ClusterHealth != nil {
		line("Cluster health", health(*s.ClusterHealth))
	}
	if verbose && s.Propagation != nil {
		p := s.Propagation
		line("IPCache propagation", fmt.Sprintf("p50 %sms, p99 %sms, max %sms over the last %d remote endpoints", ms(p.P50Ms), ms(p.P99Ms), ms(p.MaxMs), p.Samples))
	}
	if len(s.Controllers) == 0 {
		return nil
	}
	healthy := 0
	for _, c := range s.Controllers {
		if c.LastError == "" {
			healthy++
		}
	}
	line("Controller Status", fmt.Sprintf("%d/%d healthy", healthy, len(s.Controllers)))
	if !verbose {
		return nil
	}
	t := newTable(w)
	row(t, "  Name", "Last run", "Last error")
	for _, c := range s.Controllers {
		lastErr := c.LastError
		if lastErr == "" {
			lastErr = "no error"
		}
		row(t, "  "+c.Name, ago(c.LastRun, now), lastErr)
	}
	return t.Flush()
}

func component(c api.ComponentStatus) string {
	state := c.State
	if state == "" {
		state = "Unknown"
	}
	if c.Message == "" {
		return state
	}
	return state + "   " + c.Message
}

// health prints the cluster health as cilium does ("3/3 reachable"),
// with the state only when something is wrong.
func health(c api.ComponentStatus) string {
	if c.State == "Ok" {
		return c.Message
	}
	return component(c)
}

func ms(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ago prints how long ago t was, rounded like cilium ("3s ago").
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		d = d.Round(time.Second)
	default:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s") + " ago"
	}
	return d.String() + " ago"
}

// proxyLine is the value of the Proxy Status line, in cilium's words.
func proxyLine(p *api.ProxyStatus, verbose bool) string {
	if p.State != "OK" {
		return p.State + "   " + p.Message
	}
	v := fmt.Sprintf("OK, %d redirects active", p.Redirects)
	if len(p.Ports) > 0 {
		ports := make([]string, len(p.Ports))
		for i, port := range p.Ports {
			ports[i] = fmt.Sprint(port)
		}
		v += " on ports " + strings.Join(ports, ",")
	}
	if p.NetnsListeners > 0 {
		v += fmt.Sprintf(", %d in containers", p.NetnsListeners)
	}
	if verbose {
		v += fmt.Sprintf("; requests: %d forwarded, %d denied, %d failed", p.Forwarded, p.Denied, p.Failed)
	}
	return v
}
