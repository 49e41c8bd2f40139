// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/policy"
)

// initLabels is the subject of an endpoint whose labels are not known
// yet: Resolve enforces reserved:init in both directions.
var initLabels = []string{"reserved:init"}

// computeLocked resolves the policy of the given endpoints and writes the
// difference to the datapath. caller is the endpoint whose flags the
// caller of Endpoint writes itself (0 = none).
func (e *Engine) computeLocked(epIDs []uint16, caller uint16) error {
	full := len(epIDs) == len(e.endpoints)
	pols, err := e.resolveLocked(epIDs)
	if err != nil {
		return err
	}
	// CIDR peers need identities before keys can name them. A new prefix
	// also changes what the world entity selects, so resolve once more
	// with it known.
	prefixes := cidrPeers(pols)
	added := e.cidrs.add(prefixes)
	if len(added) > 0 {
		if pols, err = e.resolveLocked(epIDs); err != nil {
			return err
		}
	}
	var errs []error
	e.proxyErrs = nil
	for _, p := range added {
		id, _ := e.cidrs.idOf(p)
		if err := e.cfg.Datapath.UpsertIPCache(datapath.IPCacheEntry{Prefix: p, Identity: id}); err != nil {
			errs = append(errs, fmt.Errorf("publish CIDR identity %d for %s: %w", id, p, err))
		}
	}
	for _, id := range epIDs {
		changed, err := e.applyLocked(id, pols[id], id == caller)
		if err != nil {
			errs = append(errs, err)
		}
		if changed {
			e.flagsDue = append(e.flagsDue, id)
		}
	}
	// Prefixes no rule names any more go only after a full pass: a
	// single endpoint's view cannot tell.
	if full {
		for _, p := range e.cidrs.retain(prefixes) {
			if err := e.cfg.Datapath.DeleteIPCache(p); err != nil {
				errs = append(errs, fmt.Errorf("remove CIDR identity for %s: %w", p, err))
			}
		}
		if !e.cidrSwept {
			errs = append(errs, e.sweepCIDRLocked())
			e.cidrSwept = true
		}
	}
	e.retainProxyLocked()
	e.proxyFailed = dedupErrs(e.proxyErrs)
	e.proxyErrs = nil
	return errors.Join(errs...)
}

// dedupErrs keeps one of each message: every key of a redirect fails the
// same way.
func dedupErrs(in []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, err := range in {
		if !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return out
}

// sweepCIDRLocked removes CIDR identities a previous agent run left in the
// pinned ipcache for prefixes no rule names any more.
func (e *Engine) sweepCIDRLocked() error {
	entries, err := e.cfg.Datapath.ListIPCache()
	if err != nil {
		return fmt.Errorf("list ipcache: %w", err)
	}
	var errs []error
	for _, en := range entries {
		if en.Identity < LocalIdentityBase {
			continue
		}
		if _, ok := e.cidrs.idOf(en.Prefix); ok {
			continue
		}
		if err := e.cfg.Datapath.DeleteIPCache(en.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("remove stale CIDR identity for %s: %w", en.Prefix, err))
		}
	}
	return errors.Join(errs...)
}

// resolveLocked computes the EndpointPolicy of each endpoint, once per
// distinct identity.
func (e *Engine) resolveLocked(epIDs []uint16) (map[uint16]*policy.EndpointPolicy, error) {
	ids := e.identityListLocked()
	byIdentity := map[uint32]*policy.EndpointPolicy{}
	out := make(map[uint16]*policy.EndpointPolicy, len(epIDs))
	for _, epID := range epIDs {
		ep := e.endpoints[epID]
		if ep == nil {
			continue
		}
		if pol, ok := byIdentity[ep.identity]; ok && ep.identity != 0 {
			out[epID] = pol
			continue
		}
		pol, err := policy.Resolve(e.repo, e.subjectLocked(ep), e.cfg.Mode, ids)
		if err != nil {
			return nil, fmt.Errorf("resolve policy of endpoint %d: %w", epID, err)
		}
		byIdentity[ep.identity] = pol
		out[epID] = pol
	}
	return out, nil
}

// subjectLocked is the label set an endpoint's policy is computed for.
func (e *Engine) subjectLocked(ep *localEndpoint) []string {
	if ep.identity == policy.IDInit || ep.identity == 0 {
		return initLabels
	}
	if ls, ok := e.ids[ep.identity]; ok {
		return ls
	}
	return ep.labels
}

// applyLocked writes one endpoint's new and changed keys, and deletes the
// keys it no longer wants unless its enforcement flags changed: then the
// deletions wait until the flags are written (flushDeletesLocked), so a
// direction that stops being enforced never runs on a half-emptied set.
// It reports whether the flags changed.
func (e *Engine) applyLocked(epID uint16, pol *policy.EndpointPolicy, isCaller bool) (bool, error) {
	ep := e.endpoints[epID]
	if ep == nil || pol == nil {
		return false, nil
	}
	want, err := endpointKeys(epID, pol, e.cidrs.within, e.proxyPortLocked)
	if err != nil {
		return false, fmt.Errorf("policy map keys of endpoint %d: %w", epID, err)
	}
	// Listeners before the keys that name them.
	proxyNetns := e.proxyNetnsLocked(epID, want)
	var errs []error
	for k, v := range want {
		if old, ok := ep.applied[k]; ok && old == v {
			continue
		}
		if err := e.cfg.Datapath.UpsertPolicy(k, v); err != nil {
			errs = append(errs, fmt.Errorf("write policy of endpoint %d: %w", epID, err))
			continue
		}
		ep.applied[k] = v
	}
	ep.want = want
	ep.status = Status{Ingress: pol.Ingress.Enforced, Egress: pol.Egress.Enforced, Revision: e.rulesRev, Entries: len(want),
		ProxyNetns: proxyNetns}
	changed := !isCaller && flagsOf(ep.status) != ep.flags
	if !changed {
		errs = append(errs, e.flushDeletesLocked(epID))
	}
	return changed, errors.Join(errs...)
}

// flushDeletesLocked deletes the keys an endpoint no longer wants.
func (e *Engine) flushDeletesLocked(epID uint16) error {
	ep := e.endpoints[epID]
	if ep == nil {
		return nil
	}
	var errs []error
	for k := range ep.applied {
		if _, ok := ep.want[k]; ok {
			continue
		}
		if err := e.cfg.Datapath.DeletePolicy(k); err != nil {
			errs = append(errs, fmt.Errorf("delete policy of endpoint %d: %w", epID, err))
			continue
		}
		delete(ep.applied, k)
	}
	return errors.Join(errs...)
}

// cidrPeers collects the prefixes the policies name as peers.
func cidrPeers(pols map[uint16]*policy.EndpointPolicy) map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	for _, pol := range pols {
		for _, dir := range []policy.DirectionPolicy{pol.Ingress, pol.Egress} {
			for _, en := range dir.Entries {
				if en.Peer.IsCIDR() && en.Peer.CIDR.Bits() > 0 {
					out[en.Peer.CIDR.Masked()] = true
				}
			}
		}
	}
	return out
}
