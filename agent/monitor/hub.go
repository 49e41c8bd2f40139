// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nori-net/nori/agent/api"
	"github.com/nori-net/nori/agent/datapath"
)

// Reader yields raw ring buffer records. Read blocks until a record is
// there and fails with an error wrapping os.ErrClosed once Close was
// called. RingbufReader adapts *ringbuf.Reader.
type Reader interface {
	Read() (raw []byte, err error)
	Close() error
}

// Enricher names what the datapath only numbers. Its methods run on the
// reader's goroutine for every event someone listens to, so they must be
// cheap (a map lookup) and must not block.
type Enricher interface {
	// IdentityLabels returns the labels of a security identity, nil when
	// unknown.
	IdentityLabels(id uint32) []string
	// Endpoint returns the name of a local endpoint (the container's).
	Endpoint(id uint16) (name string, ok bool)
}

// RuleLabeler is optionally implemented by an Enricher to turn the
// datapath's rule IDs into the labels of the rules.
type RuleLabeler interface {
	RuleLabels(id uint32) []string
}

// DefaultBuffer is the per-subscriber queue length when Config.Buffer is 0.
const DefaultBuffer = 1024

// Config configures a Hub. Every field is optional.
type Config struct {
	// Reader is the ring buffer; nil means only Publish feeds the Hub.
	Reader Reader
	// Decode turns a record into an event; nil means datapath.ParseEvent.
	Decode func(raw []byte) (datapath.Event, error)
	// Enricher adds labels and names; nil leaves them out.
	Enricher Enricher
	// NodeName is put into every event.
	NodeName string
	// Buffer is the per-subscriber queue length.
	Buffer int
	// OnSubscribersChanged is called with the number of subscribers after
	// each Subscribe, cancel and Close, one call at a time and in order,
	// so the agent can turn the datapath's costly event kinds (traces,
	// policy verdicts) on only while someone listens; Subscribers(type)
	// tells which kinds. It must not Subscribe or cancel itself.
	OnSubscribersChanged func(n int)
	// Now stamps events; nil means time.Now. The kernel's timestamp is
	// monotonic since boot, and an event waits in the ring buffer for
	// microseconds only, so the receive time is the useful one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats are the Hub's counters.
type Stats struct {
	// Received counts ring buffer records and published events.
	Received uint64
	// DecodeErrors counts records Decode rejected.
	DecodeErrors uint64
	// Lost counts events not delivered to a slow subscriber (per
	// subscriber: an event two slow subscribers miss counts twice).
	Lost        uint64
	Subscribers int
}

// Hub fans datapath events out to subscribers.
type Hub struct {
	cfg Config
	log *slog.Logger

	// notifyMu orders OnSubscribersChanged calls; mu guards subs. Events
	// are delivered under mu's read lock, and channels are closed under
	// its write lock, so a send never meets a closed channel.
	notifyMu sync.Mutex
	mu       sync.RWMutex
	subs     map[*subscriber]struct{}
	closed   bool

	closeReader sync.Once
	received    atomic.Uint64
	decodeErrs  atomic.Uint64
	lost        atomic.Uint64
}

type subscriber struct {
	types map[string]bool // nil: every type
	ch    chan api.MonitorEvent
	// lost counts events missed since the subscriber was last told.
	lost atomic.Uint64
}

func (s *subscriber) wants(typ string) bool {
	if s.types == nil {
		return true
	}
	return s.types[typ]
}

// NewHub returns a Hub; start reading with Run.
func NewHub(cfg Config) *Hub {
	if cfg.Decode == nil {
		cfg.Decode = datapath.ParseEvent
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{cfg: cfg, log: cfg.Logger.With("subsys", "monitor"), subs: map[*subscriber]struct{}{}}
}

// Run reads the ring buffer until ctx ends or the Hub is closed (then it
// returns nil) or reading fails. It must be called at most once.
func (h *Hub) Run(ctx context.Context) error {
	r := h.cfg.Reader
	if r == nil {
		<-ctx.Done()
		return nil
	}
	stop := context.AfterFunc(ctx, h.closeTheReader)
	defer stop()
	for {
		raw, err := r.Read()
		if err != nil {
			if errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read events: %w", err)
		}
		h.received.Add(1)
		dev, err := h.cfg.Decode(raw)
		if err != nil {
			if h.decodeErrs.Add(1) == 1 {
				h.log.Warn("cannot decode datapath event; counting further ones silently", "err", err)
			}
			continue
		}
		typ := eventType(dev.Type)
		if h.Subscribers(typ) == 0 {
			continue
		}
		ev := Convert(dev)
		ev.Time = h.cfg.Now()
		ev.Node = h.cfg.NodeName
		h.enrich(&ev)
		h.deliver(ev)
	}
}

func (h *Hub) closeTheReader() {
	h.closeReader.Do(func() {
		if h.cfg.Reader != nil {
			if err := h.cfg.Reader.Close(); err != nil {
				h.log.Debug("close event reader", "err", err)
			}
		}
	})
}

// Publish hands an event from outside the datapath (l7) to the
// subscribers; it never blocks. A zero Time is set to now, an empty Node
// to the Hub's; labels are added as for datapath events.
func (h *Hub) Publish(ev api.MonitorEvent) {
	h.received.Add(1)
	if ev.Time.IsZero() {
		ev.Time = h.cfg.Now()
	}
	if ev.Node == "" {
		ev.Node = h.cfg.NodeName
	}
	h.enrich(&ev)
	h.deliver(ev)
}

func (h *Hub) enrich(ev *api.MonitorEvent) {
	e := h.cfg.Enricher
	if e == nil {
		return
	}
	if ev.SrcIdentity != 0 {
		ev.SrcLabels = e.IdentityLabels(ev.SrcIdentity)
	}
	if ev.DstIdentity != 0 {
		ev.DstLabels = e.IdentityLabels(ev.DstIdentity)
	}
	if ev.EndpointID != 0 {
		if name, ok := e.Endpoint(ev.EndpointID); ok {
			ev.EndpointName = name
		}
	}
	if rl, ok := e.(RuleLabeler); ok && ev.RuleID != 0 {
		ev.Rule = rl.RuleLabels(ev.RuleID)
	}
}

// deliver queues ev for every subscriber that wants it, dropping it for
// those whose queue is full. A subscriber that lost events first gets a
// lost event saying how many, as soon as its queue has room again.
func (h *Hub) deliver(ev api.MonitorEvent) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if !s.wants(ev.Type) {
			continue
		}
		if n := s.lost.Load(); n > 0 {
			select {
			case s.ch <- api.MonitorEvent{Time: ev.Time, Type: api.MonitorLost, Lost: n, Node: h.cfg.NodeName}:
				s.lost.Add(^(n - 1))
			default:
				s.lost.Add(1)
				h.lost.Add(1)
				continue
			}
		}
		select {
		case s.ch <- ev:
		default:
			s.lost.Add(1)
			h.lost.Add(1)
		}
	}
}

// Subscribe returns a channel of the events of the given types (every
// type when empty; unknown types match nothing) and a cancel func that
// ends the subscription and closes the channel. The channel is also
// closed when the Hub is closed.
func (h *Hub) Subscribe(types []string) (<-chan api.MonitorEvent, func()) {
	s := &subscriber{ch: make(chan api.MonitorEvent, h.cfg.Buffer)}
	if len(types) > 0 {
		s.types = make(map[string]bool, len(types))
		for _, t := range types {
			s.types[t] = true
		}
	}
	added := h.update(func() bool {
		if h.closed {
			close(s.ch)
			return false
		}
		h.subs[s] = struct{}{}
		return true
	})
	if !added {
		return s.ch, func() {}
	}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.update(func() bool {
				if _, ok := h.subs[s]; !ok {
					return false // the Hub was closed meanwhile
				}
				delete(h.subs, s)
				close(s.ch)
				return true
			})
		})
	}
}

// update runs change under the write lock and, when it reports a change,
// tells OnSubscribersChanged the new count.
func (h *Hub) update(change func() bool) bool {
	h.notifyMu.Lock()
	defer h.notifyMu.Unlock()
	h.mu.Lock()
	changed := change()
	n := len(h.subs)
	h.mu.Unlock()
	if changed && h.cfg.OnSubscribersChanged != nil {
		h.cfg.OnSubscribersChanged(n)
	}
	return changed
}

// Subscribers returns how many subscribers receive events of type typ.
func (h *Hub) Subscribers(typ string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for s := range h.subs {
		if s.wants(typ) {
			n++
		}
	}
	return n
}

// Stats returns the Hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	n := len(h.subs)
	h.mu.RUnlock()
	return Stats{Received: h.received.Load(), DecodeErrors: h.decodeErrs.Load(), Lost: h.lost.Load(), Subscribers: n}
}

// Close stops Run, closes the reader and every subscriber's channel.
func (h *Hub) Close() error {
	h.closeTheReader()
	h.update(func() bool {
		if h.closed {
			return false
		}
		h.closed = true
		had := len(h.subs) > 0
		for s := range h.subs {
			close(s.ch)
			delete(h.subs, s)
		}
		return had
	})
	return nil
}
