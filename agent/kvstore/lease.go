// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrNoSession means the agent holds no live session lease right now (etcd
// unreachable for longer than the TTL); leased keys are put again once a
// new lease is granted.
var ErrNoSession = errors.New("no etcd session lease")

func (s *Store) grant(ctx context.Context) (clientv3.LeaseID, error) {
	resp, err := s.cli.Grant(ctx, int64(s.ttl/time.Second))
	if err != nil {
		s.setErr(err)
		return 0, fmt.Errorf("grant lease: %w", err)
	}
	s.mu.Lock()
	s.leaseID = resp.ID
	s.lastRenew = time.Now()
	s.mu.Unlock()
	return resp.ID, nil
}

// keepSession keeps the lease alive. The etcd client closes the keep-alive
// channel once the lease expired or no answer came within the TTL; then a
// new lease is granted (with backoff while etcd is away) and every
// remembered leased key is put again under it.
func (s *Store) keepSession(ctx context.Context, id clientv3.LeaseID) {
	defer close(s.done)
	if id == 0 {
		// ConnectLater: no lease yet.
		if id = s.regrant(ctx, 0); id == 0 {
			return
		}
	}
	for {
		ch, err := s.cli.KeepAlive(ctx, id)
		if err != nil {
			s.setErr(err)
		} else {
			for range ch {
				s.mu.Lock()
				s.lastRenew = time.Now()
				s.mu.Unlock()
				s.retryPending(ctx, id)
			}
		}
		if ctx.Err() != nil {
			return
		}
		s.logger.Warn("etcd session lease lost, reviving or replacing it", "lease", fmt.Sprintf("%x", int64(id)))
		s.mu.Lock()
		s.leaseID = 0
		s.mu.Unlock()
		if id = s.regrant(ctx, id); id == 0 {
			return
		}
	}
}

// regrant returns a lease under which every leased key was put again, or
// 0 when ctx ended. It first tries to revive old: the client gives a
// lease up after a TTL without answers, but etcd itself may still hold
// it (a restarted etcd grants every lease a fresh TTL). Reviving keeps
// the keys where they are; a new lease would leave them on the old one,
// which then expires and deletes them everywhere for a moment. Only when
// etcd says old is gone is a new lease granted.
func (s *Store) regrant(ctx context.Context, old clientv3.LeaseID) clientv3.LeaseID {
	backoff := 250 * time.Millisecond
	for {
		attempt, cancel := context.WithTimeout(ctx, s.ttl/3)
		id, err := s.revive(attempt, old)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			old = 0
			id, err = s.grant(attempt)
		}
		if err == nil {
			err = s.restore(attempt, id)
		}
		cancel()
		if err == nil {
			s.logger.Info("etcd session restored", "lease", fmt.Sprintf("%x", int64(id)), "revived", id == old)
			return id
		}
		if ctx.Err() != nil {
			return 0
		}
		s.logger.Debug("etcd session not restored yet", "err", err, "retryIn", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return 0
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// revive renews lease old once and makes it the session lease again. With
// no old lease it answers ErrLeaseNotFound, so the caller grants one.
func (s *Store) revive(ctx context.Context, old clientv3.LeaseID) (clientv3.LeaseID, error) {
	if old == 0 {
		return 0, rpctypes.ErrLeaseNotFound
	}
	resp, err := s.cli.KeepAliveOnce(ctx, old)
	if err != nil {
		s.setErr(err)
		return 0, fmt.Errorf("revive lease %x: %w", int64(old), err)
	}
	if resp.TTL <= 0 {
		return 0, rpctypes.ErrLeaseNotFound
	}
	s.mu.Lock()
	s.leaseID = old
	s.lastRenew = time.Now()
	s.mu.Unlock()
	return old, nil
}

func (s *Store) restore(ctx context.Context, id clientv3.LeaseID) error {
	s.putMu.Lock()
	defer s.putMu.Unlock()
	for k, v := range s.leased {
		if _, err := s.cli.Put(ctx, k, v, clientv3.WithLease(id)); err != nil {
			s.setErr(err)
			return fmt.Errorf("restore %s: %w", s.Rel(k), err)
		}
		delete(s.pending, k)
	}
	// Keys whose delete failed hang on the old lease and go with it.
	clear(s.pendingDel)
	return nil
}

// retryPending puts leased keys whose PutWithLease failed, and deletes
// leased keys whose Delete failed, while the lease stayed alive (a
// transient error); a keep-alive answer shows etcd is back.
func (s *Store) retryPending(ctx context.Context, id clientv3.LeaseID) {
	s.putMu.Lock()
	defer s.putMu.Unlock()
	if len(s.pending) == 0 && len(s.pendingDel) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.ttl/3)
	defer cancel()
	for k := range s.pending {
		if _, err := s.cli.Put(ctx, k, s.leased[k], clientv3.WithLease(id)); err != nil {
			s.setErr(err)
			return
		}
		delete(s.pending, k)
	}
	for k := range s.pendingDel {
		if _, err := s.cli.Delete(ctx, k); err != nil {
			s.setErr(err)
			return
		}
		delete(s.pendingDel, k)
	}
}

// LeaseID is the current session lease, 0 while there is none.
func (s *Store) LeaseID() clientv3.LeaseID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaseID
}

func (s *Store) setErr(err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err, time.Now()
	s.mu.Unlock()
}
