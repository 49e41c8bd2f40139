// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/nori-net/nori/agent/policy"
)

// simLookup is the datapath's decision, written independently of Compute:
// longest match among the keys of the peer's identity, final if found,
// else longest match among identity 0's keys, else no match (deny).
func simLookup(keys map[Key]Value, ep uint16, dir uint8, id uint32, proto uint8, port uint16) (Value, bool) {
	for _, ident := range []uint32{id, 0} {
		var best Value
		bestLen, found := -1, false
		for k, v := range keys {
			if k.EndpointID != ep || k.Dir != dir || k.Identity != ident {
				continue
			}
			plen := 0
			if k.Proto != 0 {
				if k.Proto != proto {
					continue
				}
				if k.PortBits > 0 {
					shift := 16 - uint(k.PortBits)
					if k.Port>>shift != port>>shift {
						continue
					}
				}
				plen = 8 + int(k.PortBits)
			}
			if plen == bestLen {
				panic(fmt.Sprintf("two keys of length %d match: not canonical", plen))
			}
			if plen > bestLen {
				best, bestLen, found = v, plen, true
			}
		}
		if found {
			return best, true
		}
	}
	return Value{}, false
}

// world is the CIDR universe of the random policies: every prefix has a
// local identity, as the agent allocates one per prefix a rule names.
var worldPrefixes = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "192.168.0.0/16", "0.0.0.0/0"}

type cidrWorld struct {
	prefixes []netip.Prefix
	ids      []uint32
}

func newCIDRWorld() *cidrWorld {
	w := &cidrWorld{}
	for i, s := range worldPrefixes {
		w.prefixes = append(w.prefixes, netip.MustParsePrefix(s))
		w.ids = append(w.ids, 16777216+uint32(i))
	}
	// As in Cilium, the whole internet is the world identity.
	w.ids[len(w.ids)-1] = policy.IDWorld
	return w
}

// identities is the CIDRIdentities of the world: every prefix inside p.
func (w *cidrWorld) identities(p netip.Prefix) []uint32 {
	var out []uint32
	for i, q := range w.prefixes {
		if q.Bits() >= p.Bits() && p.Contains(q.Addr()) {
			out = append(out, w.ids[i])
		}
	}
	return out
}

// identityOf is the ipcache: the longest prefix holding a, else world.
func (w *cidrWorld) identityOf(a netip.Addr) uint32 {
	best, id := -1, policy.IDWorld
	for i, q := range w.prefixes {
		if q.Contains(a) && q.Bits() > best {
			best, id = q.Bits(), w.ids[i]
		}
	}
	return id
}

var (
	randIdentities = []uint32{256, 257, 258, 16777216 + 1, policy.IDWorld}
	queryAddrs     = []string{"10.1.2.3", "10.1.2.4", "10.1.3.1", "10.2.0.1", "192.168.1.1", "172.16.0.1"}
	randProtos     = []uint8{policy.IPProtoAny, policy.IPProtoTCP, policy.IPProtoUDP, policy.IPProtoICMP, policy.IPProtoSCTP}
	queryProtos    = []uint8{policy.IPProtoTCP, policy.IPProtoUDP, policy.IPProtoICMP, policy.IPProtoSCTP, 47}
)

// randPort favours a few clustered values so ranges overlap and nest.
func randPort(r *rand.Rand) uint16 {
	switch r.IntN(4) {
	case 0:
		return uint16(r.IntN(64))
	case 1:
		return uint16(65472 + r.IntN(64))
	case 2:
		return []uint16{80, 443, 1024, 8080, 32768}[r.IntN(5)]
	}
	return uint16(r.IntN(65536))
}

func randEntry(r *rand.Rand, w *cidrWorld) policy.Entry {
	var e policy.Entry
	switch r.IntN(4) {
	case 0:
		e.Peer = policy.Peer{Identity: policy.IDAny}
	case 1:
		e.Peer = policy.Peer{CIDR: w.prefixes[r.IntN(len(w.prefixes))]}
	default:
		e.Peer = policy.Peer{Identity: randIdentities[r.IntN(len(randIdentities))]}
	}
	e.Proto = randProtos[r.IntN(len(randProtos))]
	e.Port, e.EndPort = 0, 65535
	// The policy package never pairs protocol ANY with a port range.
	if e.Proto != policy.IPProtoAny && r.IntN(4) != 0 {
		a, b := randPort(r), randPort(r)
		if r.IntN(3) == 0 {
			b = a
		}
		e.Port, e.EndPort = min(a, b), max(a, b)
	}
	e.Verdict = policy.Allow
	if r.IntN(3) == 0 {
		e.Verdict = policy.Deny
	}
	e.Redirect = e.Verdict == policy.Allow && r.IntN(3) == 0
	e.Rules = []policy.RuleRef{{Index: r.IntN(6) - 1}}
	return e
}

func randDirection(r *rand.Rand, w *cidrWorld) policy.DirectionPolicy {
	if r.IntN(8) == 0 {
		return policy.DirectionPolicy{}
	}
	d := policy.DirectionPolicy{Enforced: true}
	for range r.IntN(9) {
		d.Entries = append(d.Entries, randEntry(r, w))
	}
	return d
}

// queryPorts are the edges of every entry range plus random ports: the
// verdict can only change at an edge.
func queryPorts(r *rand.Rand, d policy.DirectionPolicy) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	add := func(p int) {
		if p >= 0 && p <= 65535 && !seen[uint16(p)] {
			seen[uint16(p)] = true
			out = append(out, uint16(p))
		}
	}
	for _, e := range d.Entries {
		for _, p := range []int{int(e.Port) - 1, int(e.Port), int(e.Port) + 1, int(e.EndPort) - 1, int(e.EndPort), int(e.EndPort) + 1} {
			add(p)
		}
	}
	for range 6 {
		add(int(randPort(r)))
	}
	return out
}

type query struct {
	q  policy.Query
	id uint32 // the identity the datapath sees
}

func queries(r *rand.Rand, d policy.DirectionPolicy, w *cidrWorld) []query {
	var peers []query
	// World and CIDR identities only come with an address (below), which
	// Lookup needs to match CIDR entries.
	for _, id := range []uint32{256, 257, 258, 259, policy.IDHost, 0} {
		peers = append(peers, query{q: policy.Query{Identity: id}, id: id})
	}
	for _, s := range queryAddrs {
		a := netip.MustParseAddr(s)
		id := w.identityOf(a)
		peers = append(peers, query{q: policy.Query{Identity: id, Addr: a}, id: id})
	}
	var out []query
	for _, pr := range peers {
		for _, proto := range queryProtos {
			for _, port := range queryPorts(r, d) {
				q := pr
				q.q.Proto, q.q.Port = proto, port
				out = append(out, q)
			}
		}
	}
	return out
}

// TestComputeMatchesLookup is the proof: for random policies the
// datapath's two lookups over Compute's keys give the verdict, redirect
// and rule of policy.DirectionPolicy.Lookup for every flow tried.
func TestComputeMatchesLookup(t *testing.T) {
	r := rand.New(rand.NewPCG(20261125, 1))
	w := newCIDRWorld()
	policies := 2000
	if testing.Short() {
		policies = 300
	}
	flows, keysTotal := 0, 0
	for n := range policies {
		ep := &policy.EndpointPolicy{Ingress: randDirection(r, w), Egress: randDirection(r, w)}
		epID := uint16(1 + r.IntN(4000))
		keys, err := Compute(epID, ep, w.identities)
		if err != nil {
			t.Fatalf("policy %d: %v", n, err)
		}
		keysTotal += len(keys)
		checkCanonical(t, keys)
		for _, d := range []struct {
			dir uint8
			dp  policy.DirectionPolicy
		}{{DirIngress, ep.Ingress}, {DirEgress, ep.Egress}} {
			if !d.dp.Enforced {
				for k := range keys {
					if k.Dir == d.dir {
						t.Fatalf("policy %d: key %v for an unenforced direction", n, k)
					}
				}
				continue
			}
			for _, q := range queries(r, d.dp, w) {
				flows++
				want, entry := d.dp.Lookup(q.q)
				got, found := simLookup(keys, epID, d.dir, q.id, q.q.Proto, q.q.Port)
				gotVerdict := policy.Deny
				if found && got.Verdict == VerdictAllow {
					gotVerdict = policy.Allow
				}
				fail := gotVerdict != want
				if !fail && entry != nil {
					fail = !found || got.Redirect != (want == policy.Allow && entry.Redirect) || got.RuleID != ruleID(entry.Rules)
				}
				if fail {
					t.Fatalf("policy %d dir %d flow id=%d addr=%v proto=%d port=%d:\nLookup: %v %+v\ndatapath: %+v found=%v\nentries:\n%s\nkeys:\n%s",
						n, d.dir, q.id, q.q.Addr, q.q.Proto, q.q.Port, want, entry, got, found, dumpEntries(d.dp.Entries), dumpKeys(keys))
				}
			}
		}
	}
	t.Logf("%d policies, %d flows, %d keys", policies, flows, keysTotal)
	if flows < 50000 {
		t.Fatalf("only %d flows checked", flows)
	}
}

func checkCanonical(t *testing.T, keys map[Key]Value) {
	t.Helper()
	for k, v := range keys {
		if k.PortBits > 16 || (k.Proto == 0 && (k.Port != 0 || k.PortBits != 0)) ||
			(k.PortBits < 16 && k.Port&(uint16(0xffff)>>k.PortBits) != 0) {
			t.Fatalf("key not canonical: %v", k)
		}
		if v.Verdict != VerdictAllow && v.Verdict != VerdictDeny || v.ProxyPort != 0 || (v.Redirect && v.Verdict == VerdictDeny) {
			t.Fatalf("bad value %+v of %v", v, k)
		}
	}
}

func dumpEntries(es []policy.Entry) string {
	s := ""
	for i, e := range es {
		s += fmt.Sprintf("  %d: peer=%v proto=%d %d-%d %v redirect=%v rules=%v\n", i, e.Peer, e.Proto, e.Port, e.EndPort, e.Verdict, e.Redirect, e.Rules)
	}
	return s
}

func dumpKeys(keys map[Key]Value) string {
	s := ""
	for k, v := range keys {
		s += fmt.Sprintf("  %v → %+v\n", k, v)
	}
	return s
}
