// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"fmt"
	"reflect"
	"slices"

	"github.com/nori-net/nori/agent/policy"
)

// Settings is the L7 part of a PortConfig: what every flow steered to one
// listener gets.
type Settings struct {
	TerminatingTLS *policy.TLSContext
	OriginatingTLS *policy.TLSContext
	ServerNames    []string
	HTTP           []policy.PortRuleHTTP
}

// Merge combines the L7 policies of every rule that allows one flow into
// the settings of its listener, as Cilium merges them for one port:
//   - HTTP rules add up; a policy without HTTP rules (TLS only, or a plain
//     L4 allow of the same flow) allows every request, so the result does.
//   - TLS contexts must agree: a port speaks TLS one way. Policies without
//     one take the others'; two different contexts are an error, and the
//     caller keeps the flow off the proxy (denied) rather than guess.
//   - serverNames add up; a terminating policy without any accepts every
//     name, so the result does.
func Merge(l7 []policy.L7Policy) (Settings, error) {
	var s Settings
	allowAll := len(l7) == 0
	anyName := false
	for _, p := range l7 {
		if len(p.HTTP) == 0 {
			allowAll = true
		}
		s.HTTP = append(s.HTTP, p.HTTP...)
		var err error
		if s.TerminatingTLS, err = sameTLS(s.TerminatingTLS, p.TerminatingTLS, "terminatingTLS", p.Rule); err != nil {
			return Settings{}, err
		}
		if s.OriginatingTLS, err = sameTLS(s.OriginatingTLS, p.OriginatingTLS, "originatingTLS", p.Rule); err != nil {
			return Settings{}, err
		}
		if p.TerminatingTLS != nil && len(p.ServerNames) == 0 {
			anyName = true
		}
		for _, n := range p.ServerNames {
			if !slices.Contains(s.ServerNames, n) {
				s.ServerNames = append(s.ServerNames, n)
			}
		}
	}
	if allowAll {
		s.HTTP = nil
	}
	if anyName {
		s.ServerNames = nil
	}
	return s, nil
}

func sameTLS(have, next *policy.TLSContext, field string, rule policy.RuleRef) (*policy.TLSContext, error) {
	switch {
	case next == nil:
		return have, nil
	case have == nil:
		return next, nil
	case !reflect.DeepEqual(normTLS(*have), normTLS(*next)):
		return nil, fmt.Errorf("merge L7 policies: %s of %v differs from another rule's on the same port", field, rule)
	}
	return have, nil
}

// normTLS spells out the defaults so that an explicit "tls.crt" and an
// omitted certificate compare equal.
func normTLS(t policy.TLSContext) policy.TLSContext {
	if t.Certificate == "" {
		t.Certificate = DefaultCertFile
	}
	if t.PrivateKey == "" {
		t.PrivateKey = DefaultKeyFile
	}
	if t.Secret != nil {
		sec := *t.Secret
		t.Secret = &sec
	}
	return t
}
