// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/identity"
	"github.com/nori-net/nori/agent/monitor"
	"github.com/nori-net/nori/agent/policy"
	"github.com/nori-net/nori/agent/policyengine"
	"github.com/nori-net/nori/agent/policystore"
)

// ctGCInterval is how often expired conntrack entries are deleted. The
// datapath already treats them as absent; the sweep only keeps the LRU
// map from filling with them.
const ctGCInterval = 30 * time.Second

// startPolicy loads the rules and identities and builds the policy engine,
// before any endpoint is restored, so restored endpoints are computed
// against the current rules right away.
func (d *Daemon) startPolicy(ctx context.Context) error {
	mode, err := policy.ParseMode(d.cfg.EnablePolicy)
	if err != nil {
		return fmt.Errorf("--enable-policy: %w", err)
	}
	d.policyStore = policystore.New(d.store, d.log)
	var rules []policy.Rule
	var rev uint64
	if d.resumed == nil {
		lctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if rules, rev, err = d.policyStore.Load(lctx); err != nil {
			return fmt.Errorf("load policy rules: %w", err)
		}
	}
	d.proxy = d.newProxy()
	d.policy, err = policyengine.New(policyengine.Config{
		Mode:     mode,
		Datapath: d.dp,
		Proxy:    d.proxy,
		SetFlags: d.epDatapath.setFlags,
		Logger:   d.log,
	})
	if err != nil {
		return err
	}
	if err := d.policy.LoadPinned(); err != nil {
		d.log.Warn("policy entries of the previous run", "err", err)
	}
	if d.resumed == nil {
		d.policy.SetRules(rules, rev)
	} // else the pinned policy stays until the store's watch delivers the rules
	d.policy.SetIdentities(d.ids.labelMap())
	d.epDatapath.policy = d.policy
	d.epDatapath.proxy = d.proxy
	return nil
}

// runPolicy follows rules and identities in the store, recomputes the
// endpoints' policy on every change and sweeps conntrack, until ctx ends.
func (d *Daemon) runPolicy(ctx context.Context) {
	d.policy.SweepPinned()
	go d.policy.Run(ctx)
	go d.policyStore.Watch(ctx, d.policy.SetRules)
	go d.ids.a.Watch(ctx, func(all []identity.Identity) { d.policy.SetIdentities(labelMap(all)) })
	go func() {
		t := time.NewTicker(ctGCInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, err := d.dp.GCConntrack(); err != nil {
				d.log.Warn("conntrack garbage collection", "err", err)
			} else if n > 0 {
				d.log.Debug("conntrack garbage collection", "deleted", n)
			}
		}
	}()
}

// policyConfigFlags are the node config flags of the enforcement mode:
// with "never", conntrack and policy stay out of the packet path.
func (d *Daemon) policyConfigFlags() uint32 {
	if d.cfg.EnablePolicy == string(policy.ModeNever) {
		return 0
	}
	return datapath.ConfigPolicy
}

func (d *Daemon) policyImport(ctx context.Context, rules []policy.Rule, replace bool) (api.PolicyRevision, error) {
	rev, err := d.policyStore.Import(ctx, rules, replace)
	if err != nil {
		return api.PolicyRevision{}, storeErr("import policy", err)
	}
	return api.PolicyRevision{Revision: rev, Changed: len(rules)}, nil
}

func (d *Daemon) policyGet(_ context.Context, labels []string) (uint64, []policy.Rule, error) {
	sel, err := policy.ParseLabels(labels)
	if err != nil {
		return 0, nil, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	rules, rev := d.policy.Rules(sel)
	return rev, rules, nil
}

func (d *Daemon) policyDelete(ctx context.Context, labels []string, all bool) (api.PolicyRevision, error) {
	rev, deleted, err := d.policyStore.Delete(ctx, labels, all)
	if err != nil {
		return api.PolicyRevision{}, storeErr("delete policy", err)
	}
	return api.PolicyRevision{Revision: rev, Changed: deleted}, nil
}

func (d *Daemon) policyTrace(_ context.Context, req api.PolicyTraceRequest) (*api.PolicyTrace, error) {
	proto, err := req.ProtoNumber()
	if err != nil {
		return nil, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	res, err := d.policy.Trace(req.Src, req.Dst, proto, req.DPort)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	return &api.PolicyTrace{Verdict: res.Verdict.String(), Lines: res.Lines}, nil
}

// storeErr marks store failures as retryable and keeps validation errors
// (a *policy.FieldError, a bad label) as invalid requests.
func storeErr(what string, err error) error {
	var fe *policy.FieldError
	if errors.As(err, &fe) {
		return &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	return &api.Error{Code: api.CodeNotReady, Message: what + ": " + err.Error()}
}

// monitorEnricher gives monitor events their labels and endpoint names.
type monitorEnricher struct{ d *Daemon }

func (m monitorEnricher) IdentityLabels(id uint32) []string {
	if ls, ok := m.d.policy.IdentityLabels(id); ok {
		return ls
	}
	if i, ok := m.d.ids.a.Lookup(id); ok {
		return i.API().Labels
	}
	return nil
}

func (m monitorEnricher) Endpoint(id uint16) (string, bool) {
	ep, err := m.d.eps.Get(id)
	if err != nil {
		return "", false
	}
	return ep.Name, true
}

func (m monitorEnricher) RuleLabels(id uint32) []string { return m.d.policy.RuleLabels(id) }

// startMonitor reads the datapath's ring buffer for `nori monitor`. The
// costly event kinds (per-packet traces, per-flow verdicts) are switched
// on in the datapath only while someone listens for them.
func (d *Daemon) startMonitor(ctx context.Context) error {
	rd, err := d.dp.EventReader()
	if err != nil {
		return fmt.Errorf("open event ring buffer: %w", err)
	}
	d.hub = monitor.NewHub(monitor.Config{
		Reader:               monitor.RingbufReader(rd),
		Enricher:             monitorEnricher{d},
		NodeName:             d.cfg.NodeName,
		OnSubscribersChanged: func(int) { d.updateEventFlags() },
		Logger:               d.log,
	})
	d.l7Hub.Store(d.hub)
	go func() {
		if err := d.hub.Run(ctx); err != nil {
			d.log.Error("monitor stopped", "err", err)
		}
	}()
	return nil
}

// updateEventFlags turns the datapath's optional events on or off.
func (d *Daemon) updateEventFlags() {
	var want uint32
	if d.hub.Subscribers(api.MonitorTrace) > 0 {
		want |= datapath.ConfigTrace
	}
	if d.hub.Subscribers(api.MonitorPolicyVerdict) > 0 {
		want |= datapath.ConfigPolicyVerdicts
	}
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	nc, err := d.dp.Config()
	if err != nil {
		d.log.Warn("read datapath config", "err", err)
		return
	}
	nc.Flags = nc.Flags&^(datapath.ConfigTrace|datapath.ConfigPolicyVerdicts) | want
	if err := d.dp.SetConfig(nc); err != nil {
		d.log.Warn("write datapath config", "err", err)
	}
}
