// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// knownArgs are the CNI_ARGS keys runtimes send that Nori understands or
// passes on to the agent (apis.md §b). Anything else is refused unless the
// runtime also sent IgnoreUnknown=1, the convention of types.LoadArgs.
var knownArgs = map[string]bool{
	"IgnoreUnknown":              true,
	"IP":                         true,
	"MAC":                        true,
	"K8S_POD_NAME":               true,
	"K8S_POD_NAMESPACE":          true,
	"K8S_POD_INFRA_CONTAINER_ID": true,
	"K8S_POD_UID":                true,
	"NERDCTL_CNI_DHCP_HOSTNAME":  true,
}

// Args are the parsed CNI_ARGS.
type Args struct {
	// Map holds every pair; nori-cni passes it to the agent, which uses
	// K8S_POD_NAME and friends to name the container.
	Map map[string]string
	// IPs are the static addresses of IP= (comma-separated, as host-local
	// reads them).
	IPs []string
}

// ParseArgs parses CNI_ARGS ("K=V;K2=V2"). Unlike types.LoadArgs it keeps
// everything after the first "=" as the value, so values may contain "=".
// Errors have code 4 (invalid environment variable) and name the key.
func ParseArgs(s string) (*Args, *types.Error) {
	a := &Args{Map: map[string]string{}}
	if s == "" {
		return a, nil
	}
	for _, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, argErr("", "%q is not KEY=VALUE", pair)
		}
		a.Map[k] = v
	}
	ignore := false
	if v, ok := a.Map["IgnoreUnknown"]; ok {
		switch strings.ToLower(v) {
		case "1", "true":
			ignore = true
		case "0", "false":
		default:
			return nil, argErr("IgnoreUnknown", "must be 1, true, 0 or false, got %q", v)
		}
	}
	if !ignore {
		for k := range a.Map {
			if !knownArgs[k] {
				return nil, argErr(k, "unknown key (set IgnoreUnknown=1 to pass it through)")
			}
		}
	}
	if v := a.Map["IP"]; v != "" {
		for _, ip := range strings.Split(v, ",") {
			ip = strings.TrimSpace(ip)
			if !validIP(ip) {
				return nil, argErr("IP", "%q is not an IP address", ip)
			}
			a.IPs = append(a.IPs, ip)
		}
	}
	return a, nil
}

func argErr(key, format string, v ...any) *types.Error {
	msg := "invalid CNI_ARGS: " + fmt.Sprintf(format, v...)
	if key != "" {
		msg = fmt.Sprintf("invalid CNI_ARGS %q: %s", key, fmt.Sprintf(format, v...))
	}
	return types.NewError(types.ErrInvalidEnvironmentVariables, msg, "")
}

// RequestedIPs merges the ips capability and CNI_ARGS IP= into the list
// of static addresses to ask IPAM for, without prefix lengths and without
// duplicates. The capability comes first: it is the newer mechanism.
func RequestedIPs(rc RuntimeConfig, a *Args) []string {
	var out []string
	seen := map[string]bool{}
	add := func(list []string) {
		for _, ip := range list {
			ip = bareIP(ip)
			if !seen[ip] {
				seen[ip] = true
				out = append(out, ip)
			}
		}
	}
	add(rc.IPs)
	if a != nil {
		add(a.IPs)
	}
	return out
}
