// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policystore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
	"github.com/nori-net/nori/agent/policy"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rule returns a rule labelled name=<name> (plus extra labels) that lets
// app=<name> reach port.
func rule(t testing.TB, name string, port int, extra ...string) policy.Rule {
	t.Helper()
	labels := append([]string{"name=" + name}, extra...)
	lj, _ := json.Marshal(labels)
	rs, err := policy.Parse(fmt.Appendf(nil, `{"endpointSelector":{"matchLabels":{"app":%q}},"labels":%s,
	  "ingress":[{"fromEndpoints":[{"matchLabels":{"role":"client-%s"}}],"toPorts":[{"ports":[{"port":"%d","protocol":"TCP"}]}]}]}`,
		name, lj, name, port))
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

func names(rules []policy.Rule) []string {
	var out []string
	for _, r := range rules {
		for _, l := range r.Labels {
			if l.Key == "name" {
				out = append(out, l.Value)
			}
		}
	}
	return out
}

func sets(t *testing.T, kv *kvstore.Store) []string {
	t.Helper()
	kvs, _, err := kv.List(ctxT(t), rulesPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range kvs {
		set := strings.SplitN(strings.TrimPrefix(e.Key, rulesPrefix), "/", 2)[0]
		if !slices.Contains(out, set) {
			out = append(out, set)
		}
	}
	return out
}

func TestImportReplaceDelete(t *testing.T) {
	kv := kvstoretest.New(t)
	s := New(kv, kvstoretest.Logger(t))
	ctx := ctxT(t)
	if rules, rev, err := s.Load(ctx); err != nil || rev != 0 || len(rules) != 0 {
		t.Fatalf("empty store: %v %d %v", rules, rev, err)
	}
	steps := []struct {
		name      string
		do        func() (uint64, int, error)
		wantRev   uint64
		wantDel   int
		wantNames []string
	}{
		{"import a", func() (uint64, int, error) {
			rev, err := s.Import(ctx, []policy.Rule{rule(t, "a", 80, "team=x")}, false)
			return rev, 0, err
		}, 1, 0, []string{"a"}},
		{"import b and c", func() (uint64, int, error) {
			rev, err := s.Import(ctx, []policy.Rule{rule(t, "b", 81, "team=x"), rule(t, "c", 82)}, false)
			return rev, 0, err
		}, 2, 0, []string{"a", "b", "c"}},
		{"import a again adds", func() (uint64, int, error) {
			rev, err := s.Import(ctx, []policy.Rule{rule(t, "a", 90)}, false)
			return rev, 0, err
		}, 3, 0, []string{"a", "b", "c", "a"}},
		{"replace a", func() (uint64, int, error) {
			rev, err := s.Import(ctx, []policy.Rule{rule(t, "a", 91)}, true)
			return rev, 0, err
		}, 4, 0, []string{"b", "c", "a"}},
		{"replace with labels team=x", func() (uint64, int, error) {
			return s.ReplaceWithLabels(ctx, []policy.Rule{rule(t, "d", 92)}, []string{"team=x"})
		}, 5, 1, []string{"c", "a", "d"}},
		{"delete c", func() (uint64, int, error) { return s.Delete(ctx, []string{"name=c"}, false) }, 6, 1, []string{"a", "d"}},
		{"delete nothing keeps the revision", func() (uint64, int, error) {
			return s.Delete(ctx, []string{"name=zzz"}, false)
		}, 6, 0, []string{"a", "d"}},
		{"delete all", func() (uint64, int, error) { return s.Delete(ctx, nil, true) }, 7, 2, nil},
	}
	for _, st := range steps {
		rev, del, err := st.do()
		if err != nil || rev != st.wantRev || del != st.wantDel {
			t.Fatalf("%s: rev %d deleted %d err %v, want rev %d deleted %d", st.name, rev, del, err, st.wantRev, st.wantDel)
		}
		rules, lrev, err := s.Load(ctx)
		if err != nil || lrev != rev || !slices.Equal(names(rules), st.wantNames) {
			t.Fatalf("%s: Load = %v rev %d err %v, want %v rev %d", st.name, names(rules), lrev, err, st.wantNames, rev)
		}
		if got := sets(t, kv); len(got) > 1 || (len(rules) > 0 && len(got) != 1) {
			t.Fatalf("%s: chunk sets left: %v", st.name, got)
		}
	}
	if _, _, err := s.Delete(ctx, nil, false); err == nil {
		t.Fatal("delete without labels or all: no error")
	}
	if _, err := s.Import(ctx, nil, false); err == nil {
		t.Fatal("import of nothing: no error")
	}
}

func TestLoadRejectsCorruption(t *testing.T) {
	kv := kvstoretest.New(t)
	s := New(kv, kvstoretest.Logger(t))
	ctx := ctxT(t)
	if _, err := s.Import(ctx, []policy.Rule{rule(t, "a", 80)}, false); err != nil {
		t.Fatal(err)
	}
	set := sets(t, kv)[0]
	if err := kv.Put(ctx, chunkKey(set, 0), []byte(`[{"endpointSelector":{}}]`)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Load(ctx); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("Load of a changed chunk: %v", err)
	}
}

// TestLargeRoundTrip stores 10 000 rules, several MB: more than one etcd
// request or transaction can carry with etcd's default limits.
func TestLargeRoundTrip(t *testing.T) {
	kv := kvstoretest.New(t)
	s := New(kv, kvstoretest.Logger(t))
	ctx := ctxT(t)
	rules := make([]policy.Rule, 10000)
	for i := range rules {
		rules[i] = rule(t, fmt.Sprintf("r%05d", i), 1+i%65000, "bulk=yes", "description-padding="+strings.Repeat("x", 200))
	}
	start := time.Now()
	rev, err := s.Import(ctx, rules, false)
	if err != nil {
		t.Fatal(err)
	}
	imported := time.Since(start)
	start = time.Now()
	got, lrev, err := s.Load(ctx)
	if err != nil || lrev != rev {
		t.Fatalf("Load: rev %d err %v", lrev, err)
	}
	t.Logf("import %v, load %v", imported, time.Since(start))
	want, _ := json.Marshal(rules)
	have, _ := json.Marshal(got)
	if string(want) != string(have) {
		t.Fatalf("10000 rules did not round-trip (%d vs %d bytes)", len(want), len(have))
	}
	hkv, _, err := kv.Get(ctx, headKey)
	if err != nil {
		t.Fatal(err)
	}
	var h head
	if err := json.Unmarshal(hkv.Value, &h); err != nil {
		t.Fatal(err)
	}
	if len(want) < 3<<20 || h.Chunks < 6 || h.Count != 10000 {
		t.Fatalf("head %+v for %d bytes: expected several chunks", h, len(want))
	}
	// Replacing the big set deletes its chunks in the commit.
	if _, n, err := s.Delete(ctx, []string{"bulk=yes"}, false); err != nil || n != 10000 {
		t.Fatalf("delete bulk: %d %v", n, err)
	}
	if left := sets(t, kv); len(left) != 0 {
		t.Fatalf("chunk sets left after deleting every rule: %v", left)
	}
}

// TestConcurrentImporters: two agents importing at the same time lose no
// rule, and revisions only grow.
func TestConcurrentImporters(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	const perAgent = 15
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		revs = map[uint64]string{}
	)
	stores := []*Store{
		New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t)),
		New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t)),
	}
	errs := make(chan error, 2*perAgent)
	for a, s := range stores {
		wg.Go(func() {
			last := uint64(0)
			for i := range perAgent {
				rev, err := s.Import(ctx, []policy.Rule{rule(t, fmt.Sprintf("agent%d-%02d", a, i), 80)}, false)
				if err != nil {
					errs <- err
					return
				}
				if rev <= last {
					errs <- fmt.Errorf("agent %d: revision %d after %d", a, rev, last)
				}
				last = rev
				mu.Lock()
				if other, dup := revs[rev]; dup {
					errs <- fmt.Errorf("revision %d committed twice (%s)", rev, other)
				}
				revs[rev] = fmt.Sprint(a, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rules, rev, err := stores[0].Load(ctx)
	if err != nil || rev != 2*perAgent || len(rules) != 2*perAgent {
		t.Fatalf("after concurrent imports: %d rules rev %d err %v", len(rules), rev, err)
	}
	got := names(rules)
	for a := range 2 {
		for i := range perAgent {
			if n := fmt.Sprintf("agent%d-%02d", a, i); !slices.Contains(got, n) {
				t.Fatalf("rule %s lost: %v", n, got)
			}
		}
	}
}

type watched struct {
	names []string
	rev   uint64
}

func TestWatch(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	writer := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	if _, err := writer.Import(ctx, []policy.Rule{rule(t, "before", 80)}, false); err != nil {
		t.Fatal(err)
	}
	reader := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	ch := make(chan watched, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reader.Watch(wctx, func(rules []policy.Rule, rev uint64) { ch <- watched{names(rules), rev} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	expect := func(what string, rev uint64, want ...string) {
		t.Helper()
		for {
			select {
			case w := <-ch:
				if w.rev < rev {
					continue // an older state coalesced late is fine, a wrong one is not
				}
				if w.rev != rev || !slices.Equal(w.names, want) {
					t.Fatalf("%s: watch gave %v rev %d, want %v rev %d", what, w.names, w.rev, want, rev)
				}
				return
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: no watch call", what)
			}
		}
	}
	expect("initial state", 1, "before")
	if _, err := writer.Import(ctx, []policy.Rule{rule(t, "after", 80)}, false); err != nil {
		t.Fatal(err)
	}
	expect("import", 2, "before", "after")
	if _, _, err := writer.Delete(ctx, []string{"name=before"}, false); err != nil {
		t.Fatal(err)
	}
	expect("delete", 3, "after")
	if _, _, err := writer.Delete(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	expect("delete all", 4)
}

func TestWatchEmptyStore(t *testing.T) {
	kv := kvstoretest.New(t)
	s := New(kv, kvstoretest.Logger(t))
	ctx, cancel := context.WithCancel(ctxT(t))
	got := make(chan watched, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, func(rules []policy.Rule, rev uint64) {
			select {
			case got <- watched{names(rules), rev}:
			default:
			}
		})
	}()
	select {
	case w := <-got:
		if w.rev != 0 || len(w.names) != 0 {
			t.Fatalf("empty store: %+v", w)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no initial call on an empty store")
	}
	cancel()
	<-done
}

// TestImportRetriesAfterLosingTheRace makes another agent commit between
// this one's read and its commit: the CAS fails, the import starts again
// from the new head, and both rules survive.
func TestImportRetriesAfterLosingTheRace(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	slow := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	fast := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	calls := 0
	slow.beforeCommit = func() {
		calls++
		if calls == 1 {
			if _, err := fast.Import(ctx, []policy.Rule{rule(t, "fast", 80)}, false); err != nil {
				t.Error(err)
			}
		}
	}
	rev, err := slow.Import(ctx, []policy.Rule{rule(t, "slow", 80)}, false)
	if err != nil || rev != 2 || calls != 2 {
		t.Fatalf("slow import: rev %d err %v after %d attempts, want rev 2 after 2", rev, err, calls)
	}
	rules, _, err := fast.Load(ctx)
	if err != nil || !slices.Equal(names(rules), []string{"fast", "slow"}) {
		t.Fatalf("rules %v err %v", names(rules), err)
	}
	if got := sets(t, kvstoretest.Connect(t, e.Endpoints(), "test", 0)); len(got) != 1 {
		t.Fatalf("the loser's chunks were left behind: %v", got)
	}
}

// TestWatchSurvivesOutage: etcd goes away and comes back; the watch picks
// up a change made afterwards without being restarted.
func TestWatchSurvivesOutage(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	ctx := ctxT(t)
	reader := New(kvstoretest.Connect(t, e.Endpoints(), "test", 3*time.Second), kvstoretest.Logger(t))
	ch := make(chan watched, 16)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reader.Watch(wctx, func(rules []policy.Rule, rev uint64) { ch <- watched{names(rules), rev} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case w := <-ch:
		if w.rev != 0 {
			t.Fatalf("initial: %+v", w)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no initial call")
	}
	e.Close()
	time.Sleep(4 * time.Second)
	e = kvstoretest.StartEtcd(t, dir)
	writer := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	if _, err := writer.Import(ctx, []policy.Rule{rule(t, "later", 80)}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-ch:
		if w.rev != 1 || !slices.Equal(w.names, []string{"later"}) {
			t.Fatalf("after the outage: %+v", w)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not resume after the outage")
	}
}

// TestLoadDuringCommits: readers never see a mix of two sets, or a set
// whose chunks vanished, while a writer replaces it again and again.
func TestLoadDuringCommits(t *testing.T) {
	e := kvstoretest.StartEtcd(t, "")
	ctx := ctxT(t)
	writer := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	reader := New(kvstoretest.Connect(t, e.Endpoints(), "test", 0), kvstoretest.Logger(t))
	// Small chunks make each load many requests long, so commits land
	// in the middle of loads.
	writer.ChunkSize = 4 << 10
	const rounds, size = 8, 300
	stop := make(chan struct{})
	loads := make(chan error, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				t.Logf("%d loads", n)
				loads <- nil
				return
			default:
			}
			rules, rev, err := reader.Load(ctx)
			if err != nil {
				loads <- err
				return
			}
			if rev > 0 && len(rules) != size {
				loads <- fmt.Errorf("revision %d has %d rules", rev, len(rules))
				return
			}
			for _, r := range rules {
				if r.Labels.Strings()[2] != rules[0].Labels.Strings()[2] {
					loads <- fmt.Errorf("revision %d mixes sets: %v and %v", rev, r.Labels, rules[0].Labels)
					return
				}
			}
			n++
		}
	}()
	for round := range rounds {
		rules := make([]policy.Rule, size)
		for i := range rules {
			rules[i] = rule(t, fmt.Sprintf("r%d", i), 80, "set=churn", fmt.Sprintf("round=%d", round))
		}
		if _, _, err := writer.ReplaceWithLabels(ctx, rules, []string{"set=churn"}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-loads; err != nil {
		t.Fatal(err)
	}
}
