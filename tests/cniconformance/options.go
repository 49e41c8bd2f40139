// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cniconformance

import (
	"encoding/json"
	"fmt"

	"github.com/nori-net/nori/agent/api"
)

// DefaultVersions are the spec versions the acceptance list of issue 2
// names.
var DefaultVersions = []string{"0.4.0", "1.0.0", "1.1.0"}

// Options configure RunOptions. Only ConfList, CNIPath and Netns are
// required.
type Options struct {
	// ConfList is the network configuration list (JSON).
	ConfList []byte
	// CNIPath lists the directories holding the plugins.
	CNIPath []string
	// Netns is the path of the main attachment's network namespace.
	Netns string
	// GCNetns is the namespace of the second attachment that GC must
	// remove. Empty: RunOptions creates one with `ip netns add` and
	// deletes it on cleanup.
	GCNetns string
	// Versions to run; empty means DefaultVersions.
	Versions []string
	// IfName inside the container; empty means "eth0".
	IfName string
	// Args are the CNI_ARGS pairs; nil means podman's
	// IgnoreUnknown=1;K8S_POD_NAME=<container id>.
	Args [][2]string
	// CapabilityArgs are the runtimeConfig values (e.g. "portMappings").
	CapabilityArgs map[string]any
	// AgentSocket is where the endpoints are looked up to prove ADD, GC
	// and DEL. Empty: the nori-cni plugin's "agentSocket" in ConfList, else
	// api.DefaultSocket. "-" skips the lookups (a list without nori-cni).
	AgentSocket string
	// CacheDir is libcni's result cache; empty means a temp dir.
	CacheDir string
}

func (o *Options) defaults() error {
	if len(o.ConfList) == 0 || len(o.CNIPath) == 0 || o.Netns == "" {
		return fmt.Errorf("ConfList, CNIPath and Netns are required")
	}
	if len(o.Versions) == 0 {
		o.Versions = DefaultVersions
	}
	if o.IfName == "" {
		o.IfName = "eth0"
	}
	if o.AgentSocket == "" {
		o.AgentSocket = socketFromList(o.ConfList)
	}
	return nil
}

// socketFromList finds nori-cni's agentSocket in a conflist.
func socketFromList(list []byte) string {
	var l struct {
		Plugins []struct {
			Type        string `json:"type"`
			AgentSocket string `json:"agentSocket"`
		} `json:"plugins"`
	}
	if json.Unmarshal(list, &l) == nil {
		for _, p := range l.Plugins {
			if p.Type == "nori-cni" && p.AgentSocket != "" {
				return p.AgentSocket
			}
		}
	}
	return api.DefaultSocket
}

// atVersion rewrites the list's cniVersion and drops cniVersions, so that
// libcni ≥1.2 cannot pick another version.
func atVersion(list []byte, version string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(list, &m); err != nil {
		return nil, fmt.Errorf("parse conflist: %w", err)
	}
	m["cniVersion"] = version
	delete(m, "cniVersions")
	return json.Marshal(m)
}
