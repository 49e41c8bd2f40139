// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nori-net/nori/agent/policy"
)

// l7Of returns Value.L7 for a redirected region: the L7 policies of
// every allowing candidate that covers it, as a JSON array. An allowing
// entry without a redirect contributes an allow-all policy, because
// Cilium lets a plain L4 allow of the same flow keep passing every
// request behind the proxy.
func l7Of(entries []policy.Entry, cands []atom, probe atom) string {
	l7 := []policy.L7Policy{}
	seen := map[int]bool{}
	for _, c := range cands {
		if c.deny || seen[c.entry] || !c.covers(probe) {
			continue
		}
		seen[c.entry] = true
		e := &entries[c.entry]
		if !e.Redirect {
			l7 = append(l7, policy.L7Policy{})
			continue
		}
		for _, p := range e.L7 {
			// Without the rule reference: a listener is its settings, so
			// rules that move in the repository keep their listener.
			p.Rule = policy.RuleRef{}
			l7 = append(l7, p)
		}
	}
	// Sorted and deduplicated, so the string depends on the settings
	// only, not on entry order.
	enc := make([]string, len(l7))
	for i, p := range l7 {
		b, err := json.Marshal(p)
		if err != nil {
			// The types hold only strings, slices and pointers to them.
			panic(fmt.Sprintf("marshal L7 policy: %v", err))
		}
		enc[i] = string(b)
	}
	slices.Sort(enc)
	return "[" + strings.Join(slices.Compact(enc), ",") + "]"
}

// ParseL7 decodes a Value.L7.
func ParseL7(s string) ([]policy.L7Policy, error) {
	var l7 []policy.L7Policy
	if err := json.Unmarshal([]byte(s), &l7); err != nil {
		return nil, fmt.Errorf("parse L7 policies of a policy map value: %w", err)
	}
	return l7, nil
}
