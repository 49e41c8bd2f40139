// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"net/netip"
	"strings"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/hostnet"
	"github.com/nori-net/nori/agent/policymap"
	"github.com/nori-net/nori/agent/proxy"
	"github.com/nori-net/nori/agent/proxylistener"
)

// newProxy builds the L7/TLS proxy the policy engine starts listeners
// of. Its requests become l7 monitor events once the hub runs.
func (d *Daemon) newProxy() *proxylistener.Manager {
	return proxylistener.New(proxylistener.Config{
		Datapath:    d.dp,
		Certs:       proxy.NewCertStore(d.cfg.CertificatesDir, d.log),
		ImpliesMTLS: d.cfg.TLSCAImpliesMTLS,
		OnRecord:    d.publishL7,
		Logger:      d.log,
	})
}

// publishL7 reports one proxied request to `nori monitor --type l7`.
func (d *Daemon) publishL7(r proxylistener.Record) {
	hub := d.l7Hub.Load()
	if hub == nil || hub.Subscribers(api.MonitorL7) == 0 {
		return
	}
	dir := datapath.DirIngress
	if r.Dir == policymap.DirEgress {
		dir = datapath.DirEgress
	}
	verdict := "allow"
	switch r.Verdict {
	case proxy.VerdictDenied:
		verdict = "deny"
	case proxy.VerdictError:
		verdict = "error"
	}
	hub.Publish(api.MonitorEvent{
		Time:        r.Time,
		Type:        api.MonitorL7,
		Verdict:     verdict,
		Direction:   dir.String(),
		EndpointID:  r.EndpointID,
		SrcIdentity: r.SrcIdentity,
		DstIdentity: r.DstIdentity,
		Src:         addrPortString(r.Source),
		Dst:         addrPortString(r.Destination),
		Proto:       "tcp",
		ProxyPort:   r.Port,
		HTTP: &api.MonitorHTTP{
			Method:    r.Method,
			Host:      r.Host,
			Path:      r.Path,
			Status:    r.Status,
			RequestID: r.RequestID,
			LatencyMs: float64(r.Latency.Microseconds()) / 1000,
		},
	})
}

func addrPortString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}

// proxyStatus is the Proxy Status line of `nori status`.
func (d *Daemon) proxyStatus() *api.ProxyStatus {
	if d.proxy == nil {
		return nil
	}
	st := d.proxy.Status()
	ps := &api.ProxyStatus{
		State:     "OK",
		Redirects: d.policy.Redirects(),
		Ports:     st.Ports,
		Forwarded: st.Forwarded,

		NetnsListeners: st.NetnsListeners,
		Denied:         st.Denied,
		Failed:         st.Failed,
	}
	problems := append(d.policy.ProxyErrors(), st.Problems...)
	// Without the routing, steered packets never reach a listener.
	if err := hostnet.ProxyRoutingActive(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		ps.State, ps.Message = "Failure", strings.Join(problems, "; ")
	}
	return ps
}
