// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/nori-net/nori/agent/kvstore"
)

const (
	idPrefix     = "identities/id/"
	labelsPrefix = "identities/labels/"
	usagePrefix  = "identities/usage/"
	// maxAttempts bounds the retries of one allocation when other hosts
	// keep taking the candidate numbers first.
	maxAttempts = 64
	// usagePutTimeout bounds the wait for etcd when recording a usage key;
	// a failed put is retried by the kvstore.
	usagePutTimeout = 2 * time.Second
)

// ErrInvalid: the label set cannot get an identity (malformed labels, or
// reserved labels mixed with others).
var ErrInvalid = errors.New("invalid label set")

// ErrExhausted: the cluster's identity range is full.
var ErrExhausted = errors.New("identity range exhausted")

// Config configures an Allocator.
type Config struct {
	ClusterID uint32
	// NodeName names this host's usage keys.
	NodeName string
	Logger   *slog.Logger
}

// Allocator allocates identities in etcd and caches every identity of the
// cluster. Safe for concurrent use.
type Allocator struct {
	store       *kvstore.Store
	node        string
	first, last uint32
	logger      *slog.Logger
	synced      chan struct{}

	// allocMu serialises local allocations: concurrent Allocate calls for
	// the same labels then share one etcd round and one reference count.
	allocMu sync.Mutex

	mu    sync.RWMutex
	byID  map[uint32]Identity
	byKey map[string]uint32
	refs  map[uint32]int
}

// New starts an Allocator whose cache follows etcd until ctx ends.
func New(ctx context.Context, store *kvstore.Store, cfg Config) (*Allocator, error) {
	first, last, err := Range(cfg.ClusterID)
	if err != nil {
		return nil, err
	}
	if cfg.NodeName == "" || strings.Contains(cfg.NodeName, "/") {
		return nil, fmt.Errorf("identity allocator: invalid node name %q", cfg.NodeName)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Allocator{
		store:  store,
		node:   cfg.NodeName,
		first:  first,
		last:   last,
		logger: cfg.Logger.With("subsys", "identity"),
		synced: make(chan struct{}),
		byID:   map[uint32]Identity{},
		byKey:  map[string]uint32{},
		refs:   map[uint32]int{},
	}
	go a.follow(ctx)
	return a, nil
}

// WaitSynced blocks until the cache holds every identity that existed in
// etcd when New was called.
func (a *Allocator) WaitSynced(ctx context.Context) error {
	select {
	case <-a.synced:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for identity cache: %w", ctx.Err())
	}
}

func (a *Allocator) follow(ctx context.Context) {
	for ev := range a.store.ListAndWatch(ctx, idPrefix) {
		switch ev.Type {
		case kvstore.EventSynced:
			close(a.synced)
		case kvstore.EventUpsert:
			id, err := parseID(ev.Key)
			if err != nil {
				continue
			}
			ls, err := ParseKey(string(ev.Value))
			if err != nil {
				a.logger.Warn("ignoring malformed identity", "key", ev.Key, "err", err)
				continue
			}
			a.cache(id, ls)
		case kvstore.EventDelete:
			id, err := parseID(ev.Key)
			if err != nil {
				continue
			}
			a.mu.Lock()
			old, ok := a.byID[id]
			if ok {
				delete(a.byKey, old.Labels.Key())
				delete(a.byID, id)
			}
			inUse := a.refs[id] > 0
			a.mu.Unlock()
			if ok && inUse {
				// A collector saw no usage key (ours was not written
				// yet): the identity must exist while we use it.
				go a.restore(ctx, id, old.Labels.Key())
			}
		}
	}
}

func (a *Allocator) cache(id uint32, ls Labels) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.byID[id]; ok {
		delete(a.byKey, old.Labels.Key())
	}
	a.byID[id] = Identity{ID: id, Labels: ls}
	a.byKey[ls.Key()] = id
}

// Allocate returns the identity of a label set ("container:name=app1",
// ...), allocating it cluster-wide when it is new, and records that this
// node uses it. Each successful Allocate should be paired with a Release.
func (a *Allocator) Allocate(ctx context.Context, labels []string) (uint32, error) {
	ls, err := NewLabels(labels)
	if err != nil {
		return 0, fmt.Errorf("allocate identity: %w: %w", ErrInvalid, err)
	}
	if id, ok := LookupReserved(ls); ok {
		return id, nil
	}
	for _, l := range ls {
		if l.Source == SourceReserved {
			return 0, fmt.Errorf("allocate identity for %v: reserved label %s mixed with others: %w", ls.Strings(), l, ErrInvalid)
		}
	}
	// An empty label set is a valid identity: containers without labels
	// (or from a caller no runtime can be asked about) share it, and
	// selectors such as `{}` still match them.
	a.allocMu.Lock()
	defer a.allocMu.Unlock()
	// A number never changes its labels, so a cached one needs no etcd
	// round trip, and endpoints with known labels get their identity even
	// while etcd is away.
	a.mu.RLock()
	id, cached := a.byKey[ls.Key()]
	first := a.refs[id] == 0
	a.mu.RUnlock()
	if !cached {
		var err error
		if id, err = a.findOrCreate(ctx, ls); err != nil {
			return 0, err
		}
		a.mu.RLock()
		first = a.refs[id] == 0
		a.mu.RUnlock()
	}
	if first {
		// The kvstore remembers the key and writes it once etcd answers.
		putCtx, cancel := context.WithTimeout(ctx, usagePutTimeout)
		err := a.store.PutWithLease(putCtx, usageKey(id, a.node), nil)
		cancel()
		if err != nil {
			a.logger.Warn("usage of identity not recorded yet", "id", id, "err", err)
		}
	}
	a.mu.Lock()
	a.refs[id]++
	a.mu.Unlock()
	a.cache(id, ls)
	return id, nil
}

func (a *Allocator) findOrCreate(ctx context.Context, ls Labels) (uint32, error) {
	// Candidates come from the cache; before it is complete most of them
	// would be taken.
	if err := a.WaitSynced(ctx); err != nil {
		return 0, err
	}
	key := ls.Key()
	lkey := labelsPrefix + hashKey(key)
	tried := map[uint32]bool{}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		kv, found, err := a.store.Get(ctx, lkey)
		if err != nil {
			return 0, fmt.Errorf("allocate identity: %w", err)
		}
		if found {
			return a.verify(ctx, kv.Value, key)
		}
		cand, ok := a.candidate(tried)
		if !ok {
			return 0, fmt.Errorf("allocate identity for %v: all of %d-%d in use: %w", ls.Strings(), a.first, a.last, ErrExhausted)
		}
		tried[cand] = true
		ikey := a.store.Key(idPrefix + strconv.FormatUint(uint64(cand), 10))
		lfull := a.store.Key(lkey)
		resp, err := a.store.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(ikey), "=", 0),
				clientv3.Compare(clientv3.CreateRevision(lfull), "=", 0)).
			Then(clientv3.OpPut(ikey, key), clientv3.OpPut(lfull, strconv.FormatUint(uint64(cand), 10))).
			Else(clientv3.OpGet(lfull)).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("allocate identity: %w", err)
		}
		if resp.Succeeded {
			a.logger.Info("allocated identity", "id", cand, "labels", ls.Strings())
			return cand, nil
		}
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			// Another host allocated these labels meanwhile: use its number.
			return a.verify(ctx, kvs[0].Value, key)
		}
		// The number went to other labels; try the next one.
	}
	return 0, fmt.Errorf("allocate identity for %v: gave up after %d attempts", ls.Strings(), maxAttempts)
}

// verify checks that id/<N> names the same labels as labels/<hash> led to,
// which guards against a half-deleted pair.
func (a *Allocator) verify(ctx context.Context, val []byte, key string) (uint32, error) {
	n, err := strconv.ParseUint(string(val), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("allocate identity: malformed labels entry %q", val)
	}
	kv, found, err := a.store.Get(ctx, idPrefix+strconv.FormatUint(n, 10))
	if err != nil {
		return 0, fmt.Errorf("allocate identity: %w", err)
	}
	if !found || string(kv.Value) != key {
		return 0, fmt.Errorf("allocate identity: identity %d does not match labels %q in etcd (stale labels entry)", n, key)
	}
	return uint32(n), nil
}

// candidate picks the lowest number neither cached as used nor already
// tried; the transaction finds out whether it is really free.
func (a *Allocator) candidate(tried map[uint32]bool) (uint32, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for id := a.first; id <= a.last; id++ {
		if _, used := a.byID[id]; !used && !tried[id] {
			return id, true
		}
	}
	return 0, false
}

// Release drops one use of id by this node; after the last one the node's
// usage key goes. Reserved and unknown identities are ignored.
func (a *Allocator) Release(ctx context.Context, id uint32) error {
	a.allocMu.Lock()
	defer a.allocMu.Unlock()
	a.mu.Lock()
	n := a.refs[id]
	a.mu.Unlock()
	if n == 0 {
		return nil
	}
	if n == 1 {
		if err := a.store.Delete(ctx, usageKey(id, a.node)); err != nil {
			return fmt.Errorf("release identity %d: %w", id, err)
		}
	}
	a.mu.Lock()
	if a.refs[id]--; a.refs[id] == 0 {
		delete(a.refs, id)
	}
	a.mu.Unlock()
	return nil
}

// Lookup returns an identity by number, reserved ones included.
func (a *Allocator) Lookup(id uint32) (Identity, bool) {
	if name, ok := reservedNames[id]; ok {
		return Identity{ID: id, Labels: Labels{{Source: SourceReserved, Key: name}}, Reserved: true}, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	i, ok := a.byID[id]
	return i, ok
}

// LookupLabels returns the identity of a label set if one exists already.
func (a *Allocator) LookupLabels(labels []string) (uint32, bool) {
	ls, err := NewLabels(labels)
	if err != nil {
		return 0, false
	}
	if id, ok := LookupReserved(ls); ok {
		return id, true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	id, ok := a.byKey[ls.Key()]
	return id, ok
}

// List returns the reserved identities and every identity of the cluster,
// ordered by number.
func (a *Allocator) List() []Identity {
	out := ReservedIdentities()
	a.mu.RLock()
	for _, i := range a.byID {
		out = append(out, i)
	}
	a.mu.RUnlock()
	slices.SortFunc(out, func(x, y Identity) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

func usageKey(id uint32, node string) string {
	return usagePrefix + strconv.FormatUint(uint64(id), 10) + "/" + node
}

func hashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func parseID(key string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(key, idPrefix), 10, 32)
	return uint32(n), err
}
