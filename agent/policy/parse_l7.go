// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

func parseTLS(v any, path string) (*TLSContext, error) {
	if v == nil {
		return nil, nil
	}
	m, err := object(v, path, []string{"secret", "trustedCA", "certificate", "privateKey"}, nil)
	if err != nil {
		return nil, err
	}
	t := &TLSContext{}
	if m["secret"] == nil {
		return nil, fieldErr(field(path, "secret"), "required: {\"name\": folder of tls.crt and tls.key}")
	}
	sm, err := object(m["secret"], field(path, "secret"), []string{"name", "namespace"}, nil)
	if err != nil {
		return nil, err
	}
	t.Secret = &Secret{}
	if t.Secret.Name, err = str(sm["name"], field(path, "secret.name")); err != nil {
		return nil, err
	}
	if t.Secret.Name == "" {
		return nil, fieldErr(field(path, "secret.name"), "required")
	}
	if t.Secret.Namespace, err = str(sm["namespace"], field(path, "secret.namespace")); err != nil {
		return nil, err
	}
	// The proxy reads <certificates-directory>/<name>/<item>: every part
	// must stay inside that directory.
	for _, f := range []struct {
		name string
		dst  *string
	}{{"secret.name", &t.Secret.Name}, {"secret.namespace", &t.Secret.Namespace},
		{"trustedCA", &t.TrustedCA}, {"certificate", &t.Certificate}, {"privateKey", &t.PrivateKey}} {
		if f.name != "secret.name" && f.name != "secret.namespace" {
			if *f.dst, err = str(m[f.name], field(path, f.name)); err != nil {
				return nil, err
			}
		}
		if s := *f.dst; s != "" && (s != filepath.Base(s) || s == "." || s == "..") {
			return nil, fieldErr(field(path, f.name), "%q must be a plain file or folder name", s)
		}
	}
	return t, nil
}

var serverNameRE = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)

func parseServerName(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fieldErr(path, "expected a host name, got %s", kind(v))
	}
	if !serverNameRE.MatchString(s) {
		return "", fieldErr(path, "%q is not a host name (a leading *. is allowed)", s)
	}
	return s, nil
}

func parseHTTP(v any, path string) (PortRuleHTTP, error) {
	var h PortRuleHTTP
	m, err := object(v, path, []string{"path", "method", "host", "headers"},
		map[string]string{"headerMatches": "not supported by Nori: header matches with secrets are not implemented; use headers"})
	if err != nil {
		return h, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"path", &h.Path}, {"method", &h.Method}, {"host", &h.Host}} {
		if *f.dst, err = str(m[f.name], field(path, f.name)); err != nil {
			return h, err
		}
		if _, err := CompileHTTPRegex(*f.dst); err != nil {
			return h, fieldErr(field(path, f.name), "%v", err)
		}
	}
	if h.Headers, err = strings_(m["headers"], field(path, "headers")); err != nil {
		return h, err
	}
	for i, hd := range h.Headers {
		name, _, _ := strings.Cut(hd, " ")
		if strings.TrimSuffix(name, ":") == "" {
			return h, fieldErr(index(field(path, "headers"), i), "%q: want \"Name\" or \"Name value\"", hd)
		}
	}
	return h, nil
}

// CompileHTTPRegex compiles an HTTP rule field the way Envoy matches it in
// Cilium: RE2, the whole string must match. Empty matches everything.
func CompileHTTPRegex(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		// Report against the user's text, not our anchored form.
		if _, err2 := regexp.Compile(expr); err2 != nil {
			err = err2
		}
		return nil, fmt.Errorf("invalid regex %q: %w", expr, err)
	}
	return re, nil
}

// icmpTypeNames are the names Cilium accepts besides numbers (IPv4 ones).
var icmpTypeNames = map[string]uint8{
	"EchoReply": 0, "DestinationUnreachable": 3, "Redirect": 5, "EchoRequest": 8,
	"RouterAdvertisement": 9, "RouterSelection": 10, "TimeExceeded": 11, "ParameterProblem": 12,
	"Timestamp": 13, "TimestampReply": 14,
}

// icmpv6TypeNames are the IPv6 names.
var icmpv6TypeNames = map[string]uint8{
	"DestinationUnreachable": 1, "PacketTooBig": 2, "TimeExceeded": 3, "ParameterProblem": 4,
	"EchoRequest": 128, "EchoReply": 129, "NeighborSolicitation": 135, "NeighborAdvertisement": 136,
}

func parseICMPRule(v any, path string) (ICMPRule, error) {
	var r ICMPRule
	m, err := object(v, path, []string{"fields"}, nil)
	if err != nil {
		return r, err
	}
	r.Fields, err = each(m["fields"], field(path, "fields"), func(v any, p string) (ICMPField, error) {
		var f ICMPField
		fm, err := object(v, p, []string{"type", "family"}, nil)
		if err != nil {
			return f, err
		}
		if f.Family, err = str(fm["family"], field(p, "family")); err != nil {
			return f, err
		}
		names := icmpTypeNames
		switch f.Family {
		case "", "IPv4":
			f.Family = ""
		case "IPv6":
			names = icmpv6TypeNames
		default:
			return f, fieldErr(field(p, "family"), "%q is not IPv4 or IPv6", f.Family)
		}
		switch t := fm["type"].(type) {
		case nil:
			return f, fieldErr(field(p, "type"), "required")
		case string:
			n, ok := names[t]
			if !ok {
				i, err := strconv.ParseUint(t, 10, 8)
				if err != nil {
					return f, fieldErr(field(p, "type"), "%q is not an ICMP type number (0-255) or name", t)
				}
				n = uint8(i)
			}
			f.Type = n
		default:
			i, err := integer(t, field(p, "type"), 0, 255)
			if err != nil {
				return f, err
			}
			f.Type = uint8(i)
		}
		return f, nil
	})
	if err == nil && len(r.Fields) == 0 {
		err = fieldErr(field(path, "fields"), "at least one ICMP type is required")
	}
	return r, err
}
