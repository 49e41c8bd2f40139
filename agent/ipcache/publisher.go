// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipcache

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
)

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	// NodeName and HostIP are written into every entry.
	NodeName string
	HostIP   netip.Addr
	// Timeout bounds one etcd write; 5 s when zero.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Publisher writes the local node's ipcache entries. Upsert and Delete
// only record what is wanted and return at once; a goroutine (Run) brings
// etcd in line, folding several changes of one address into one write and
// retrying with backoff while etcd is away.
type Publisher struct {
	store  *kvstore.Store
	cfg    PublisherConfig
	logger *slog.Logger
	kick   chan struct{}

	mu    sync.Mutex
	want  map[netip.Addr]Entry // the local entries that should exist
	dirty map[netip.Addr]bool  // addresses whose etcd key may differ from want
	// statistics for Status
	writes    int
	lastErr   string
	lastErrAt time.Time
}

// PublisherStatus reports the Publisher's progress.
type PublisherStatus struct {
	Entries   int // local entries wanted in etcd
	Pending   int // of which (or deletes) not written yet
	Writes    int // writes done since start
	LastError string
	LastErrAt time.Time
}

// NewPublisher returns a Publisher; nothing is written until Run.
func NewPublisher(store *kvstore.Store, cfg PublisherConfig) *Publisher {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Publisher{
		store:  store,
		cfg:    cfg,
		logger: cfg.Logger.With("subsys", "ipcache-publisher"),
		kick:   make(chan struct{}, 1),
		want:   map[netip.Addr]Entry{},
		dirty:  map[netip.Addr]bool{},
	}
}

// Upsert asks for ipcache/<ip> → identity. It never waits for etcd; ctx
// is not used for the write, which outlives the caller.
func (p *Publisher) Upsert(_ context.Context, ip netip.Addr, identity uint32) error {
	if !ip.Is4() {
		return fmt.Errorf("publish ipcache entry %v: not an IPv4 address", ip)
	}
	p.mu.Lock()
	if cur, ok := p.want[ip]; !ok || cur.Identity != identity {
		p.want[ip] = p.entry(ip, identity)
		p.dirty[ip] = true
	}
	p.mu.Unlock()
	p.wake()
	return nil
}

// Delete asks for ipcache/<ip> to go away. It never waits for etcd.
func (p *Publisher) Delete(_ context.Context, ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("delete ipcache entry %v: not an IPv4 address", ip)
	}
	p.mu.Lock()
	delete(p.want, ip)
	p.dirty[ip] = true
	p.mu.Unlock()
	p.wake()
	return nil
}

// Sync replaces the wanted entries with desired (the endpoints restored
// at agent start) and deletes this node's entries in etcd that are not
// in it. It waits for etcd only to list the existing entries; when that
// fails it returns the error, and the entries of desired are still
// written by Run (stale ones then go with the previous run's lease).
func (p *Publisher) Sync(ctx context.Context, desired map[netip.Addr]uint32) error {
	kvs, _, listErr := p.store.List(ctx, KeyPrefix)
	existing := map[netip.Addr]Entry{}
	for _, kv := range kvs {
		e, err := decodeEntry(kv.Key, kv.Value)
		if err != nil || e.Node != p.cfg.NodeName {
			continue
		}
		existing[e.IP] = e
	}
	p.mu.Lock()
	for ip := range p.want {
		if _, ok := desired[ip]; !ok {
			delete(p.want, ip)
			p.dirty[ip] = true
		}
	}
	for ip, id := range desired {
		if !ip.Is4() {
			continue
		}
		e := p.entry(ip, id)
		if cur, ok := p.want[ip]; ok && cur.Identity == id {
			e = cur
		} else if old, ok := existing[ip]; ok && old.sameContent(e) {
			// Put the same bytes again (for the new lease): other nodes
			// then see no change and measure no false propagation time.
			e = old
		}
		p.want[ip] = e
		p.dirty[ip] = true
	}
	for ip := range existing {
		if _, ok := p.want[ip]; !ok {
			p.dirty[ip] = true
		}
	}
	p.mu.Unlock()
	p.wake()
	if listErr != nil {
		return fmt.Errorf("sync ipcache entries: %w", listErr)
	}
	return nil
}

func (p *Publisher) entry(ip netip.Addr, identity uint32) Entry {
	return Entry{IP: ip, Identity: identity, HostIP: p.cfg.HostIP, Node: p.cfg.NodeName, Created: time.Now().UnixNano()}
}

func (p *Publisher) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run writes wanted changes to etcd until ctx ends.
func (p *Publisher) Run(ctx context.Context) {
	const minBackoff, maxBackoff = 200 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-p.kick:
		case <-retry.C:
		case <-ctx.Done():
			return
		}
		if err := p.flush(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.logger.Debug("ipcache publish failed, retrying", "err", err, "in", backoff)
			retry.Reset(backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}

// flush writes every dirty address; it stops at the first failure, since
// the next write would most likely fail the same way.
func (p *Publisher) flush(ctx context.Context) error {
	p.mu.Lock()
	ips := make([]netip.Addr, 0, len(p.dirty))
	for ip := range p.dirty {
		ips = append(ips, ip)
	}
	p.mu.Unlock()
	for _, ip := range ips {
		p.mu.Lock()
		e, put := p.want[ip]
		p.mu.Unlock()
		err := p.write(ctx, ip, e, put)
		p.mu.Lock()
		if err != nil {
			p.lastErr, p.lastErrAt = err.Error(), time.Now()
			p.mu.Unlock()
			return err
		}
		p.writes++
		// Only clean when nothing changed meanwhile; otherwise the change
		// already woke Run for another round.
		if cur, ok := p.want[ip]; ok == put && cur == e {
			delete(p.dirty, ip)
		}
		p.mu.Unlock()
	}
	return nil
}

func (p *Publisher) write(ctx context.Context, ip netip.Addr, e Entry, put bool) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	if !put {
		return p.store.Delete(ctx, Key(ip))
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ipcache entry %s: %w", ip, err)
	}
	return p.store.PutWithLease(ctx, Key(ip), data)
}

// Status reports what is still to be written.
func (p *Publisher) Status() PublisherStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PublisherStatus{Entries: len(p.want), Pending: len(p.dirty), Writes: p.writes, LastError: p.lastErr, LastErrAt: p.lastErrAt}
}
