// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// KeyValue is one key read from etcd; Key is relative to the cluster prefix.
type KeyValue struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Lease          int64
}

// Store is the agent's connection to etcd. It is safe for concurrent use.
type Store struct {
	cli       *clientv3.Client
	prefix    string
	cluster   string
	ttl       time.Duration
	endpoints []string
	logger    *slog.Logger
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	// putMu orders leased puts against the restore after a new lease, so a
	// restore never writes back a value older than a concurrent put.
	putMu   sync.Mutex
	leased  map[string]string // full key → value, guarded by putMu
	pending map[string]bool   // leased keys whose last put failed, guarded by putMu
	// pendingDel are leased keys whose delete failed, guarded by putMu.
	pendingDel map[string]bool

	mu        sync.Mutex // guards the fields below
	leaseID   clientv3.LeaseID
	lastRenew time.Time
	lastErr   error
	lastErrAt time.Time
}

// Connect opens the etcd client and grants the agent's session lease. It
// blocks until the lease is granted or ctx ends, so pass a deadline.
func Connect(ctx context.Context, cfg ClientConfig) (*Store, error) {
	s, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	id, err := s.grant(ctx)
	if err != nil {
		s.cli.Close()
		return nil, fmt.Errorf("connect to etcd at %v: %w", s.endpoints, err)
	}
	s.run(id)
	s.logger.Info("connected to etcd", "endpoints", s.endpoints, "prefix", s.prefix, "lease", fmt.Sprintf("%x", int64(id)), "ttl", s.ttl)
	return s, nil
}

// ConnectLater returns a Store at once and grants the session lease in the
// background, retrying with backoff until etcd answers. It is for an agent
// that restarts while etcd is away and can run from its state dir
// meanwhile: reads and writes fail until then, leased puts are kept and
// written once the lease exists.
func ConnectLater(cfg ClientConfig) (*Store, error) {
	s, err := newStore(cfg)
	if err != nil {
		return nil, err
	}
	s.run(0)
	s.logger.Warn("etcd not reachable yet, connecting in the background", "endpoints", s.endpoints, "prefix", s.prefix)
	return s, nil
}

// newStore builds the client without contacting etcd.
func newStore(cfg ClientConfig) (*Store, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	logger := cfg.Logger.With("subsys", "kvstore")
	endpoints := cfg.Endpoints
	ccfg := clientv3.Config{
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    cfg.LeaseTTL / 3,
		DialKeepAliveTimeout: cfg.DialTimeout,
		PermitWithoutStream:  true,
		Logger:               newZapLogger(logger, nil),
		// gRPC's default reconnect backoff grows to 2 minutes; after an
		// outage the session must come back well within the lease TTL.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 2 * time.Second,
		})},
	}
	if cfg.ConfigFile != "" {
		fc, err := ReadFileConfig(cfg.ConfigFile)
		if err != nil {
			return nil, err
		}
		if len(endpoints) == 0 {
			endpoints = fc.Endpoints
		}
		if ccfg.TLS, err = fc.TLS(); err != nil {
			return nil, err
		}
		ccfg.Username, ccfg.Password = fc.Username, fc.Password
	}
	if len(endpoints) == 0 {
		return nil, errNoEndpoints
	}
	ccfg.Endpoints = endpoints
	cli, err := clientv3.New(ccfg)
	if err != nil {
		return nil, fmt.Errorf("create etcd client for %v: %w", endpoints, err)
	}
	s := &Store{
		cli:        cli,
		prefix:     "nori/v1/" + cfg.ClusterName + "/",
		cluster:    cfg.ClusterName,
		ttl:        cfg.LeaseTTL,
		endpoints:  endpoints,
		logger:     logger,
		leased:     map[string]string{},
		pending:    map[string]bool{},
		pendingDel: map[string]bool{},
		done:       make(chan struct{}),
	}
	return s, nil
}

// run starts the session keeper; id 0 means no lease was granted yet.
func (s *Store) run(id clientv3.LeaseID) {
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.keepSession(runCtx, id)
}

// Close stops the keep-alive and closes the client. The lease is not
// revoked: a restarting agent puts its keys again under a new lease before
// the old one expires, so other hosts see no gap; keys it no longer owns
// vanish when the old lease expires.
// Calling it again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		<-s.done
		s.closeErr = s.cli.Close()
	})
	return s.closeErr
}

// Revoke drops the session lease now, deleting every leased key at once
// (for a deliberate shutdown of the node, not for a restart).
func (s *Store) Revoke(ctx context.Context) error {
	id := s.LeaseID()
	if id == 0 {
		return nil
	}
	if _, err := s.cli.Revoke(ctx, id); err != nil {
		return fmt.Errorf("revoke lease %x: %w", int64(id), err)
	}
	return nil
}

// Client is the underlying etcd client, for transactions; its keys must be
// built with Key.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the cluster prefix, nori/v1/<cluster>/.
func (s *Store) Prefix() string { return s.prefix }

// ClusterName is the --cluster-name the Store serves.
func (s *Store) ClusterName() string { return s.cluster }

// Key turns a key relative to the cluster prefix into the full etcd key.
func (s *Store) Key(rel string) string { return s.prefix + rel }

// Rel strips the cluster prefix from a full etcd key.
func (s *Store) Rel(full string) string { return strings.TrimPrefix(full, s.prefix) }

// Get reads one key; found is false when it does not exist.
func (s *Store) Get(ctx context.Context, key string) (kv KeyValue, found bool, err error) {
	resp, err := s.cli.Get(ctx, s.Key(key))
	if err != nil {
		s.setErr(err)
		return kv, false, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return kv, false, nil
	}
	return s.toKV(resp.Kvs[0].Key, resp.Kvs[0].Value, resp.Kvs[0].CreateRevision, resp.Kvs[0].ModRevision, resp.Kvs[0].Lease), true, nil
}

// List reads every key under prefix and returns them with the store
// revision they were read at.
func (s *Store) List(ctx context.Context, prefix string) ([]KeyValue, int64, error) {
	resp, err := s.cli.Get(ctx, s.Key(prefix), clientv3.WithPrefix())
	if err != nil {
		s.setErr(err)
		return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	kvs := make([]KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		kvs = append(kvs, s.toKV(kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Lease))
	}
	return kvs, resp.Header.Revision, nil
}

// Put writes a key that outlives the agent's session.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if _, err := s.cli.Put(ctx, s.Key(key), string(value)); err != nil {
		s.setErr(err)
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// PutWithLease writes a key tied to the agent's session lease. The key is
// remembered even when the put fails: a failed put is retried with the next
// keep-alive, and every remembered key is put again whenever a new lease is
// granted, until Delete removes it.
func (s *Store) PutWithLease(ctx context.Context, key string, value []byte) error {
	full := s.Key(key)
	s.putMu.Lock()
	defer s.putMu.Unlock()
	s.leased[full] = string(value)
	delete(s.pendingDel, full)
	id := s.LeaseID()
	if id == 0 {
		return fmt.Errorf("put %s: %w", key, ErrNoSession)
	}
	if _, err := s.cli.Put(ctx, full, string(value), clientv3.WithLease(id)); err != nil {
		s.setErr(err)
		s.pending[full] = true
		return fmt.Errorf("put %s: %w", key, err)
	}
	delete(s.pending, full)
	return nil
}

// Delete removes a key and forgets it if it was leased. Deleting a missing
// key is not an error. A leased key whose delete fails is deleted with the
// next keep-alive, so a stale entry does not live on under a healthy lease.
func (s *Store) Delete(ctx context.Context, key string) error {
	full := s.Key(key)
	s.putMu.Lock()
	_, wasLeased := s.leased[full]
	delete(s.leased, full)
	delete(s.pending, full)
	s.putMu.Unlock()
	if _, err := s.cli.Delete(ctx, full); err != nil {
		s.setErr(err)
		if wasLeased {
			s.putMu.Lock()
			if _, again := s.leased[full]; !again {
				s.pendingDel[full] = true
			}
			s.putMu.Unlock()
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// DeletePrefix removes every key under prefix, forgetting leased ones.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	full := s.Key(prefix)
	s.putMu.Lock()
	for k := range s.leased {
		if strings.HasPrefix(k, full) {
			delete(s.leased, k)
			delete(s.pending, k)
		}
	}
	s.putMu.Unlock()
	if _, err := s.cli.Delete(ctx, full, clientv3.WithPrefix()); err != nil {
		s.setErr(err)
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	return nil
}

// Txn starts a transaction; build its keys with Key.
func (s *Store) Txn(ctx context.Context) clientv3.Txn { return s.cli.Txn(ctx) }

// CreateOnly writes key only if it does not exist yet and reports whether
// it did; with leased set the key is tied to the session lease. The current
// value is returned when the key already existed.
func (s *Store) CreateOnly(ctx context.Context, key string, value []byte, leased bool) (created bool, current []byte, err error) {
	full := s.Key(key)
	var opts []clientv3.OpOption
	if leased {
		s.putMu.Lock()
		defer s.putMu.Unlock()
		id := s.LeaseID()
		if id == 0 {
			return false, nil, fmt.Errorf("create %s: %w", key, ErrNoSession)
		}
		opts = append(opts, clientv3.WithLease(id))
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(full), "=", 0)).
		Then(clientv3.OpPut(full, string(value), opts...)).
		Else(clientv3.OpGet(full)).
		Commit()
	if err != nil {
		s.setErr(err)
		return false, nil, fmt.Errorf("create %s: %w", key, err)
	}
	if resp.Succeeded {
		if leased {
			s.leased[full] = string(value)
		}
		return true, value, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		current = kvs[0].Value
	}
	return false, current, nil
}

func (s *Store) toKV(key, value []byte, create, mod, lease int64) KeyValue {
	return KeyValue{Key: s.Rel(string(key)), Value: value, CreateRevision: create, ModRevision: mod, Lease: lease}
}
