// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/policy"
)

// Datapath is the part of the BPF datapath the engine writes.
type Datapath interface {
	UpsertPolicy(k datapath.PolicyKey, v datapath.PolicyValue) error
	DeletePolicy(k datapath.PolicyKey) error
	ListPolicy() ([]datapath.PolicyEntry, error)
	UpsertIPCache(e datapath.IPCacheEntry) error
	DeleteIPCache(p netip.Prefix) error
	ListIPCache() ([]datapath.IPCacheEntry, error)
}

// Proxy runs the listeners that redirected flows go to (issue 5).
type Proxy interface {
	// Port returns the port of the listener applying l7 (a
	// policymap.Value.L7) to flows in direction dir, starting one if
	// there is none yet.
	Port(dir uint8, l7 string) (uint16, error)
	// Retain stops every listener whose port is not in use, which maps
	// the ports the policy maps still name to their number of keys.
	Retain(use map[uint16]int)
	// InNetns makes listeners inside the endpoint's own netns for the
	// proxy ports of its ingress redirects (exactly these; an empty list
	// stops them) and reports whether all of them serve there. The
	// endpoint's flags then say so (datapath.EndpointProxyNetns), and the
	// datapath hands its redirected flows to those listeners.
	InNetns(epID uint16, ports []uint16) bool
}

// Config configures an Engine.
type Config struct {
	Mode     policy.Mode
	Datapath Datapath
	// Proxy serves the keys that redirect; without one (or when it
	// fails) such keys carry no proxy port and the datapath drops their
	// flows rather than let them skip their L7 rules.
	Proxy Proxy
	// SetFlags is called, without the engine's lock held, when a live
	// endpoint's enforcement flags changed in a background computation.
	// It must write Engine.Flags(epID) to the endpoint's datapath entry
	// under the same lock that serialises the endpoint's other writes.
	// The endpoint being added or updated through Endpoint gets its flags
	// as the return value instead.
	SetFlags func(epID uint16) error
	// Debounce coalesces bursts of changes (many identities appearing at
	// once) into one recomputation; 0 means 20 ms.
	Debounce time.Duration
	Logger   *slog.Logger
}

// Status is one endpoint's enforcement as the API shows it.
type Status struct {
	Ingress, Egress bool
	// Revision is the rule revision the endpoint's policy map entries
	// were computed from.
	Revision uint64
	// Entries is the number of policy map keys of the endpoint.
	Entries int
	// ProxyNetns: the endpoint's ingress redirects go to proxy listeners
	// in its own netns.
	ProxyNetns bool
}

type localEndpoint struct {
	identity uint32
	labels   []string
	applied  map[datapath.PolicyKey]datapath.PolicyValue
	// want is the key set of the last computation; applied keys outside
	// it are deleted once the flags allow.
	want   map[datapath.PolicyKey]datapath.PolicyValue
	status Status
	// flags are the enforcement flags last handed to the datapath.
	flags uint16
}

// Engine computes and writes the policy of the local endpoints. Safe for
// concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	repo      *policy.Repository
	rulesRev  uint64 // etcd revision of the rules, shown to users
	ids       map[uint32][]string
	endpoints map[uint16]*localEndpoint
	cidrs     *cidrIdentities
	cidrSwept bool // stale CIDR entries of an earlier run removed
	// flagsDue lists endpoints whose enforcement flags changed in a
	// background computation and still have to be written.
	flagsDue []uint16
	// synced is set once the rules were loaded: before that, endpoints
	// restored after a restart keep whatever the pinned map holds.
	synced bool
	// pinned holds, per endpoint, the policy map keys found at start
	// (written by the previous agent run) until the endpoint is seen.
	pinned map[uint16]map[datapath.PolicyKey]datapath.PolicyValue
	// proxyErrs collects, during one computation, the redirects no
	// proxy listener serves; proxyFailed keeps them from the last one.
	// Their flows are dropped (fail closed), so they do not fail the
	// computation; the engine retries them in the background.
	proxyErrs, proxyFailed []error

	kick chan struct{}
}

// New returns an engine; Run must be called for background
// recomputation.
func New(cfg Config) (*Engine, error) {
	if _, err := policy.ParseMode(string(cfg.Mode)); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	return &Engine{
		cfg:       cfg,
		log:       cfg.Logger.With("subsys", "policy"),
		repo:      policy.NewRepository(),
		ids:       map[uint32][]string{},
		endpoints: map[uint16]*localEndpoint{},
		cidrs:     newCIDRIdentities(),
		kick:      make(chan struct{}, 1),
	}, nil
}

// Mode returns the enforcement mode.
func (e *Engine) Mode() policy.Mode { return e.cfg.Mode }

// SetRules replaces the rule set (the whole repository as stored in etcd)
// and schedules a recomputation.
func (e *Engine) SetRules(rules []policy.Rule, revision uint64) {
	repo := policy.RepositoryAt(rules, revision)
	e.mu.Lock()
	e.repo, e.rulesRev, e.synced = repo, revision, true
	e.mu.Unlock()
	e.schedule()
}

// SetIdentities replaces the cluster's identities (id → labels; reserved
// ones may be included) and schedules a recomputation.
func (e *Engine) SetIdentities(ids map[uint32][]string) {
	e.mu.Lock()
	e.ids = maps.Clone(ids)
	e.mu.Unlock()
	e.schedule()
}

// Revision returns the revision of the rules in force and their number.
func (e *Engine) Revision() (uint64, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rulesRev, e.repo.Len()
}

// Endpoint adds or updates a local endpoint and writes its policy now. It
// returns the enforcement flags to store with the endpoint. current are
// the flags the endpoint's datapath entry carries now (0 for a new one):
// until the rules are loaded (an agent started while etcd is away) they
// are kept as they are, with the keys the previous run left.
func (e *Engine) Endpoint(epID uint16, identity uint32, labels []string, current uint16) (uint16, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep := e.endpoints[epID]
	if ep == nil {
		ep = &localEndpoint{applied: e.pinned[epID]}
		if ep.applied == nil {
			ep.applied = map[datapath.PolicyKey]datapath.PolicyValue{}
		}
		delete(e.pinned, epID)
		e.endpoints[epID] = ep
	}
	ep.identity, ep.labels = identity, slices.Clone(labels)
	if identity != 0 && len(labels) > 0 {
		if _, ok := e.ids[identity]; !ok {
			// The identity watch may not have delivered it yet; selectors
			// of other endpoints pick it up on the next recomputation.
			e.ids[identity] = slices.Clone(labels)
			e.schedule()
		}
	}
	if !e.synced && e.cfg.Mode != policy.ModeNever {
		// Rules not loaded yet: what the pinned maps enforce stays.
		ep.flags = current
		ep.status = Status{Ingress: current&datapath.EndpointPolicyIngress != 0,
			Egress: current&datapath.EndpointPolicyEgress != 0, Entries: len(ep.applied)}
		return current, nil
	}
	err := e.computeLocked([]uint16{epID}, epID)
	ep.flags = flagsOf(ep.status)
	if len(e.proxyFailed) > 0 {
		e.schedule() // the background computation retries and reports it
	}
	return ep.flags, err
}

// RemoveEndpoint forgets a local endpoint and deletes its policy map keys.
func (e *Engine) RemoveEndpoint(epID uint16) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep := e.endpoints[epID]
	delete(e.endpoints, epID)
	if ep == nil {
		return nil
	}
	var firstErr error
	for k := range ep.applied {
		if err := e.cfg.Datapath.DeletePolicy(k); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("delete policy of endpoint %d: %w", epID, err)
		}
	}
	e.retainProxyLocked()
	return firstErr
}

// Status returns an endpoint's enforcement.
func (e *Engine) Status(epID uint16) (Status, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep, ok := e.endpoints[epID]
	if !ok {
		return Status{}, false
	}
	return ep.status, true
}

// Rules returns the rules carrying every label of sel (all rules for an
// empty sel) and the revision.
func (e *Engine) Rules(sel policy.Labels) ([]policy.Rule, uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rules, _ := e.repo.Get(sel)
	return rules, e.rulesRev
}

// Trace explains the verdict for a flow between two label sets under the
// rules in force.
func (e *Engine) Trace(src, dst []string, proto uint8, port uint16) (policy.TraceResult, error) {
	e.mu.Lock()
	repo, ids := e.repo, e.identityListLocked()
	e.mu.Unlock()
	return policy.Trace(repo, src, dst, proto, port, e.cfg.Mode, ids)
}

// IdentityLabels returns the labels of an identity the engine knows,
// CIDR identities included.
func (e *Engine) IdentityLabels(id uint32) ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.cidrs.prefixOf(id); ok {
		return []string{cidrLabel(p)}, true
	}
	ls, ok := e.ids[id]
	return ls, ok
}

// RuleLabels returns the labels of the rule a policy map entry's RuleID
// names (repository index + 1), for monitor events.
func (e *Engine) RuleLabels(id uint32) []string {
	if id == 0 {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rules, _ := e.repo.Get(nil)
	if int(id) > len(rules) {
		return nil
	}
	return rules[id-1].Labels.Strings()
}

// maxRetryDelay bounds the backoff between recomputations that keep
// failing (a map that stays full, a proxy listener that cannot start).
const maxRetryDelay = 10 * time.Second

// Run recomputes every local endpoint's policy after changes until ctx
// ends. A failed computation is retried, with a delay that doubles up
// to maxRetryDelay while it keeps failing.
func (e *Engine) Run(ctx context.Context) {
	delay := e.cfg.Debounce
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		// Let a burst of changes land first.
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if e.recompute() {
			delay = e.cfg.Debounce
		} else {
			delay = min(2*delay, maxRetryDelay)
		}
	}
}

// recompute runs one background computation of every local endpoint
// and reports whether it succeeded; on failure it schedules a retry.
func (e *Engine) recompute() bool {
	e.mu.Lock()
	if !e.synced && e.cfg.Mode != policy.ModeNever {
		e.mu.Unlock()
		return true
	}
	start := time.Now()
	err := e.computeLocked(slices.Collect(maps.Keys(e.endpoints)), 0)
	due := e.flagsDue
	e.flagsDue = nil
	n, rev := len(e.endpoints), e.rulesRev
	proxyFailed := e.proxyFailed
	e.mu.Unlock()
	ok := err == nil && len(proxyFailed) == 0
	if err != nil {
		e.log.Error("recompute policy", "err", err)
		e.schedule()
	}
	for _, perr := range proxyFailed {
		e.log.Error("policy redirect without a proxy listener; retrying", "err", perr)
		e.schedule()
	}
	for _, id := range due {
		if e.cfg.SetFlags == nil {
			break
		}
		if err := e.cfg.SetFlags(id); err != nil {
			e.log.Error("write enforcement flags", "endpoint", id, "err", err)
			e.schedule()
			ok = false
		}
	}
	if len(due) > 0 {
		e.mu.Lock()
		for _, id := range due {
			if err := e.flushDeletesLocked(id); err != nil {
				e.log.Error("delete policy entries", "endpoint", id, "err", err)
			}
		}
		e.mu.Unlock()
	}
	e.log.Debug("policy recomputed", "endpoints", n, "revision", rev, "took", time.Since(start).Round(time.Microsecond))
	return ok
}

// Flags returns the enforcement flags an endpoint must carry now and
// records them as written; see Config.SetFlags.
func (e *Engine) Flags(epID uint16) uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep := e.endpoints[epID]
	if ep == nil {
		return 0
	}
	ep.flags = flagsOf(ep.status)
	return ep.flags
}

func (e *Engine) schedule() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func flagsOf(s Status) uint16 {
	var f uint16
	if s.Ingress {
		f |= datapath.EndpointPolicyIngress
	}
	if s.Egress {
		f |= datapath.EndpointPolicyEgress
	}
	if s.ProxyNetns {
		f |= datapath.EndpointProxyNetns
	}
	return f
}

// identityListLocked is every identity the engine knows, for Resolve and
// Trace: the cluster's, the local endpoints' and the CIDR identities.
func (e *Engine) identityListLocked() []policy.Identity {
	out := make([]policy.Identity, 0, len(e.ids)+e.cidrs.len())
	for id, ls := range e.ids {
		out = append(out, policy.Identity{ID: id, Labels: ls})
	}
	for id, p := range e.cidrs.all() {
		out = append(out, policy.Identity{ID: id, Labels: []string{cidrLabel(p)}})
	}
	return out
}

// LoadPinned reads the policy map as the previous agent run left it, so
// that restored endpoints keep being enforced until the rules are loaded
// and their first computation replaces those keys by difference.
func (e *Engine) LoadPinned() error {
	entries, err := e.cfg.Datapath.ListPolicy()
	if err != nil {
		return fmt.Errorf("read pinned policy entries: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pinned = map[uint16]map[datapath.PolicyKey]datapath.PolicyValue{}
	for _, en := range entries {
		m := e.pinned[en.Key.EndpointID]
		if m == nil {
			m = map[datapath.PolicyKey]datapath.PolicyValue{}
			e.pinned[en.Key.EndpointID] = m
		}
		m[en.Key] = en.Value
	}
	return nil
}

// SweepPinned deletes the pinned keys of endpoints that were not restored
// (removed while the agent was down).
func (e *Engine) SweepPinned() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, keys := range e.pinned {
		for k := range keys {
			if err := e.cfg.Datapath.DeletePolicy(k); err != nil {
				e.log.Warn("delete stale policy entry", "endpoint", id, "err", err)
			}
		}
	}
	e.pinned = nil
}
