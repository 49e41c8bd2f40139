// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/spf13/cobra"
)

func newMonitorCommand(o *options) *cobra.Command {
	var types []string
	cmd := &cobra.Command{
		Use:   "monitor",
		Short: "Print datapath and proxy events as they happen, until interrupted",
		Long: "Print datapath and proxy events as they happen, one line each, until interrupted.\n" +
			"Event types: " + strings.Join(api.MonitorTypes, ", ") + " (all when --type is not given).\n" +
			"With -o json every event is one JSON object per line.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, t := range types {
				if !api.ValidMonitorType(t) {
					return fmt.Errorf("unknown event type %q: use %s", t, strings.Join(api.MonitorTypes, ", "))
				}
			}
			enc := json.NewEncoder(o.stdout)
			if !o.json() {
				what := "all events"
				if len(types) > 0 {
					what = strings.Join(types, ", ") + " events"
				}
				fmt.Fprintf(o.stdout, "Listening for %s. Press Ctrl-C to quit\n", what)
			}
			err := o.client().Monitor(cmd.Context(), types, func(ev api.MonitorEvent) error {
				if o.json() {
					return enc.Encode(ev)
				}
				return RenderMonitorEvent(o.stdout, ev, time.Local)
			})
			if err != nil {
				return fmt.Errorf("monitor: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&types, "type", "t", nil, "event type to show: "+strings.Join(api.MonitorTypes, "|")+" (repeatable)")
	return cmd
}

// dropReasons are the wordings `cilium monitor` users know.
var dropReasons = map[string]string{
	"drop-policy":      "Policy denied",
	"drop-policy-deny": "Policy denied by denylist",
	"drop-invalid":     "Invalid packet",
	"drop-ttl":         "TTL exceeded",
	"drop-no-tunnel":   "No tunnel endpoint",
	"drop-redirect":    "Redirect failed",
	"drop-spoof":       "Invalid source address",
	"drop-tunnel-key":  "Invalid tunnel key",
}

// RenderMonitorEvent prints one event as one line, stamped in loc:
//
//	12:00:00.000 drop (Policy denied) ingress to endpoint 12 (web), identity 260 [container:app=client] -> 261 [container:app=web]: 10.0.1.2:40000 -> 10.0.1.3:80 tcp
func RenderMonitorEvent(w io.Writer, ev api.MonitorEvent, loc *time.Location) error {
	var b strings.Builder
	b.WriteString(ev.Time.In(loc).Format("15:04:05.000"))
	b.WriteString(" ")
	switch ev.Type {
	case api.MonitorLost:
		fmt.Fprintf(&b, "lost %d events: this monitor read too slowly", ev.Lost)
		_, err := fmt.Fprintln(w, b.String())
		return err
	case api.MonitorDrop:
		reason := dropReasons[ev.Reason]
		if reason == "" {
			reason = ev.Reason
		}
		fmt.Fprintf(&b, "drop (%s)", reason)
	case api.MonitorTrace:
		fmt.Fprintf(&b, "trace (%s)", ev.Reason)
	default:
		b.WriteString(ev.Type)
		if ev.Verdict != "" {
			b.WriteString(" " + ev.Verdict)
		}
	}
	if ev.Direction != "" {
		b.WriteString(" " + ev.Direction)
	}
	if ev.EndpointID != 0 {
		side := "from"
		if ev.Direction == "ingress" {
			side = "to"
		}
		fmt.Fprintf(&b, " %s endpoint %d", side, ev.EndpointID)
		if ev.EndpointName != "" {
			fmt.Fprintf(&b, " (%s)", ev.EndpointName)
		}
	}
	if ev.SrcIdentity != 0 || ev.DstIdentity != 0 {
		fmt.Fprintf(&b, ", identity %s -> %s", identityWithLabels(ev.SrcIdentity, ev.SrcLabels),
			identityWithLabels(ev.DstIdentity, ev.DstLabels))
	}
	if len(ev.Rule) > 0 {
		fmt.Fprintf(&b, ", rule [%s]", strings.Join(ev.Rule, " "))
	} else if ev.RuleID != 0 {
		fmt.Fprintf(&b, ", rule %d", ev.RuleID)
	}
	if ev.ProxyPort != 0 {
		fmt.Fprintf(&b, ", proxy port %d", ev.ProxyPort)
	}
	if ev.TunnelEndpoint != "" {
		fmt.Fprintf(&b, ", tunnel %s", ev.TunnelEndpoint)
	}
	if ev.Src != "" || ev.Dst != "" {
		fmt.Fprintf(&b, ": %s -> %s", orDash(ev.Src), orDash(ev.Dst))
	}
	if ev.Proto != "" && ev.Proto != "any" {
		b.WriteString(" " + ev.Proto)
	}
	if h := ev.HTTP; h != nil {
		fmt.Fprintf(&b, " http %s %s%s", orDash(h.Method), h.Host, h.Path)
		if h.Status != 0 {
			fmt.Fprintf(&b, " => %d (%.1fms)", h.Status, h.LatencyMs)
		}
		if h.RequestID != "" {
			fmt.Fprintf(&b, " request-id %s", h.RequestID)
		}
	}
	_, err := fmt.Fprintln(w, b.String())
	return err
}

// identityWithLabels prints "260 [container:app=web]", or "?" when the
// datapath did not know the identity.
func identityWithLabels(id uint32, labels []string) string {
	if id == 0 {
		return "?"
	}
	s := fmt.Sprint(id)
	if len(labels) > 0 {
		s += " [" + strings.Join(slices.Sorted(slices.Values(labels)), " ") + "]"
	}
	return s
}
