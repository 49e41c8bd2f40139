// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Repository holds the imported rules in import order with a revision
// that every change bumps, as Cilium's (the agent waits for endpoints to
// reach a revision, and `policy import` prints it). Safe for concurrent
// use. Rules are values shared with callers: treat what Get returns and
// what was added as read-only.
type Repository struct {
	mu       sync.RWMutex
	rules    []Rule
	revision uint64
}

// NewRepository returns an empty repository at revision 1 (Cilium starts
// there too, so 0 can mean "none yet").
func NewRepository() *Repository { return &Repository{revision: 1} }

// RepositoryAt returns a repository holding rules at the given revision:
// a copy of a set stored elsewhere (the agents' etcd store), which keeps
// that store's numbering.
func RepositoryAt(rules []Rule, revision uint64) *Repository {
	return &Repository{rules: slices.Clone(rules), revision: revision}
}

// Add appends rules (Cilium's import is additive) and returns the new
// revision.
func (r *Repository) Add(rules []Rule) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = slices.Concat(r.rules, rules)
	r.revision++
	return r.revision
}

// Replace is `policy import --replace`: for each imported rule, existing
// rules containing all of its labels are deleted first, so a rule without
// labels deletes everything. It returns the revision and how many rules
// were deleted.
func (r *Repository) Replace(rules []Rule) (uint64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, nr := range rules {
		n += r.deleteLocked(nr.Labels)
	}
	r.rules = slices.Concat(r.rules, rules)
	r.revision++
	return r.revision, n
}

// ReplaceWithLabels is `--replace-with-labels L`: rules containing all of
// sel are deleted, then rules are added.
func (r *Repository) ReplaceWithLabels(rules []Rule, sel Labels) (uint64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.deleteLocked(sel)
	r.rules = slices.Concat(r.rules, rules)
	r.revision++
	return r.revision, n
}

// Delete removes the rules containing all of sel (an empty sel deletes
// every rule: `policy delete --all`) and returns the revision and count.
// The revision is bumped only when something was deleted.
func (r *Repository) Delete(sel Labels) (uint64, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.deleteLocked(sel)
	if n > 0 {
		r.revision++
	}
	return r.revision, n
}

func (r *Repository) deleteLocked(sel Labels) int {
	// Copy on write: Resolve keeps using the slice it read after
	// releasing the lock.
	kept := make([]Rule, 0, len(r.rules))
	for _, rule := range r.rules {
		if !rule.Labels.Contains(sel) {
			kept = append(kept, rule)
		}
	}
	n := len(r.rules) - len(kept)
	r.rules = kept
	return n
}

// Get returns the rules containing all of sel (all rules for an empty
// sel) and the revision they belong to.
func (r *Repository) Get(sel Labels) ([]Rule, uint64) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []Rule
	for _, rule := range r.rules {
		if rule.Labels.Contains(sel) {
			out = append(out, rule)
		}
	}
	return out, r.revision
}

// Revision returns the current revision.
func (r *Repository) Revision() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.revision
}

// Len returns the number of rules.
func (r *Repository) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.rules)
}

// stored is the storage form: what etcd will hold.
type stored struct {
	Revision uint64 `json:"revision"`
	Rules    []Rule `json:"rules"`
}

// MarshalJSON writes the rules and revision for storage.
func (r *Repository) MarshalJSON() ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rules := r.rules
	if rules == nil {
		rules = []Rule{}
	}
	return json.Marshal(stored{Revision: r.revision, Rules: rules})
}

// UnmarshalJSON loads what MarshalJSON wrote, validating the rules again
// with Parse so stored data is held to the same standard as imports.
func (r *Repository) UnmarshalJSON(data []byte) error {
	var s struct {
		Revision uint64          `json:"revision"`
		Rules    json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("load policy repository: %w", err)
	}
	var rules []Rule
	if len(s.Rules) > 0 && string(s.Rules) != "[]" && string(s.Rules) != "null" {
		var err error
		if rules, err = Parse(s.Rules); err != nil {
			return fmt.Errorf("load policy repository: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules, r.revision = rules, s.Revision
	return nil
}
