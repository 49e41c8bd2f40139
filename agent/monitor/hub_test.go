// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package monitor

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
)

// fakeReader hands out records pushed by the test.
type fakeReader struct {
	recs chan []byte
	done chan struct{}
	once sync.Once
}

func newFakeReader() *fakeReader {
	return &fakeReader{recs: make(chan []byte), done: make(chan struct{})}
}

func (r *fakeReader) Read() ([]byte, error) {
	select {
	case raw := <-r.recs:
		if string(raw) == "fail" {
			return nil, errors.New("device gone")
		}
		return raw, nil
	case <-r.done:
		return nil, os.ErrClosed
	}
}

func (r *fakeReader) Close() error {
	r.once.Do(func() { close(r.done) })
	return nil
}

// push blocks until Run took the record, so the test knows it is being
// processed.
func (r *fakeReader) push(t *testing.T, raw ...[]byte) {
	t.Helper()
	for _, b := range raw {
		select {
		case r.recs <- b:
		case <-time.After(5 * time.Second):
			t.Fatal("hub did not read the record")
		}
	}
}

// testEvents are what fakeDecode returns for a one-byte record.
var testEvents = map[byte]datapath.Event{
	'd': {Type: datapath.EventDrop, Reason: datapath.ReasonDropPolicy, Dir: datapath.DirIngress, Proto: 6,
		EndpointID: 12, SrcIdentity: 260, DstIdentity: 261, Len: 60,
		Src: netip.MustParseAddrPort("10.0.1.2:40000"), Dst: netip.MustParseAddrPort("10.0.1.3:80")},
	't': {Type: datapath.EventTrace, TracePoint: datapath.TraceToOverlay, Dir: datapath.DirEgress, Proto: 1,
		EndpointID: 12, SrcIdentity: 260, Src: netip.MustParseAddrPort("10.0.1.2:0"),
		Dst: netip.MustParseAddrPort("10.0.2.9:0"), TunnelEndpoint: netip.MustParseAddr("172.30.0.2")},
	'p': {Type: datapath.EventPolicy, Verdict: datapath.PolicyAllow, RuleID: 4, Dir: datapath.DirIngress, Proto: 17,
		EndpointID: 13, SrcIdentity: 999, DstIdentity: 261,
		Src: netip.MustParseAddrPort("10.0.1.2:5353"), Dst: netip.MustParseAddrPort("10.0.1.3:53")},
}

func fakeDecode(raw []byte) (datapath.Event, error) {
	if len(raw) != 1 {
		return datapath.Event{}, errors.New("bad record")
	}
	e, ok := testEvents[raw[0]]
	if !ok {
		return datapath.Event{}, errors.New("unknown record")
	}
	return e, nil
}

type fakeEnricher struct{}

func (fakeEnricher) IdentityLabels(id uint32) []string {
	switch id {
	case 260:
		return []string{"container:app=client"}
	case 261:
		return []string{"container:app=server"}
	}
	return nil
}

func (fakeEnricher) Endpoint(id uint16) (string, bool) { return "web", id == 12 }

func (fakeEnricher) RuleLabels(id uint32) []string {
	return []string{"unspec:name=r" + string(rune('0'+id))}
}

var testTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func startHub(t *testing.T, cfg Config) (*Hub, *fakeReader, <-chan error) {
	t.Helper()
	r := newFakeReader()
	cfg.Reader = r
	cfg.Decode = fakeDecode
	cfg.Now = func() time.Time { return testTime }
	h := NewHub(cfg)
	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	t.Cleanup(func() { h.Close() })
	return h, r, done
}

func recv(t *testing.T, ch <-chan api.MonitorEvent) api.MonitorEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return api.MonitorEvent{}
}

func expectNone(t *testing.T, ch <-chan api.MonitorEvent) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// waitReceived waits until the hub has processed n records.
func waitReceived(t *testing.T, h *Hub, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.Stats().Received < n {
		if time.Now().After(deadline) {
			t.Fatalf("hub processed %d records, want %d", h.Stats().Received, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHubFanOutByType(t *testing.T) {
	h, r, _ := startHub(t, Config{Enricher: fakeEnricher{}, NodeName: "host1"})
	drops, cancelDrops := h.Subscribe([]string{api.MonitorDrop})
	defer cancelDrops()
	all, cancelAll := h.Subscribe(nil)
	defer cancelAll()

	r.push(t, []byte("d"), []byte("t"), []byte("p"))

	want := api.MonitorEvent{
		Time: testTime, Type: api.MonitorDrop, Reason: "drop-policy", Direction: "ingress",
		EndpointID: 12, EndpointName: "web", SrcIdentity: 260, SrcLabels: []string{"container:app=client"},
		DstIdentity: 261, DstLabels: []string{"container:app=server"},
		Src: "10.0.1.2:40000", Dst: "10.0.1.3:80", Proto: "tcp", Length: 60, Node: "host1",
	}
	for _, ch := range []<-chan api.MonitorEvent{drops, all} {
		if got := recv(t, ch); !equalEvents(got, want) {
			t.Errorf("drop event = %+v\nwant %+v", got, want)
		}
	}
	if got := recv(t, all); got.Type != api.MonitorTrace || got.Reason != "to-overlay" || got.Src != "10.0.1.2" ||
		got.Dst != "10.0.2.9" || got.TunnelEndpoint != "172.30.0.2" || got.Proto != "icmp" {
		t.Errorf("trace event = %+v", got)
	}
	got := recv(t, all)
	if got.Type != api.MonitorPolicyVerdict || got.Verdict != "allow" || got.SrcLabels != nil || got.EndpointName != "" ||
		got.RuleID != 4 || !slices.Equal(got.Rule, []string{"unspec:name=r4"}) {
		t.Errorf("policy-verdict event = %+v", got)
	}
	waitReceived(t, h, 3)
	expectNone(t, drops)
}

func equalEvents(a, b api.MonitorEvent) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestHubSlowSubscriberLosesWithoutBlocking(t *testing.T) {
	h, r, _ := startHub(t, Config{Buffer: 2})
	slow, cancel := h.Subscribe([]string{api.MonitorDrop})
	defer cancel()

	// Five records into a queue of two: the reader must not wait.
	for range 5 {
		r.push(t, []byte("d"))
	}
	waitReceived(t, h, 5)
	if st := h.Stats(); st.Lost != 3 {
		t.Fatalf("lost = %d, want 3", st.Lost)
	}
	recv(t, slow)
	recv(t, slow)
	expectNone(t, slow)

	// With room again, the subscriber first learns what it missed.
	r.push(t, []byte("d"))
	if ev := recv(t, slow); ev.Type != api.MonitorLost || ev.Lost != 3 {
		t.Fatalf("first event after the loss = %+v, want lost 3", ev)
	}
	if ev := recv(t, slow); ev.Type != api.MonitorDrop {
		t.Fatalf("event = %+v, want the drop", ev)
	}
	r.push(t, []byte("d"))
	if ev := recv(t, slow); ev.Type != api.MonitorDrop {
		t.Fatalf("event = %+v, want a drop and no further lost event", ev)
	}
}

func TestHubSubscribersChanged(t *testing.T) {
	var mu sync.Mutex
	var calls []int
	var hub *Hub
	var traceListeners []int
	hub = NewHub(Config{OnSubscribersChanged: func(n int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, n)
		traceListeners = append(traceListeners, hub.Subscribers(api.MonitorTrace))
	}})
	_, c1 := hub.Subscribe([]string{api.MonitorDrop})
	ch2, c2 := hub.Subscribe(nil)
	_, c3 := hub.Subscribe([]string{api.MonitorTrace, api.MonitorPolicyVerdict})
	c1()
	c1() // twice is harmless
	c2()
	if _, ok := <-ch2; ok {
		t.Fatal("channel open after cancel")
	}
	if err := hub.Close(); err != nil {
		t.Fatal(err)
	}
	c3() // after Close: no call
	ch4, c4 := hub.Subscribe(nil)
	c4()
	if _, ok := <-ch4; ok {
		t.Fatal("subscription after Close got an open channel")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 2, 3, 2, 1, 0}; !slices.Equal(calls, want) {
		t.Errorf("OnSubscribersChanged calls = %v, want %v", calls, want)
	}
	if want := []int{0, 1, 2, 2, 1, 0}; !slices.Equal(traceListeners, want) {
		t.Errorf("trace listeners seen = %v, want %v", traceListeners, want)
	}
}

func TestHubRunEnds(t *testing.T) {
	tests := []struct {
		name    string
		end     func(h *Hub, r *fakeReader, cancel context.CancelFunc)
		wantErr bool
	}{
		{"close", func(h *Hub, _ *fakeReader, _ context.CancelFunc) { h.Close() }, false},
		{"context", func(_ *Hub, _ *fakeReader, cancel context.CancelFunc) { cancel() }, false},
		{"read error", func(_ *Hub, r *fakeReader, _ context.CancelFunc) { r.recs <- []byte("fail") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeReader()
			h := NewHub(Config{Reader: r, Decode: fakeDecode})
			defer h.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch, _ := h.Subscribe(nil)
			done := make(chan error, 1)
			go func() { done <- h.Run(ctx) }()
			tt.end(h, r, cancel)
			select {
			case err := <-done:
				if (err != nil) != tt.wantErr {
					t.Fatalf("Run = %v, want error %v", err, tt.wantErr)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			if tt.name == "close" {
				if _, ok := <-ch; ok {
					t.Fatal("subscriber channel open after Close")
				}
			}
		})
	}
}

func TestHubDecodeErrorsAreCounted(t *testing.T) {
	h, r, _ := startHub(t, Config{})
	ch, cancel := h.Subscribe(nil)
	defer cancel()
	r.push(t, []byte("garbage"), []byte("d"))
	if ev := recv(t, ch); ev.Type != api.MonitorDrop {
		t.Fatalf("event = %+v", ev)
	}
	if st := h.Stats(); st.DecodeErrors != 1 || st.Received != 2 || st.Subscribers != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestHubPublish(t *testing.T) {
	h := NewHub(Config{NodeName: "host1", Now: func() time.Time { return testTime }})
	l7, c1 := h.Subscribe([]string{api.MonitorL7})
	defer c1()
	drops, c2 := h.Subscribe([]string{api.MonitorDrop})
	defer c2()
	h.Publish(api.MonitorEvent{Type: api.MonitorL7, Verdict: "allow", HTTP: &api.MonitorHTTP{Method: "GET", Path: "/"}})
	ev := recv(t, l7)
	if ev.Node != "host1" || !ev.Time.Equal(testTime) || ev.HTTP == nil || ev.HTTP.Method != "GET" {
		t.Fatalf("published event = %+v", ev)
	}
	expectNone(t, drops)
}

func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		in   datapath.Event
		want api.MonitorEvent
	}{
		{"deny", datapath.Event{Type: datapath.EventPolicy, Verdict: datapath.PolicyDeny, Proto: 6, Dir: datapath.DirEgress,
			Src: netip.MustParseAddrPort("10.0.1.2:1"), Dst: netip.MustParseAddrPort("10.0.1.3:2")},
			api.MonitorEvent{Type: api.MonitorPolicyVerdict, Verdict: "deny", Proto: "tcp", Direction: "egress",
				Src: "10.0.1.2:1", Dst: "10.0.1.3:2"}},
		{"redirect", datapath.Event{Type: datapath.EventPolicy, Verdict: datapath.PolicyAllow, ProxyPort: 15001, Proto: 6},
			api.MonitorEvent{Type: api.MonitorPolicyVerdict, Verdict: "redirect", Proto: "tcp", ProxyPort: 15001}},
		{"unknown verdict", datapath.Event{Type: datapath.EventPolicy, Verdict: 9, Proto: 132},
			api.MonitorEvent{Type: api.MonitorPolicyVerdict, Verdict: "verdict-9", Proto: "sctp"}},
		{"drop without packet", datapath.Event{Type: datapath.EventDrop, Reason: datapath.ReasonDropInvalid},
			api.MonitorEvent{Type: api.MonitorDrop, Reason: "drop-invalid", Proto: "any"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Convert(tt.in); !equalEvents(got, tt.want) {
				t.Errorf("Convert = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
