// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// Policy and conntrack decisions on crafted packets (BPF_PROG_TEST_RUN).
// A test run's skb comes in on lo, so the endpoints here have ifindex 1:
// the anti-spoofing check wants the packet on its endpoint's veth.

const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// l4Packet builds Ethernet + IPv4 + the given L4 bytes.
func l4Packet(src, dst string, proto uint8, l4 []byte) []byte {
	pkt := make([]byte, 14+20+len(l4))
	copy(pkt[0:6], gwMAC)
	copy(pkt[6:12], srcMAC)
	binary.BigEndian.PutUint16(pkt[12:14], 0x0800)
	ip := pkt[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(l4)))
	ip[8] = 64
	ip[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	copy(pkt[34:], l4)
	return pkt
}

func tcpSeg(src, dst string, sport, dport uint16, flags uint8) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:2], sport)
	binary.BigEndian.PutUint16(h[2:4], dport)
	h[12] = 5 << 4
	h[13] = flags
	return l4Packet(src, dst, protoTCP, h)
}

func udpDgram(src, dst string, sport, dport uint16) []byte {
	h := make([]byte, 12)
	binary.BigEndian.PutUint16(h[0:2], sport)
	binary.BigEndian.PutUint16(h[2:4], dport)
	binary.BigEndian.PutUint16(h[4:6], 12)
	return l4Packet(src, dst, protoUDP, h)
}

func icmpMsg(src, dst string, typ uint8, id uint16) []byte {
	h := make([]byte, 16)
	h[0] = typ
	binary.BigEndian.PutUint16(h[4:6], id)
	return l4Packet(src, dst, protoICMP, h)
}

// icmpError builds an ICMP error from src to dst quoting inner (an IPv4
// packet as built above, Ethernet header included).
func icmpError(src, dst string, typ uint8, inner []byte) []byte {
	quote := inner[14:]
	if len(quote) > 28 {
		quote = quote[:28]
	}
	h := append(make([]byte, 8), quote...)
	h[0] = typ
	return l4Packet(src, dst, protoICMP, h)
}

type policyFixture struct {
	t    *testing.T
	objs *bpfobj.DatapathObjects
	dp   *Datapath
	rd   *ringbuf.Reader
}

const (
	ipA     = "10.200.1.2"
	ipB     = "10.200.1.3"
	ipWorld = "192.0.2.1"
	idA     = 1001
	idB     = 1002
	idWorld = 2
)

func newPolicyFixture(t *testing.T, flags uint32) *policyFixture {
	t.Helper()
	objs := loadUnpinned(t)
	f := &policyFixture{t: t, objs: objs, dp: &Datapath{objs: *objs}}
	cfg := NodeConfig{
		RouterIP:    netip.MustParseAddr("169.254.1.1"),
		ClusterCIDR: netip.MustParsePrefix("10.200.0.0/16"),
		NodeIP:      netip.MustParseAddr("172.30.0.1"),
		Flags:       flags,
	}
	if err := f.dp.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, e := range []Endpoint{
		{IP: netip.MustParseAddr(ipA), IfIndex: 1, MAC: srcMAC, NodeMAC: gwMAC, Identity: idA, ID: 1, Flags: EndpointPolicyEgress | EndpointPolicyIngress},
		{IP: netip.MustParseAddr(ipB), IfIndex: 1, MAC: dstMAC, NodeMAC: dstGW, Identity: idB, ID: 2, Flags: EndpointPolicyIngress},
	} {
		if err := f.dp.UpsertEndpoint(e); err != nil {
			t.Fatal(err)
		}
	}
	allow := func(rule uint32) PolicyValue { return PolicyValue{Verdict: PolicyAllow, RuleID: rule} }
	for _, p := range []struct {
		k PolicyKey
		v PolicyValue
	}{
		// A may send TCP and ICMP to B, and UDP/53 anywhere.
		{PolicyKey{EndpointID: 1, Dir: DirEgress, Identity: idB, Proto: protoTCP}, allow(11)},
		{PolicyKey{EndpointID: 1, Dir: DirEgress, Identity: idB, Proto: protoICMP}, allow(12)},
		{PolicyKey{EndpointID: 1, Dir: DirEgress, Proto: protoUDP, Port: 53, PortBits: 16}, allow(13)},
		// B takes 8080-8087 from A but not 8081, echo requests from
		// anyone, and port 80 from the world.
		{PolicyKey{EndpointID: 2, Dir: DirIngress, Identity: idA, Proto: protoTCP, Port: 8080, PortBits: 13}, allow(21)},
		{PolicyKey{EndpointID: 2, Dir: DirIngress, Identity: idA, Proto: protoTCP, Port: 8081, PortBits: 16}, PolicyValue{Verdict: PolicyDeny, RuleID: 22}},
		{PolicyKey{EndpointID: 2, Dir: DirIngress, Proto: protoICMP, Port: 8, PortBits: 16}, allow(23)},
		{PolicyKey{EndpointID: 2, Dir: DirIngress, Identity: idWorld, Proto: protoTCP, Port: 80, PortBits: 16}, allow(24)},
		// A's ingress allows nothing: its replies must pass on state.
	} {
		if err := f.dp.UpsertPolicy(p.k, p.v); err != nil {
			t.Fatalf("UpsertPolicy(%+v): %v", p.k, err)
		}
	}
	rd, err := ringbuf.NewReader(objs.NoriEvents)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	f.rd = rd
	return f
}

func (f *policyFixture) run(prog *ebpf.Program, pkt []byte) uint32 {
	f.t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: pkt, DataOut: make([]byte, len(pkt)+64)})
	if err != nil {
		f.t.Fatalf("run: %v", err)
	}
	return ret
}

func (f *policyFixture) metric(r Reason, d Direction) uint64 {
	f.t.Helper()
	m, err := f.dp.Metrics()
	if err != nil {
		f.t.Fatal(err)
	}
	return m[MetricKey{r, d}].Packets
}

// events drains the ring buffer.
func (f *policyFixture) events() []Event {
	f.t.Helper()
	var out []Event
	for {
		f.rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
		rec, err := f.rd.Read()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return out
		}
		if err != nil {
			f.t.Fatal(err)
		}
		ev, err := ParseEvent(rec.RawSample)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, ev)
	}
}

func (f *policyFixture) ct() []CTEntry {
	f.t.Helper()
	ct, err := f.dp.ListCT()
	if err != nil {
		f.t.Fatal(err)
	}
	return ct
}

func TestPolicyPrograms(t *testing.T) {
	f := newPolicyFixture(t, ConfigPolicy)
	from, to := f.objs.NoriFromContainer, f.objs.NoriToContainer
	udpOut := udpDgram(ipA, ipWorld, 40001, 53)

	// Each step runs on the state the earlier ones left (conntrack).
	steps := []struct {
		name   string
		prog   *ebpf.Program
		pkt    []byte
		want   uint32
		reason Reason // drop reason, checked in the event
		dir    Direction
		rule   uint32
	}{
		{"A to B 8080 allowed", from, tcpSeg(ipA, ipB, 40000, 8080, tcpSYN), tcActRedirect, 0, 0, 0},
		{"B replies although A's ingress allows nothing", from, tcpSeg(ipB, ipA, 8080, 40000, tcpSYN|tcpACK), tcActRedirect, 0, 0, 0},
		{"A continues", from, tcpSeg(ipA, ipB, 40000, 8080, tcpACK), tcActRedirect, 0, 0, 0},
		{"B to A new flow hits A's default deny", from, tcpSeg(ipB, ipA, 8080, 40009, tcpSYN), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"port prefix allows 8087", from, tcpSeg(ipA, ipB, 40002, 8087, tcpSYN), tcActRedirect, 0, 0, 0},
		{"deny beats the wider allow", from, tcpSeg(ipA, ipB, 40003, 8081, tcpSYN), tcActShot, ReasonDropPolicyDeny, DirIngress, 22},
		{"outside the prefix is default deny", from, tcpSeg(ipA, ipB, 40004, 8088, tcpSYN), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"identity-0 entry allows DNS to the world", from, udpOut, tcActOK, 0, 0, 0},
		{"egress default deny to the world", from, tcpSeg(ipA, ipWorld, 40005, 443, tcpSYN), tcActShot, ReasonDropPolicy, DirEgress, 0},
		{"related ICMP error passes", to, icmpError(ipWorld, ipA, 3, udpOut), tcActOK, 0, 0, 0},
		{"unrelated ICMP error is dropped", to, icmpError(ipWorld, ipA, 3, udpDgram(ipA, ipWorld, 40099, 53)), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"echo request allowed by type 8", from, icmpMsg(ipA, ipB, 8, 77), tcActRedirect, 0, 0, 0},
		{"echo reply passes", from, icmpMsg(ipB, ipA, 0, 77), tcActRedirect, 0, 0, 0},
		{"echo request the other way is a new flow", from, icmpMsg(ipB, ipA, 8, 77), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"timestamp request has no entry", from, icmpMsg(ipA, ipB, 13, 78), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"world to B port 80 (ipcache miss = world)", to, tcpSeg("198.51.100.7", ipB, 50000, 80, tcpSYN), tcActOK, 0, 0, 0},
		{"world to B port 81", to, tcpSeg("198.51.100.7", ipB, 50001, 81, tcpSYN), tcActShot, ReasonDropPolicy, DirIngress, 0},
		{"B replies to the world", from, tcpSeg(ipB, "198.51.100.7", 80, 50000, tcpSYN|tcpACK), tcActOK, 0, 0, 0},
		{"spoofed source", from, tcpSeg("10.200.1.99", ipB, 1, 8080, tcpSYN), tcActShot, ReasonDropSpoof, DirEgress, 0},
	}
	for _, s := range steps {
		f.events()
		if got := f.run(s.prog, s.pkt); got != s.want {
			t.Fatalf("%s: verdict = %d, want %d", s.name, got, s.want)
		}
		evs := f.events()
		if s.want != tcActShot {
			if len(evs) != 0 {
				t.Fatalf("%s: unexpected events %+v", s.name, evs)
			}
			continue
		}
		if len(evs) != 1 || evs[0].Type != EventDrop || evs[0].Reason != s.reason || evs[0].Dir != s.dir || evs[0].RuleID != s.rule {
			t.Fatalf("%s: events = %+v, want one %s %s drop with rule %d", s.name, evs, s.reason, s.dir, s.rule)
		}
		if s.reason != ReasonDropSpoof && (evs[0].DstIdentity == 0 || evs[0].Verdict != PolicyDeny) {
			t.Fatalf("%s: drop event without destination identity or verdict: %+v", s.name, evs[0])
		}
	}
	if got := f.metric(ReasonDropPolicyDeny, DirIngress); got != 1 {
		t.Fatalf("drop-policy-deny ingress = %d, want 1", got)
	}
	if got := f.metric(ReasonDropPolicy, DirEgress); got != 1 {
		t.Fatalf("drop-policy egress = %d, want 1", got)
	}

	// The first flow: both entries, established on both sides.
	var fwd, rev *CTEntry
	for _, e := range f.ct() {
		if e.Proto == protoTCP && e.Src == netip.MustParseAddrPort(ipA+":40000") && e.Dst == netip.MustParseAddrPort(ipB+":8080") {
			fwd = &e
		}
		if e.Proto == protoTCP && e.Src == netip.MustParseAddrPort(ipB+":8080") && e.Dst == netip.MustParseAddrPort(ipA+":40000") {
			rev = &e
		}
	}
	if fwd == nil || rev == nil {
		t.Fatalf("conntrack lacks the A->B flow: %+v", f.ct())
	}
	if fwd.Reply || !rev.Reply || fwd.Flags&CTSeenReply == 0 || rev.Flags&CTSeenReply == 0 {
		t.Fatalf("flags: forward %+v, reply %+v", *fwd, *rev)
	}
	if fwd.SrcIdentity != idA || fwd.DstIdentity != idB || fwd.EndpointID != 1 || fwd.RuleID != 11 {
		t.Fatalf("forward entry = %+v, want identities %d->%d, endpoint 1, rule 11", *fwd, idA, idB)
	}
	if fwd.Expires < 5*time.Hour {
		t.Fatalf("established TCP expires in %v, want ~6h", fwd.Expires)
	}

	// A FIN shortens both entries to the close timeout.
	f.run(from, tcpSeg(ipA, ipB, 40000, 8080, tcpFIN|tcpACK))
	for _, e := range f.ct() {
		if e.Proto == protoTCP && (e.Src.Port() == 40000 || e.Dst.Port() == 40000) {
			if e.Flags&CTClosing == 0 || e.Expires > 11*time.Second {
				t.Fatalf("after FIN: %+v, want closing within 10s", e)
			}
		}
	}

	// Entry counters count decided flows.
	entries, err := f.dp.ListPolicyEndpoint(2)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[uint32]uint64{}
	for _, e := range entries {
		if e.Key.EndpointID != 2 {
			t.Fatalf("ListPolicyEndpoint(2) returned %+v", e)
		}
		counts[e.Value.RuleID] = e.Packets
	}
	if counts[21] != 2 || counts[22] != 1 || counts[23] != 1 {
		t.Fatalf("rule counters = %v, want 21:2 22:1 23:1", counts)
	}
}

func TestPolicyVerdictEvents(t *testing.T) {
	f := newPolicyFixture(t, ConfigPolicy|ConfigPolicyVerdicts)
	f.events()
	if got := f.run(f.objs.NoriFromContainer, tcpSeg(ipA, ipB, 40000, 8080, tcpSYN)); got != tcActRedirect {
		t.Fatalf("verdict = %d", got)
	}
	// A enforces egress, B ingress: one verdict each.
	evs := f.events()
	if len(evs) != 2 {
		t.Fatalf("events = %+v, want 2 policy verdicts", evs)
	}
	for i, want := range []struct {
		dir  Direction
		ep   uint16
		rule uint32
	}{{DirEgress, 1, 11}, {DirIngress, 2, 21}} {
		ev := evs[i]
		if ev.Type != EventPolicy || ev.Verdict != PolicyAllow || ev.Subtype != PolicyAllow || ev.Dir != want.dir ||
			ev.EndpointID != want.ep || ev.RuleID != want.rule || ev.SrcIdentity != idA || ev.DstIdentity != idB ||
			ev.Dst != netip.MustParseAddrPort(ipB+":8080") {
			t.Fatalf("event %d = %+v, want allow %s ep %d rule %d", i, ev, want.dir, want.ep, want.rule)
		}
	}
	// Later packets of the flow are not new: no events.
	f.run(f.objs.NoriFromContainer, tcpSeg(ipB, ipA, 8080, 40000, tcpSYN|tcpACK))
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("reply produced events %+v", evs)
	}
	// A denied flow: a deny verdict and the drop.
	f.run(f.objs.NoriFromContainer, tcpSeg(ipA, ipB, 40001, 8081, tcpSYN))
	evs = f.events()
	if len(evs) != 3 || evs[1].Type != EventPolicy || evs[1].Verdict != PolicyDeny || evs[1].RuleID != 22 ||
		evs[2].Type != EventDrop || evs[2].Reason != ReasonDropPolicyDeny {
		t.Fatalf("events = %+v, want egress allow, ingress deny verdict, drop", evs)
	}
}

func TestPolicyOffTracksNothing(t *testing.T) {
	f := newPolicyFixture(t, 0)
	// Without the flag: today's forwarding, denied port and all.
	if got := f.run(f.objs.NoriFromContainer, tcpSeg(ipA, ipB, 40001, 8081, tcpSYN)); got != tcActRedirect {
		t.Fatalf("verdict = %d, want redirect", got)
	}
	if got := f.run(f.objs.NoriToContainer, tcpSeg(ipWorld, ipA, 1, 2, tcpSYN)); got != tcActOK {
		t.Fatalf("to_container = %d", got)
	}
	if ct := f.ct(); len(ct) != 0 {
		t.Fatalf("conntrack without policy = %+v", ct)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("events without policy = %+v", evs)
	}
}

func TestConntrackExpiryAndGC(t *testing.T) {
	f := newPolicyFixture(t, ConfigPolicy)
	pkt := tcpSeg(ipB, ipA, 8080, 40000, tcpSYN|tcpACK)
	// A allows no ingress: B's packet passes only as a reply.
	if got := f.run(f.objs.NoriFromContainer, pkt); got != tcActShot {
		t.Fatalf("without state: %d, want drop", got)
	}
	f.run(f.objs.NoriFromContainer, tcpSeg(ipA, ipB, 40000, 8080, tcpSYN))
	if got := f.run(f.objs.NoriFromContainer, pkt); got != tcActRedirect {
		t.Fatalf("with state: %d, want redirect", got)
	}
	if n, err := f.dp.GCConntrack(); err != nil || n != 0 {
		t.Fatalf("GCConntrack with live entries = %d, %v", n, err)
	}
	// Age the flow's entries into the past.
	var (
		k  bpfobj.DatapathNoriCtKey
		v  bpfobj.DatapathNoriCtValue
		ks []bpfobj.DatapathNoriCtKey
	)
	it := f.objs.NoriCt.Iterate()
	for it.Next(&k, &v) {
		ks = append(ks, k)
	}
	now, err := monotonicNow()
	if err != nil {
		t.Fatal(err)
	}
	for i := range ks {
		if err := f.objs.NoriCt.Lookup(&ks[i], &v); err != nil {
			t.Fatal(err)
		}
		v.Expires = uint64(now) - uint64(time.Second)
		if err := f.objs.NoriCt.Put(&ks[i], &v); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range f.ct() {
		if e.Expires > 0 {
			t.Fatalf("entry still live: %+v", e)
		}
	}
	// An expired entry is absent for the datapath...
	if got := f.run(f.objs.NoriFromContainer, pkt); got != tcActShot {
		t.Fatalf("reply on an expired entry: %d, want drop", got)
	}
	// ...and GC removes it.
	n, err := f.dp.GCConntrack()
	if err != nil || n != len(ks) {
		t.Fatalf("GCConntrack = %d, %v; want %d", n, err, len(ks))
	}
	if ct := f.ct(); len(ct) != 0 {
		t.Fatalf("after GC: %+v", ct)
	}
}

// TestConntrackGCManyEntries walks a table larger than one batch: every
// expired entry goes, every live one stays.
func TestConntrackGCManyEntries(t *testing.T) {
	f := newPolicyFixture(t, ConfigPolicy)
	now, err := monotonicNow()
	if err != nil {
		t.Fatal(err)
	}
	const flows = 3*ctBatch + 17
	for i := range flows {
		k := bpfobj.DatapathNoriCtKey{Saddr: uint32(i), Daddr: 1, Sport: uint16(i), Dport: 80, Proto: protoTCP}
		v := bpfobj.DatapathNoriCtValue{Expires: uint64(now) + uint64(time.Hour)}
		if i%2 == 0 {
			v.Expires = uint64(now) - uint64(time.Second)
		}
		if err := f.objs.NoriCt.Put(&k, &v); err != nil {
			t.Fatal(err)
		}
	}
	n, err := f.dp.GCConntrack()
	if want := (flows + 1) / 2; err != nil || n != want {
		t.Fatalf("GCConntrack = %d, %v; want %d", n, err, want)
	}
	ct := f.ct()
	if want := flows / 2; len(ct) != want {
		t.Fatalf("%d entries left, want the %d live ones", len(ct), want)
	}
	for _, e := range ct {
		if e.Expires <= 0 {
			t.Fatalf("expired entry left: %+v", e)
		}
	}
}
