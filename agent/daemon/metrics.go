// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"fmt"

	"github.com/nori-net/nori/agent/metrics"
)

// startMetrics serves the agent's counters on --prometheus-serve-addr.
func (d *Daemon) startMetrics(ctx context.Context) error {
	if d.cfg.PrometheusAddr == "" {
		return nil
	}
	if _, err := metrics.Serve(ctx, d.cfg.PrometheusAddr, d.metricFamilies, d.log); err != nil {
		return fmt.Errorf("--prometheus-serve-addr: %w", err)
	}
	return nil
}

// metricFamilies is one scrape: the datapath's per-reason counters and
// the agent's own state.
func (d *Daemon) metricFamilies() []metrics.Family {
	packets := metrics.Family{Name: "nori_datapath_packets_total", Type: metrics.Counter,
		Help: "Packets the eBPF programs handled, by verdict reason and direction (seen from the endpoint)."}
	bytes := metrics.Family{Name: "nori_datapath_bytes_total", Type: metrics.Counter,
		Help: "Bytes the eBPF programs handled, by verdict reason and direction."}
	if m, err := d.dp.Metrics(); err == nil {
		for k, v := range m {
			labels := [][2]string{{"reason", k.Reason.String()}, {"direction", k.Dir.String()}}
			packets.Samples = append(packets.Samples, metrics.Sample{Labels: labels, Value: float64(v.Packets)})
			bytes.Samples = append(bytes.Samples, metrics.Sample{Labels: labels, Value: float64(v.Bytes)})
		}
	} else {
		d.log.Warn("read datapath metrics", "err", err)
	}
	gauge := func(name, help string, v float64) metrics.Family {
		return metrics.Family{Name: name, Help: help, Type: metrics.Gauge, Samples: []metrics.Sample{{Value: v}}}
	}
	connected := 0.0
	if d.store.Status().Connected {
		connected = 1
	}
	rev, rules := d.policy.Revision()
	fams := []metrics.Family{packets, bytes,
		gauge("nori_endpoints", "Local endpoints.", float64(d.eps.Count())),
		gauge("nori_kvstore_connected", "1 while etcd is reachable.", connected),
		gauge("nori_policy_revision", "Revision of the policy rules in force.", float64(rev)),
		gauge("nori_policy_rules", "Policy rules in force.", float64(rules)),
	}
	if d.proxy != nil {
		st := d.proxy.Status()
		req := metrics.Family{Name: "nori_proxy_requests_total", Type: metrics.Counter,
			Help: "HTTP requests the L7/TLS proxy handled, by outcome (allow: forwarded, deny: 403 by rules.http, error: the upstream failed)."}
		for _, s := range []struct {
			verdict string
			n       uint64
		}{{"allow", st.Forwarded}, {"deny", st.Denied}, {"error", st.Failed}} {
			req.Samples = append(req.Samples, metrics.Sample{Labels: [][2]string{{"verdict", s.verdict}}, Value: float64(s.n)})
		}
		fams = append(fams, req,
			gauge("nori_proxy_redirects", "Policy map entries that steer flows to the proxy.", float64(d.policy.Redirects())),
			gauge("nori_proxy_listeners", "Proxy listeners on the node, one per distinct L7 setting.", float64(st.Listeners)),
			gauge("nori_proxy_netns_listeners", "Proxy listeners inside containers' netns, one per container and L7 setting.", float64(st.NetnsListeners)))
	}
	return fams
}
