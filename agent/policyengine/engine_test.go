// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policyengine

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/nori-net/nori/agent/datapath"
	"github.com/nori-net/nori/agent/policy"
)

// fakeDatapath records map contents; the kernel side is tested in
// agent/datapath and end to end in tests/e2e.
type fakeDatapath struct {
	mu      sync.Mutex
	policy  map[datapath.PolicyKey]datapath.PolicyValue
	ipcache map[netip.Prefix]datapath.IPCacheEntry
	ops     []string
}

func newFakeDatapath() *fakeDatapath {
	return &fakeDatapath{policy: map[datapath.PolicyKey]datapath.PolicyValue{}, ipcache: map[netip.Prefix]datapath.IPCacheEntry{}}
}

func (f *fakeDatapath) UpsertPolicy(k datapath.PolicyKey, v datapath.PolicyValue) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policy[k] = v
	f.ops = append(f.ops, "upsert")
	return nil
}

func (f *fakeDatapath) DeletePolicy(k datapath.PolicyKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.policy, k)
	f.ops = append(f.ops, "delete")
	return nil
}

func (f *fakeDatapath) ListPolicy() ([]datapath.PolicyEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []datapath.PolicyEntry
	for k, v := range f.policy {
		out = append(out, datapath.PolicyEntry{Key: k, Value: v})
	}
	return out, nil
}

func (f *fakeDatapath) UpsertIPCache(e datapath.IPCacheEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ipcache[e.Prefix] = e
	return nil
}

func (f *fakeDatapath) DeleteIPCache(p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ipcache, p)
	return nil
}

func (f *fakeDatapath) ListIPCache() ([]datapath.IPCacheEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []datapath.IPCacheEntry
	for _, e := range f.ipcache {
		out = append(out, e)
	}
	return out, nil
}

// keysOf returns the keys of one endpoint and direction.
func (f *fakeDatapath) keysOf(ep uint16, dir datapath.Direction) map[datapath.PolicyKey]datapath.PolicyValue {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[datapath.PolicyKey]datapath.PolicyValue{}
	for k, v := range f.policy {
		if k.EndpointID == ep && k.Dir == dir {
			out[k] = v
		}
	}
	return out
}

func mustParse(t *testing.T, js string) []policy.Rule {
	t.Helper()
	rules, err := policy.Parse([]byte(js))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return rules
}

const (
	idApp1 = 300
	idApp2 = 301
	idApp3 = 302
)

func newTestEngine(t *testing.T, mode policy.Mode) (*Engine, *fakeDatapath, *[]uint16) {
	t.Helper()
	dp := newFakeDatapath()
	var flagged []uint16
	var e *Engine
	e, err := New(Config{Mode: mode, Datapath: dp, SetFlags: func(id uint16) error {
		flagged = append(flagged, id)
		e.Flags(id)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.SetIdentities(map[uint32][]string{
		idApp1: {"container:name=app1"},
		idApp2: {"container:name=app2"},
		idApp3: {"container:name=app3"},
	})
	return e, dp, &flagged
}

const app1ToApp2 = `[{
  "labels": [{"key": "name", "value": "app1-to-app2"}],
  "endpointSelector": {"matchLabels": {"name": "app2"}},
  "ingress": [{"fromEndpoints": [{"matchLabels": {"name": "app1"}}],
               "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}]
}]`

func TestEndpointGetsItsPolicyBeforeItsFlags(t *testing.T) {
	e, dp, _ := newTestEngine(t, policy.ModeDefault)
	e.SetRules(mustParse(t, app1ToApp2), 7)

	flags, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags != datapath.EndpointPolicyIngress {
		t.Fatalf("flags = %#x, want ingress only", flags)
	}
	in := dp.keysOf(2, datapath.DirIngress)
	want := datapath.PolicyKey{EndpointID: 2, Dir: datapath.DirIngress, Identity: idApp1, Proto: 6, Port: 443, PortBits: 16}
	if v, ok := in[want]; !ok || v.Verdict != datapath.PolicyAllow || len(in) != 1 {
		t.Fatalf("ingress keys = %v, want only %v allow", in, want)
	}
	if st, _ := e.Status(2); !st.Ingress || st.Egress || st.Revision != 7 {
		t.Fatalf("status = %+v", st)
	}

	// app1 is not selected by any rule: open both ways, no keys.
	flags, err = e.Endpoint(1, idApp1, []string{"container:name=app1"}, 0)
	if err != nil || flags != 0 {
		t.Fatalf("app1 flags = %#x, %v; want 0", flags, err)
	}
	if n := len(dp.keysOf(1, datapath.DirIngress)) + len(dp.keysOf(1, datapath.DirEgress)); n != 0 {
		t.Fatalf("app1 has %d keys", n)
	}
}

func TestInitEndpointIsDeniedBothWays(t *testing.T) {
	e, dp, _ := newTestEngine(t, policy.ModeDefault)
	e.SetRules(nil, 1)
	flags, err := e.Endpoint(3, policy.IDInit, []string{"reserved:init"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags != datapath.EndpointPolicyIngress|datapath.EndpointPolicyEgress {
		t.Fatalf("init flags = %#x, want both directions", flags)
	}
	if len(dp.policy) != 0 {
		t.Fatalf("init endpoint has keys %v, want none (default deny)", dp.policy)
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode      policy.Mode
		wantFlags uint16
	}{
		{policy.ModeDefault, 0},
		{policy.ModeAlways, datapath.EndpointPolicyIngress | datapath.EndpointPolicyEgress},
		{policy.ModeNever, 0},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			e, _, _ := newTestEngine(t, tc.mode)
			e.SetRules(nil, 1)
			flags, err := e.Endpoint(1, idApp1, []string{"container:name=app1"}, 0)
			if err != nil || flags != tc.wantFlags {
				t.Fatalf("flags = %#x, %v; want %#x", flags, err, tc.wantFlags)
			}
		})
	}
}

func TestRuleChangeRewritesByDifferenceAndFlags(t *testing.T) {
	e, dp, flagged := newTestEngine(t, policy.ModeDefault)
	e.SetRules(nil, 1)
	if _, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, 0); err != nil {
		t.Fatal(err)
	}
	// A rule appears: app2 becomes enforced in a background pass, and
	// its flags are written through SetFlags.
	e.SetRules(mustParse(t, app1ToApp2), 2)
	e.recompute()
	if len(*flagged) != 1 || (*flagged)[0] != 2 {
		t.Fatalf("SetFlags calls = %v, want [2]", *flagged)
	}
	if e.Flags(2) != datapath.EndpointPolicyIngress || len(dp.keysOf(2, datapath.DirIngress)) != 1 {
		t.Fatalf("after import: flags %#x keys %v", e.Flags(2), dp.policy)
	}
	// Deleting every rule: the flags go first, then the keys.
	dp.ops = nil
	e.SetRules(nil, 3)
	e.recompute()
	if len(*flagged) != 2 {
		t.Fatalf("SetFlags calls = %v, want a second one", *flagged)
	}
	if len(dp.policy) != 0 || e.Flags(2) != 0 {
		t.Fatalf("after delete: flags %#x keys %v", e.Flags(2), dp.policy)
	}
	if st, _ := e.Status(2); st.Ingress || st.Revision != 3 {
		t.Fatalf("status after delete = %+v", st)
	}
}

func TestCIDRIdentitiesGoToTheIPCache(t *testing.T) {
	e, dp, _ := newTestEngine(t, policy.ModeDefault)
	e.SetRules(mustParse(t, `[{
	  "endpointSelector": {"matchLabels": {"name": "app1"}},
	  "egress": [{"toCIDRSet": [{"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}]},
	             {"toEntities": ["world"], "toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}]}]}]
	}]`), 1)
	if _, err := e.Endpoint(1, idApp1, []string{"container:name=app1"}, 0); err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("192.0.2.0/25")
	ent, ok := dp.ipcache[p]
	if !ok || ent.Identity < LocalIdentityBase {
		t.Fatalf("ipcache = %v, want %s with a local CIDR identity", dp.ipcache, p)
	}
	if _, ok := dp.ipcache[netip.MustParsePrefix("192.0.2.128/25")]; ok {
		t.Fatal("the except prefix got an identity")
	}
	out := dp.keysOf(1, datapath.DirEgress)
	if _, ok := out[datapath.PolicyKey{EndpointID: 1, Dir: datapath.DirEgress, Identity: ent.Identity}]; !ok {
		t.Fatalf("egress keys %v lack any-port allow for CIDR identity %d", out, ent.Identity)
	}
	// The world entity covers CIDR identities too (they are world).
	world := datapath.PolicyKey{EndpointID: 1, Dir: datapath.DirEgress, Identity: policy.IDWorld, Proto: 17, Port: 53, PortBits: 16}
	if _, ok := out[world]; !ok {
		t.Fatalf("egress keys %v lack world DNS", out)
	}
	if ls, ok := e.IdentityLabels(ent.Identity); !ok || ls[0] != "cidr:192.0.2.0/25" {
		t.Fatalf("labels of CIDR identity = %v", ls)
	}

	// The rule goes: the prefix leaves the ipcache.
	e.SetRules(nil, 2)
	e.recompute()
	if len(dp.ipcache) != 0 {
		t.Fatalf("ipcache after the rule went: %v", dp.ipcache)
	}
}

func TestRemoveEndpointDeletesItsKeys(t *testing.T) {
	e, dp, _ := newTestEngine(t, policy.ModeDefault)
	e.SetRules(mustParse(t, app1ToApp2), 1)
	if _, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveEndpoint(2); err != nil {
		t.Fatal(err)
	}
	if len(dp.policy) != 0 {
		t.Fatalf("keys left: %v", dp.policy)
	}
	if _, ok := e.Status(2); ok {
		t.Fatal("status of a removed endpoint")
	}
}

func TestPinnedKeysAreReplacedOrSwept(t *testing.T) {
	dp := newFakeDatapath()
	stale := datapath.PolicyKey{EndpointID: 9, Dir: datapath.DirIngress, Identity: 1234}
	old := datapath.PolicyKey{EndpointID: 2, Dir: datapath.DirIngress, Identity: 999}
	dp.policy[stale] = datapath.PolicyValue{Verdict: datapath.PolicyAllow}
	dp.policy[old] = datapath.PolicyValue{Verdict: datapath.PolicyAllow}
	dp.ipcache[netip.MustParsePrefix("198.51.100.0/24")] = datapath.IPCacheEntry{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Identity: LocalIdentityBase + 5}
	e, err := New(Config{Mode: policy.ModeDefault, Datapath: dp})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadPinned(); err != nil {
		t.Fatal(err)
	}
	e.SetIdentities(map[uint32][]string{idApp1: {"container:name=app1"}, idApp2: {"container:name=app2"}})
	e.SetRules(mustParse(t, app1ToApp2), 4)
	if _, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, 0); err != nil {
		t.Fatal(err)
	}
	e.SweepPinned()
	e.recompute()
	if _, ok := dp.policy[stale]; ok {
		t.Error("keys of an endpoint that was not restored survived")
	}
	if _, ok := dp.policy[old]; ok {
		t.Error("a restored endpoint's outdated key survived")
	}
	if len(dp.keysOf(2, datapath.DirIngress)) != 1 {
		t.Errorf("restored endpoint keys: %v", dp.policy)
	}
	if len(dp.ipcache) != 0 {
		t.Errorf("stale CIDR identity survived: %v", dp.ipcache)
	}
}

func TestNewIdentityIsPickedUpByOtherEndpoints(t *testing.T) {
	e, dp, _ := newTestEngine(t, policy.ModeDefault)
	e.SetIdentities(map[uint32][]string{idApp2: {"container:name=app2"}})
	e.SetRules(mustParse(t, app1ToApp2), 1)
	if _, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(dp.keysOf(2, datapath.DirIngress)); n != 0 {
		t.Fatalf("keys before app1 exists: %d", n)
	}
	// app1 appears on another host: the identity watch delivers it.
	e.SetIdentities(map[uint32][]string{idApp1: {"container:name=app1"}, idApp2: {"container:name=app2"}})
	e.recompute()
	if n := len(dp.keysOf(2, datapath.DirIngress)); n != 1 {
		t.Fatalf("keys after app1 appeared: %v", dp.policy)
	}
}

func TestRuleLabels(t *testing.T) {
	e, _, _ := newTestEngine(t, policy.ModeDefault)
	e.SetRules(mustParse(t, app1ToApp2), 1)
	if ls := e.RuleLabels(1); len(ls) != 1 || ls[0] != "unspec:name=app1-to-app2" {
		t.Fatalf("RuleLabels(1) = %v", ls)
	}
	if ls := e.RuleLabels(2); ls != nil {
		t.Fatalf("RuleLabels(2) = %v, want nil", ls)
	}
}

// TestBeforeRulesLoadTheFlagsStay: an agent started while etcd is away
// restores endpoints before it has rules; they keep the flags and keys of
// the previous run until the rules arrive.
func TestBeforeRulesLoadTheFlagsStay(t *testing.T) {
	dp := newFakeDatapath()
	pinned := datapath.PolicyKey{EndpointID: 2, Dir: datapath.DirIngress, Identity: idApp1, Proto: 6, Port: 443, PortBits: 16}
	dp.policy[pinned] = datapath.PolicyValue{Verdict: datapath.PolicyAllow}
	var set []uint16
	var e *Engine
	e, err := New(Config{Mode: policy.ModeDefault, Datapath: dp, SetFlags: func(id uint16) error {
		set = append(set, id)
		e.Flags(id)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.LoadPinned(); err != nil {
		t.Fatal(err)
	}
	both := datapath.EndpointPolicyIngress | datapath.EndpointPolicyEgress
	flags, err := e.Endpoint(2, idApp2, []string{"container:name=app2"}, both)
	if err != nil || flags != both {
		t.Fatalf("flags before the rules = %#x, %v; want the current %#x", flags, err, both)
	}
	e.recompute() // nothing happens without rules
	if _, ok := dp.policy[pinned]; !ok || len(set) != 0 {
		t.Fatalf("before the rules: keys %v, SetFlags calls %v", dp.policy, set)
	}
	e.SetIdentities(map[uint32][]string{idApp1: {"container:name=app1"}, idApp2: {"container:name=app2"}})
	e.SetRules(mustParse(t, app1ToApp2), 3)
	e.recompute()
	if len(set) != 1 || e.Flags(2) != datapath.EndpointPolicyIngress {
		t.Fatalf("after the rules: SetFlags calls %v, flags %#x", set, e.Flags(2))
	}
	if _, ok := dp.policy[pinned]; !ok || len(dp.policy) != 1 {
		t.Fatalf("after the rules: keys %v", dp.policy)
	}
}
