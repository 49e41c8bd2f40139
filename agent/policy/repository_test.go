// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

func labelled(t *testing.T, labels ...string) Rule {
	t.Helper()
	ls := make(Labels, 0, len(labels))
	for _, s := range labels {
		l, err := ParseLabel(s, SourceUnspec)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	return Rule{Labels: ls, Ingress: []IngressRule{{FromEntities: []Entity{EntityHost}}}}
}

func sel(t *testing.T, ss ...string) Labels {
	t.Helper()
	ls, err := ParseLabels(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func names(rs []Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Labels.short())
	}
	return out
}

func TestRepository(t *testing.T) {
	setup := func(t *testing.T) *Repository {
		r := NewRepository()
		r.Add([]Rule{labelled(t, "name=web"), labelled(t, "name=db", "team=a"), labelled(t, "name=web")})
		r.Add([]Rule{labelled(t, "k8s:name=web")})
		return r
	}
	tests := []struct {
		name    string
		op      func(t *testing.T, r *Repository) (rev uint64, n int)
		rev     uint64
		n       int
		remains []string
	}{
		{"add is additive", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Add([]Rule{labelled(t, "name=web")}), 0
		}, 4, 0, []string{"name=web", "name=db,team=a", "name=web", "k8s:name=web", "name=web"}},
		{"replace deletes rules containing the new rule's labels", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Replace([]Rule{labelled(t, "name=web")})
		}, 4, 2, []string{"name=db,team=a", "k8s:name=web", "name=web"}},
		{"replace by a label subset", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Replace([]Rule{labelled(t, "team=a")})
		}, 4, 1, []string{"name=web", "name=web", "k8s:name=web", "team=a"}},
		{"replace without labels deletes everything", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Replace([]Rule{labelled(t)})
		}, 4, 4, []string{""}},
		{"replace with labels", func(t *testing.T, r *Repository) (uint64, int) {
			return r.ReplaceWithLabels([]Rule{labelled(t, "name=new")}, sel(t, "name=db"))
		}, 4, 1, []string{"name=web", "name=web", "k8s:name=web", "name=new"}},
		{"delete: any source", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Delete(sel(t, "name=web"))
		}, 4, 3, []string{"name=db,team=a"}},
		{"delete: one source", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Delete(sel(t, "k8s:name=web"))
		}, 4, 1, []string{"name=web", "name=db,team=a", "name=web"}},
		{"delete needs all labels", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Delete(sel(t, "name=db", "team=b"))
		}, 3, 0, []string{"name=web", "name=db,team=a", "name=web", "k8s:name=web"}},
		{"delete all", func(t *testing.T, r *Repository) (uint64, int) {
			return r.Delete(nil)
		}, 4, 4, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := setup(t)
			rev, n := tt.op(t, r)
			if rev != tt.rev || n != tt.n || r.Revision() != tt.rev {
				t.Errorf("revision %d (%d), count %d; want %d, %d", rev, r.Revision(), n, tt.rev, tt.n)
			}
			got, _ := r.Get(nil)
			if !reflect.DeepEqual(names(got), tt.remains) {
				t.Errorf("rules %q, want %q", names(got), tt.remains)
			}
		})
	}
}

func TestRepositoryGet(t *testing.T) {
	r := NewRepository()
	r.Add([]Rule{labelled(t, "name=web"), labelled(t, "name=db", "team=a")})
	got, rev := r.Get(sel(t, "team=a"))
	if rev != 2 || !reflect.DeepEqual(names(got), []string{"name=db,team=a"}) {
		t.Errorf("got %q at %d", names(got), rev)
	}
	if got, _ := r.Get(sel(t, "team=b")); len(got) != 0 {
		t.Errorf("got %q", names(got))
	}
	// The caller's slice is a copy.
	got, _ = r.Get(nil)
	got[0] = Rule{}
	if again, _ := r.Get(nil); again[0].Labels == nil {
		t.Error("Get shares the repository's slice")
	}
}

func TestRepositoryJSON(t *testing.T) {
	rules, err := Parse([]byte(seedRule))
	if err != nil {
		t.Fatal(err)
	}
	r := NewRepository()
	r.Add(rules)
	r.Add([]Rule{labelled(t, "k8s:team=a")})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Repository
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("load %s: %v", data, err)
	}
	a, ra := r.Get(nil)
	b, rb := back.Get(nil)
	if ra != rb || !reflect.DeepEqual(a, b) {
		t.Errorf("round trip:\n%+v @%d\n%+v @%d", a, ra, b, rb)
	}
	empty, _ := json.Marshal(NewRepository())
	if err := json.Unmarshal(empty, &back); err != nil || back.Len() != 0 || back.Revision() != 1 {
		t.Errorf("empty repository: %s -> %v len %d", empty, err, back.Len())
	}
	if err := json.Unmarshal([]byte(`{"revision": 3, "rules": [{"ingress": []}]}`), &back); err == nil {
		t.Error("loaded an invalid stored rule")
	}
}

// TestRepositoryConcurrent runs under -race: resolving while rules change
// must not see a half-modified rule list.
func TestRepositoryConcurrent(t *testing.T) {
	repo := repoOf(t, seedRule)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			repo.Add([]Rule{labelled(t, "name=tmp")})
			repo.Delete(sel(t, "name=tmp"))
		}
	}()
	for range 200 {
		ep, err := Resolve(repo, app2, ModeDefault, cluster)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := ep.Ingress.Lookup(Query{Identity: 256, Proto: IPProtoTCP, Port: 443}); v != Allow {
			t.Fatalf("seed flow %v at revision %d", v, ep.Revision)
		}
	}
	<-done
}
