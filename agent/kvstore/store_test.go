// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterPrefixSeparatesClusters(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	a := kvstoretest.Connect(t, e.Endpoints(), "a", 0)
	b := kvstoretest.Connect(t, e.Endpoints(), "b", 0)
	ctx := ctxT(t)
	if err := a.Put(ctx, "nodes/n1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := b.Get(ctx, "nodes/n1"); found {
		t.Fatal("cluster b sees cluster a's key")
	}
	kv, found, err := a.Get(ctx, "nodes/n1")
	if err != nil || !found || kv.Key != "nodes/n1" {
		t.Fatalf("get: %+v %v %v", kv, found, err)
	}
	if a.Key("x") != "nori/v1/a/x" {
		t.Fatalf("Key = %q", a.Key("x"))
	}
}

func TestCreateOnly(t *testing.T) {
	s := kvstoretest.New(t)
	ctx := ctxT(t)
	created, cur, err := s.CreateOnly(ctx, "x", []byte("1"), false)
	if err != nil || !created || string(cur) != "1" {
		t.Fatalf("first create: %v %q %v", created, cur, err)
	}
	created, cur, err = s.CreateOnly(ctx, "x", []byte("2"), false)
	if err != nil || created || string(cur) != "1" {
		t.Fatalf("second create: %v %q %v", created, cur, err)
	}
}

// Keys of an agent that stops renewing vanish within the lease TTL, as
// issue 3 wants for a removed host.
func TestLeasedKeysVanishWhenAgentStops(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	agent := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	watcher := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	ctx := ctxT(t)
	if err := agent.PutWithLease(ctx, "nodes/n1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := agent.Put(ctx, "cidrs/10.0.0.0-24", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	agent.Close()
	waitFor(t, 6*time.Second, "leased key to expire", func() bool {
		_, found, err := watcher.Get(ctx, "nodes/n1")
		return err == nil && !found
	})
	t.Logf("leased key gone %s after the agent stopped (ttl 3s)", time.Since(stopped).Round(100*time.Millisecond))
	if _, found, _ := watcher.Get(ctx, "cidrs/10.0.0.0-24"); !found {
		t.Fatal("key without lease vanished with the agent")
	}
}

// When the session lease disappears (here revoked behind the Store's back,
// as when etcd expired it during an outage) the Store grants a new one and
// puts its leased keys again.
func TestLeaseLossRestoresKeys(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	ctx := ctxT(t)
	if err := s.PutWithLease(ctx, "nodes/n1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutWithLease(ctx, "ips/10.0.0.5", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "ips/10.0.0.5"); err != nil {
		t.Fatal(err)
	}
	old := s.LeaseID()
	if _, err := s.Client().Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a new lease with the key restored", func() bool {
		kv, found, err := s.Get(ctx, "nodes/n1")
		return err == nil && found && kv.Lease != int64(old) && kv.Lease == int64(s.LeaseID())
	})
	if _, found, _ := s.Get(ctx, "ips/10.0.0.5"); found {
		t.Fatal("a deleted leased key came back")
	}
	if st := s.Status(); !st.Connected || st.LeasedKeys != 1 {
		t.Fatalf("status after restore: %+v", st)
	}
}

// etcd down for longer than the TTL: the agent keeps its Store, and once
// etcd is back its keys are there again without any restart.
func TestEtcdOutageLongerThanTTL(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	ctx := ctxT(t)
	if err := s.PutWithLease(ctx, "nodes/n1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	events := s.ListAndWatch(ctx, "nodes/")
	if ev := <-events; ev.Type != kvstore.EventUpsert || ev.Key != "nodes/n1" {
		t.Fatalf("first event %+v", ev)
	}
	if ev := <-events; ev.Type != kvstore.EventSynced {
		t.Fatalf("second event %+v", ev)
	}
	e.Close()
	waitFor(t, 10*time.Second, "status to show the outage", func() bool { return !s.Status().Connected })
	if c := s.Status().Component(); c.State != "Failure" {
		t.Fatalf("component during outage: %+v", c)
	}
	time.Sleep(2 * time.Second)
	kvstoretest.StartEtcd(t, dir)
	waitFor(t, 20*time.Second, "the session to come back", func() bool {
		kv, found, err := s.Get(ctx, "nodes/n1")
		return err == nil && found && kv.Lease == int64(s.LeaseID()) && s.Status().Connected
	})
	if c := s.Status().Component(); c.State != "Ok" {
		t.Fatalf("component after outage: %+v", c)
	}
	// The watch resumed too.
	if err := s.PutWithLease(ctx, "nodes/n2", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Key == "nodes/n2" && ev.Type == kvstore.EventUpsert {
				return
			}
		case <-deadline:
			t.Fatal("watch did not resume after the outage")
		}
	}
}

func TestListAndWatch(t *testing.T) {
	s := kvstoretest.New(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	for _, k := range []string{"w/a", "w/b", "other/x"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	ch := s.ListAndWatch(ctx, "w/")
	var got []string
	next := func() kvstore.Event {
		select {
		case ev := <-ch:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return kvstore.Event{}
	}
	for {
		ev := next()
		if ev.Type == kvstore.EventSynced {
			break
		}
		got = append(got, ev.Type.String()+" "+ev.Key+"="+string(ev.Value))
	}
	if strings.Join(got, ",") != "upsert w/a=w/a,upsert w/b=w/b" {
		t.Fatalf("initial list: %v", got)
	}
	if err := s.PutWithLease(ctx, "w/c", []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "w/a"); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, want := range []string{"upsert w/c=c", "delete w/a="} {
		ev := next()
		g := ev.Type.String() + " " + ev.Key + "=" + string(ev.Value)
		if g != want {
			t.Fatalf("event %q, want %q", g, want)
		}
	}
	cancel()
	for range ch {
	}
}

func TestReadFileConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml, wantErr string
		want                kvstore.FileConfig
	}{
		{
			name: "cilium file",
			yaml: "endpoints:\n- https://192.0.2.1:2379\ntrusted-ca-file: /ca.crt\ncert-file: /c.crt\nkey-file: /c.key\n",
			want: kvstore.FileConfig{Endpoints: []string{"https://192.0.2.1:2379"}, TrustedCAFile: "/ca.crt", CertFile: "/c.crt", KeyFile: "/c.key"},
		},
		{
			name: "old ca-file spelling",
			yaml: "endpoints: [\"http://h:2379\"]\nca-file: /ca.crt\n",
			want: kvstore.FileConfig{Endpoints: []string{"http://h:2379"}, TrustedCAFile: "/ca.crt", CAFile: "/ca.crt"},
		},
		{name: "typo", yaml: "endpoint: [a]\n", wantErr: `unknown field "endpoint"`},
		{name: "cert without key", yaml: "cert-file: /c.crt\n", wantErr: "must be given together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := kvstore.ReadFileConfig(p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Endpoints, ",") != strings.Join(tt.want.Endpoints, ",") || got.TrustedCAFile != tt.want.TrustedCAFile || got.CertFile != tt.want.CertFile || got.KeyFile != tt.want.KeyFile {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConnectFailsWithoutEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := kvstore.Connect(ctx, kvstore.ClientConfig{Endpoints: []string{"unix://" + t.TempDir() + "/none.sock"}, Logger: kvstoretest.Logger(t)})
	if err == nil || !strings.Contains(err.Error(), "connect to etcd") {
		t.Fatalf("err = %v", err)
	}
	if err := kvstore.ValidateClusterName("a/b"); err == nil {
		t.Fatal("cluster name with / accepted")
	}
}

// A leased put that failed while the lease is fine (here: its context was
// cancelled) is retried with the next keep-alive.
func TestFailedLeasedPutIsRetried(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PutWithLease(dead, "usage/1/n1", []byte("x")); err == nil {
		t.Fatal("put with a cancelled context succeeded")
	}
	ctx := ctxT(t)
	waitFor(t, 5*time.Second, "the failed put to be retried", func() bool {
		kv, found, err := s.Get(ctx, "usage/1/n1")
		return err == nil && found && kv.Lease == int64(s.LeaseID())
	})
}

// A failed delete of a leased key is retried too: otherwise the stale key
// would live as long as the agent's healthy lease.
func TestFailedLeasedDeleteIsRetried(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 3*time.Second)
	ctx := ctxT(t)
	if err := s.PutWithLease(ctx, "ips/10.0.0.9", []byte("x")); err != nil {
		t.Fatal(err)
	}
	dead, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Delete(dead, "ips/10.0.0.9"); err == nil {
		t.Fatal("delete with a cancelled context succeeded")
	}
	waitFor(t, 5*time.Second, "the failed delete to be retried", func() bool {
		_, found, err := s.Get(ctx, "ips/10.0.0.9")
		return err == nil && !found
	})
}

// TestConnectLater: a Store opened while etcd is down answers at once,
// keeps leased puts, and writes them under a new lease once etcd is up.
func TestConnectLater(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	endpoints := e.Endpoints()
	e.Close()
	start := time.Now()
	s, err := kvstore.ConnectLater(kvstore.ClientConfig{Endpoints: endpoints, ClusterName: "c", LeaseTTL: 3 * time.Second, Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("ConnectLater took %s with etcd down", d)
	}
	if s.Status().Connected || s.LeaseID() != 0 {
		t.Fatalf("status while etcd is down: %+v", s.Status())
	}
	ctx := ctxT(t)
	if err := s.PutWithLease(ctx, "nodes/n1", []byte("v1")); !errors.Is(err, kvstore.ErrNoSession) {
		t.Fatalf("leased put without a session: %v, want ErrNoSession", err)
	}
	kvstoretest.StartEtcd(t, dir)
	waitFor(t, 30*time.Second, "the queued key under the new lease", func() bool {
		kv, found, err := s.Get(ctx, "nodes/n1")
		return err == nil && found && string(kv.Value) == "v1" && kv.Lease == int64(s.LeaseID()) && s.Status().Connected
	})
}

// TestLeaseRevivedAfterOutage: the client gives its lease up after a TTL
// without etcd, but a restarted etcd still holds it (with a fresh TTL).
// The store takes the same lease back, so its keys never vanish; a new
// lease would leave them to expire with the old one.
func TestLeaseRevivedAfterOutage(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 6*time.Second)
	watcher := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	ctx := ctxT(t)
	if err := s.PutWithLease(ctx, "nodes/n1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	before := s.LeaseID()
	e.Close()
	waitFor(t, 20*time.Second, "the client to give the lease up", func() bool { return s.LeaseID() == 0 })
	kvstoretest.StartEtcd(t, dir)
	events := watcher.ListAndWatch(ctx, "nodes/")
	waitFor(t, 20*time.Second, "the session to come back", func() bool { return s.Status().Connected && s.LeaseID() != 0 })
	if got := s.LeaseID(); got != before {
		t.Fatalf("lease after the outage %x, want the revived %x", int64(got), int64(before))
	}
	// Past the old lease's TTL on the restarted etcd: the key is still
	// there and was never deleted.
	deadline := time.After(8 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == kvstore.EventDelete {
				t.Fatalf("key deleted after the outage: %+v", ev)
			}
		case <-deadline:
			if kv, found, err := s.Get(ctx, "nodes/n1"); err != nil || !found || kv.Lease != int64(before) {
				t.Fatalf("nodes/n1 after the outage: %+v found=%v err=%v", kv, found, err)
			}
			return
		}
	}
}
