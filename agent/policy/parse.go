// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Parse reads a JSON array of rules or a single rule object and validates
// every rule. Errors name the rule (its index in the file and its labels)
// and the field path, e.g.
//
//	rule 2 (labels name=allow-web): ingress[0].toPorts[0].ports[0].port: "abc" is not a port number
func Parse(data []byte) ([]Rule, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("parse policy: data after the first JSON value")
	}
	var elems []any
	switch t := top.(type) {
	case []any:
		elems = t
	case map[string]any:
		elems = []any{t}
	default:
		return nil, fmt.Errorf("parse policy: expected a rule object or an array of rules, got %s", kind(top))
	}
	if len(elems) == 0 {
		return nil, errors.New("parse policy: no rules")
	}
	rules := make([]Rule, 0, len(elems))
	for i, e := range elems {
		r, err := parseRule(e)
		if err != nil {
			return nil, fmt.Errorf("rule %d%s: %w", i, ruleNote(e), err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// ruleNote names a rule by its labels when they parse, so a user can find
// it in a long file.
func ruleNote(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ls, err := parseLabels(m["labels"], "labels")
	if err != nil || len(ls) == 0 {
		return ""
	}
	return " (labels " + ls.short() + ")"
}

var ruleFields = []string{"endpointSelector", "nodeSelector", "ingress", "ingressDeny", "egress", "egressDeny",
	"labels", "enableDefaultDeny", "description"}

func parseRule(v any) (Rule, error) {
	var r Rule
	m, err := object(v, "", ruleFields, nil)
	if err != nil {
		return r, err
	}
	es, hasES := m["endpointSelector"]
	_, hasNS := m["nodeSelector"]
	switch {
	case hasES && hasNS:
		return r, fieldErr("nodeSelector", "endpointSelector and nodeSelector are mutually exclusive")
	case hasNS:
		return r, fieldErr("nodeSelector", "not supported by Nori: host policies need the host firewall; use endpointSelector")
	case !hasES:
		return r, fieldErr("endpointSelector", "required: the endpoints this rule applies to ({} for all)")
	}
	if r.EndpointSelector, err = parseSelector(es, "endpointSelector"); err != nil {
		return r, err
	}
	if r.Ingress, err = each(m["ingress"], "ingress", parseIngress); err != nil {
		return r, err
	}
	if r.IngressDeny, err = each(m["ingressDeny"], "ingressDeny", parseIngressDeny); err != nil {
		return r, err
	}
	if r.Egress, err = each(m["egress"], "egress", parseEgress); err != nil {
		return r, err
	}
	if r.EgressDeny, err = each(m["egressDeny"], "egressDeny", parseEgressDeny); err != nil {
		return r, err
	}
	if r.Labels, err = parseLabels(m["labels"], "labels"); err != nil {
		return r, err
	}
	if d, ok := m["enableDefaultDeny"]; ok && d != nil {
		dm, err := object(d, "enableDefaultDeny", []string{"ingress", "egress"}, nil)
		if err != nil {
			return r, err
		}
		if r.EnableDefaultDeny.Ingress, err = boolean(dm["ingress"], "enableDefaultDeny.ingress"); err != nil {
			return r, err
		}
		if r.EnableDefaultDeny.Egress, err = boolean(dm["egress"], "enableDefaultDeny.egress"); err != nil {
			return r, err
		}
	}
	r.Description, err = str(m["description"], "description")
	return r, err
}

func parseLabels(v any, path string) (Labels, error) {
	return each(v, path, func(e any, p string) (Label, error) {
		switch t := e.(type) {
		case string:
			l, err := ParseLabel(t, SourceUnspec)
			if err != nil {
				return l, fieldErr(p, "%v", err)
			}
			return l, nil
		case map[string]any:
			m, err := object(t, p, []string{"key", "value", "source"}, nil)
			if err != nil {
				return Label{}, err
			}
			var l Label
			if l.Key, err = str(m["key"], field(p, "key")); err != nil {
				return l, err
			}
			if l.Value, err = str(m["value"], field(p, "value")); err != nil {
				return l, err
			}
			if l.Source, err = str(m["source"], field(p, "source")); err != nil {
				return l, err
			}
			if l.Source == "" {
				l.Source = SourceUnspec
			}
			if l.Key == "" {
				return l, fieldErr(field(p, "key"), "required")
			}
			return l, nil
		}
		return Label{}, fieldErr(p, "expected a label string or {key, value, source}, got %s", kind(e))
	})
}

func parseSelector(v any, path string) (EndpointSelector, error) {
	var s EndpointSelector
	m, err := object(v, path, []string{"matchLabels", "matchExpressions"}, nil)
	if err != nil {
		return s, err
	}
	if ml := m["matchLabels"]; ml != nil {
		mm, ok := ml.(map[string]any)
		if !ok {
			return s, fieldErr(field(path, "matchLabels"), "expected an object of key: value, got %s", kind(ml))
		}
		if len(mm) > 0 {
			s.MatchLabels = make(map[string]string, len(mm))
		}
		for _, k := range slices.Sorted(maps.Keys(mm)) {
			val := mm[k]
			p := field(path, "matchLabels") + "[" + k + "]"
			if err := checkSelectorKey(k, p); err != nil {
				return s, err
			}
			sv, ok := val.(string)
			if !ok {
				return s, fieldErr(p, "label value must be a string, got %s", kind(val))
			}
			s.MatchLabels[k] = sv
		}
	}
	s.MatchExpressions, err = each(m["matchExpressions"], field(path, "matchExpressions"), parseRequirement)
	return s, err
}

func checkSelectorKey(k, path string) error {
	src, key := splitKey(k)
	if src == "" || key == "" {
		return fieldErr(path, "label key %q: want key or source:key", k)
	}
	return nil
}

func parseRequirement(v any, path string) (Requirement, error) {
	var r Requirement
	m, err := object(v, path, []string{"key", "operator", "values"}, nil)
	if err != nil {
		return r, err
	}
	if r.Key, err = str(m["key"], field(path, "key")); err != nil {
		return r, err
	}
	if err := checkSelectorKey(r.Key, field(path, "key")); err != nil {
		return r, err
	}
	op, err := str(m["operator"], field(path, "operator"))
	if err != nil {
		return r, err
	}
	r.Operator = Operator(op)
	if r.Values, err = strings_(m["values"], field(path, "values")); err != nil {
		return r, err
	}
	switch r.Operator {
	case OpIn, OpNotIn:
		if len(r.Values) == 0 {
			return r, fieldErr(field(path, "values"), "operator %s needs at least one value", op)
		}
	case OpExists, OpDoesNotExist:
		if len(r.Values) > 0 {
			return r, fieldErr(field(path, "values"), "operator %s takes no values", op)
		}
	default:
		return r, fieldErr(field(path, "operator"), "%q is not In, NotIn, Exists or DoesNotExist", op)
	}
	return r, nil
}

// parsePeers reads the L3 fields of any rule kind; dir is "from" or "to".
func parsePeers(m map[string]any, path, dir string) (l3, error) {
	var p l3
	var err error
	if p.Endpoints, err = each(m[dir+"Endpoints"], field(path, dir+"Endpoints"), parseSelector); err != nil {
		return p, err
	}
	if p.CIDR, err = each(m[dir+"CIDR"], field(path, dir+"CIDR"), parseCIDR); err != nil {
		return p, err
	}
	if p.CIDRSet, err = each(m[dir+"CIDRSet"], field(path, dir+"CIDRSet"), parseCIDRRule); err != nil {
		return p, err
	}
	p.Entities, err = each(m[dir+"Entities"], field(path, dir+"Entities"), func(v any, path string) (Entity, error) {
		s, ok := v.(string)
		if !ok {
			return "", fieldErr(path, "expected an entity name, got %s", kind(v))
		}
		e := Entity(s)
		if why, ok := unsupportedEntities[e]; ok {
			return "", fieldErr(path, "entity %q is not supported by Nori: %s", s, why)
		}
		if !knownEntity(e) {
			return "", fieldErr(path, "unknown entity %q (known: all, world, world-ipv4, world-ipv6, cluster, host, remote-node, health, init, unmanaged, none)", s)
		}
		return e, nil
	})
	return p, err
}

// parseCIDR accepts a prefix or a bare address (a /32 or /128, as Cilium)
// and stores it masked, so equal prefixes compare equal.
func parseCIDR(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(path, "expected a CIDR string, got %s", kind(v))
	}
	p, err := toPrefix(s)
	if err != nil {
		return "", fieldErr(path, "%q is not a CIDR or IP address", s)
	}
	return p.String(), nil
}

func toPrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errors.New("bad address")
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	return p.Masked(), nil
}

func parseCIDRRule(v any, path string) (CIDRRule, error) {
	var c CIDRRule
	m, err := object(v, path, []string{"cidr", "except"},
		map[string]string{"cidrGroupRef": "not supported by Nori: CIDR groups are Kubernetes objects"})
	if err != nil {
		return c, err
	}
	if m["cidr"] == nil {
		return c, fieldErr(field(path, "cidr"), "required")
	}
	if c.CIDR, err = parseCIDR(m["cidr"], field(path, "cidr")); err != nil {
		return c, err
	}
	if c.Except, err = each(m["except"], field(path, "except"), parseCIDR); err != nil {
		return c, err
	}
	outer := netip.MustParsePrefix(c.CIDR)
	for i, e := range c.Except {
		ep := netip.MustParsePrefix(e)
		if ep.Addr().Is4() != outer.Addr().Is4() || ep.Bits() < outer.Bits() || !outer.Contains(ep.Addr()) {
			return c, fieldErr(index(field(path, "except"), i), "%s is not inside %s", e, c.CIDR)
		}
	}
	return c, nil
}
