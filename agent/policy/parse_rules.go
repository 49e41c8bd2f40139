// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"strconv"
	"strings"
)

var (
	commonFields = []string{"toPorts", "icmps"}
	ingressFrom  = []string{"fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities"}
	egressTo     = []string{"toEndpoints", "toCIDR", "toCIDRSet", "toEntities"}

	unsupportedIngress = map[string]string{
		"fromRequires":   "not supported by Nori: deprecated in Cilium; add the labels to fromEndpoints",
		"fromGroups":     "not supported by Nori: cloud provider groups",
		"fromNodes":      "not supported by Nori: node selectors need the host firewall",
		"authentication": "not supported by Nori: mutual authentication needs SPIRE",
	}
	unsupportedEgress = map[string]string{
		"toRequires":     "not supported by Nori: deprecated in Cilium; add the labels to toEndpoints",
		"toGroups":       "not supported by Nori: cloud provider groups",
		"toNodes":        "not supported by Nori: node selectors need the host firewall",
		"toServices":     "not supported by Nori: services are Kubernetes objects",
		"toFQDNs":        "not supported by Nori: DNS-based policy is not implemented",
		"authentication": "not supported by Nori: mutual authentication needs SPIRE",
	}
)

func ruleFieldsFor(peers []string) []string {
	return append(append([]string{}, peers...), commonFields...)
}

// section parses what every rule section shares: its allowed fields and
// its peers (fromX for ingress, toX for egress).
func section(v any, path string, ingress bool) (map[string]any, l3, error) {
	fields, unsupported, dir := ruleFieldsFor(egressTo), unsupportedEgress, "to"
	if ingress {
		fields, unsupported, dir = ruleFieldsFor(ingressFrom), unsupportedIngress, "from"
	}
	m, err := object(v, path, fields, unsupported)
	if err != nil {
		return nil, l3{}, err
	}
	p, err := parsePeers(m, path, dir)
	return m, p, err
}

func parseIngress(v any, path string) (IngressRule, error) {
	m, p, err := section(v, path, true)
	if err != nil {
		return IngressRule{}, err
	}
	r := IngressRule{FromEndpoints: p.Endpoints, FromCIDR: p.CIDR, FromCIDRSet: p.CIDRSet, FromEntities: p.Entities}
	r.ToPorts, r.ICMPs, err = parseL4(m, path)
	return r, err
}

func parseEgress(v any, path string) (EgressRule, error) {
	m, p, err := section(v, path, false)
	if err != nil {
		return EgressRule{}, err
	}
	r := EgressRule{ToEndpoints: p.Endpoints, ToCIDR: p.CIDR, ToCIDRSet: p.CIDRSet, ToEntities: p.Entities}
	r.ToPorts, r.ICMPs, err = parseL4(m, path)
	return r, err
}

func parseIngressDeny(v any, path string) (IngressDenyRule, error) {
	m, p, err := section(v, path, true)
	if err != nil {
		return IngressDenyRule{}, err
	}
	r := IngressDenyRule{FromEndpoints: p.Endpoints, FromCIDR: p.CIDR, FromCIDRSet: p.CIDRSet, FromEntities: p.Entities}
	r.ToPorts, r.ICMPs, err = parseDenyL4(m, path)
	return r, err
}

func parseEgressDeny(v any, path string) (EgressDenyRule, error) {
	m, p, err := section(v, path, false)
	if err != nil {
		return EgressDenyRule{}, err
	}
	r := EgressDenyRule{ToEndpoints: p.Endpoints, ToCIDR: p.CIDR, ToCIDRSet: p.CIDRSet, ToEntities: p.Entities}
	r.ToPorts, r.ICMPs, err = parseDenyL4(m, path)
	return r, err
}

func parseL4(m map[string]any, path string) ([]PortRule, []ICMPRule, error) {
	ports, err := each(m["toPorts"], field(path, "toPorts"), parsePortRule)
	if err != nil {
		return nil, nil, err
	}
	icmps, err := parseICMPs(m, path, len(ports) > 0)
	return ports, icmps, err
}

func parseDenyL4(m map[string]any, path string) ([]PortDenyRule, []ICMPRule, error) {
	ports, err := each(m["toPorts"], field(path, "toPorts"), func(v any, p string) (PortDenyRule, error) {
		var r PortDenyRule
		pm, err := object(v, p, []string{"ports"}, map[string]string{
			"rules":          "deny rules cannot carry L7 rules (a denied connection never reaches the proxy)",
			"terminatingTLS": "deny rules cannot carry TLS settings",
			"originatingTLS": "deny rules cannot carry TLS settings",
			"serverNames":    "deny rules cannot carry TLS settings",
			"listener":       "deny rules cannot carry a listener",
		})
		if err != nil {
			return r, err
		}
		r.Ports, err = each(pm["ports"], field(p, "ports"), parsePort)
		return r, err
	})
	if err != nil {
		return nil, nil, err
	}
	icmps, err := parseICMPs(m, path, len(ports) > 0)
	return ports, icmps, err
}

func parseICMPs(m map[string]any, path string, hasPorts bool) ([]ICMPRule, error) {
	icmps, err := each(m["icmps"], field(path, "icmps"), parseICMPRule)
	if err == nil && hasPorts && len(icmps) > 0 {
		// Cilium refuses the mix too: ICMP has no ports to restrict.
		return nil, fieldErr(field(path, "icmps"), "icmps and toPorts are mutually exclusive; use two rules")
	}
	return icmps, err
}

func parsePortRule(v any, path string) (PortRule, error) {
	var r PortRule
	m, err := object(v, path, []string{"ports", "terminatingTLS", "originatingTLS", "serverNames", "rules"},
		map[string]string{"listener": "not supported by Nori: Envoy listeners are Kubernetes objects"})
	if err != nil {
		return r, err
	}
	if r.Ports, err = each(m["ports"], field(path, "ports"), parsePort); err != nil {
		return r, err
	}
	if r.TerminatingTLS, err = parseTLS(m["terminatingTLS"], field(path, "terminatingTLS")); err != nil {
		return r, err
	}
	if r.OriginatingTLS, err = parseTLS(m["originatingTLS"], field(path, "originatingTLS")); err != nil {
		return r, err
	}
	if r.ServerNames, err = each(m["serverNames"], field(path, "serverNames"), parseServerName); err != nil {
		return r, err
	}
	if rv := m["rules"]; rv != nil {
		rm, err := object(rv, field(path, "rules"), []string{"http"}, map[string]string{
			"kafka":   "not supported by Nori: Kafka rules are not implemented",
			"dns":     "not supported by Nori: DNS rules are not implemented",
			"l7proto": "not supported by Nori: generic L7 parsers are not implemented",
			"l7":      "not supported by Nori: generic L7 parsers are not implemented",
		})
		if err != nil {
			return r, err
		}
		http, err := each(rm["http"], field(path, "rules.http"), parseHTTP)
		if err != nil {
			return r, err
		}
		if len(http) > 0 {
			r.Rules = &L7Rules{HTTP: http}
		}
	}
	if r.redirects() {
		// The proxy speaks TCP (TLS, HTTP) and must know the port to
		// listen behind.
		if len(r.Ports) == 0 {
			return r, fieldErr(field(path, "ports"), "L7 rules and TLS settings need at least one port")
		}
		for i, p := range r.Ports {
			pp := index(field(path, "ports"), i)
			if p.Protocol != ProtoTCP {
				return r, fieldErr(field(pp, "protocol"), "L7 rules and TLS settings need protocol TCP, got %s", p.Protocol)
			}
			if p.Port == "" || p.Port == "0" {
				return r, fieldErr(field(pp, "port"), "L7 rules and TLS settings need a specific port")
			}
		}
	}
	return r, nil
}

// parsePort reads a port (string as in Cilium, or a JSON number), an
// optional endPort and a protocol. Named ports need Kubernetes pods, so
// only numbers are accepted.
func parsePort(v any, path string) (PortProtocol, error) {
	var p PortProtocol
	m, err := object(v, path, []string{"port", "endPort", "protocol"}, nil)
	if err != nil {
		return p, err
	}
	var port int64
	switch t := m["port"].(type) {
	case nil:
	case string:
		port, err = strconv.ParseInt(t, 10, 32)
		if err != nil || port < 0 || port > 65535 {
			msg := "is not a port number (0-65535)"
			if strings.Contains(t, "-") {
				msg += "; write a range as port and endPort"
			} else if t != "" && err != nil {
				msg += "; named ports need Kubernetes"
			}
			return p, fieldErr(field(path, "port"), "%q %s", t, msg)
		}
	default:
		port, err = integer(t, field(path, "port"), 0, 65535)
		if err != nil {
			return p, err
		}
	}
	if port != 0 {
		p.Port = strconv.FormatInt(port, 10)
	}
	if ev := m["endPort"]; ev != nil {
		end, err := integer(ev, field(path, "endPort"), 0, 65535)
		if err != nil {
			return p, err
		}
		if end != 0 {
			if port == 0 {
				return p, fieldErr(field(path, "endPort"), "needs a port to start the range")
			}
			if end < port {
				return p, fieldErr(field(path, "endPort"), "%d is below port %d", end, port)
			}
			if end != port {
				p.EndPort = int32(end)
			}
		}
	}
	proto, err := str(m["protocol"], field(path, "protocol"))
	if err != nil {
		return p, err
	}
	p.Protocol = Protocol(strings.ToUpper(proto))
	switch p.Protocol {
	case "":
		p.Protocol = ProtoAny
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoAny:
	default:
		return p, fieldErr(field(path, "protocol"), "%q is not TCP, UDP, SCTP or ANY", proto)
	}
	return p, nil
}
