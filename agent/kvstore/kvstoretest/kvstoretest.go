// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package kvstoretest starts a real embedded etcd for tests of packages
// that keep state in the kvstore. Each call uses its own temp dir and a
// kernel-chosen loopback port, so parallel test binaries never collide.
package kvstoretest

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
)

// Logger sends slog output to t.Log.
// Lines written after the test ended are dropped: etcd's goroutines may
// still log while they stop, and testing panics on such late logs.
func Logger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// StartEtcd starts an embedded etcd on dir (a new temp dir when empty) and
// stops it at cleanup.
func StartEtcd(t testing.TB, dir string) *kvstore.Embedded {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := kvstore.StartEmbedded(ctx, kvstore.EmbeddedConfig{DataDir: dir, ListenClient: "127.0.0.1:0", Logger: Logger(t)})
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Connect opens a Store on endpoints for cluster and closes it at cleanup.
func Connect(t testing.TB, endpoints []string, cluster string, ttl time.Duration) *kvstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kvstore.Connect(ctx, kvstore.ClientConfig{Endpoints: endpoints, ClusterName: cluster, LeaseTTL: ttl, Logger: Logger(t)})
	if err != nil {
		t.Fatalf("connect to etcd: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// New starts an embedded etcd and returns a Store on it for cluster
// "test".
func New(t testing.TB) *kvstore.Store {
	t.Helper()
	return Connect(t, StartEtcd(t, "").Endpoints(), "test", 0)
}
