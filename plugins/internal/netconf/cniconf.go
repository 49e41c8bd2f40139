// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"encoding/json"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/nori-net/nori/agent/api"
)

// MTU bounds: 576 is the smallest IPv4 datagram every host must accept,
// 65535 the largest an IPv4 length field can carry.
const (
	MinMTU = 576
	MaxMTU = 65535
)

// IPAMRef is the "ipam" object of a plugin configuration. Only "type" is
// read here; the delegated plugin reads the rest from the same stdin.
type IPAMRef struct {
	Type string `json:"type"`
}

// Conf is the configuration nori-cni receives for one network.
type Conf struct {
	CNIVersion string    `json:"cniVersion"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	IPAM       *IPAMRef  `json:"ipam,omitempty"`
	DNS        types.DNS `json:"dns"`

	// AgentSocket is where nori-agent listens (default api.DefaultSocket).
	AgentSocket string `json:"agentSocket,omitempty"`
	// MTU of the container interface; 0 leaves it to the agent (underlay
	// MTU minus tunnel overhead).
	MTU int `json:"mtu,omitempty"`
	// LogLevel is debug, info, warn or error; logs go to stderr.
	LogLevel string `json:"logLevel,omitempty"`

	RuntimeConfig RuntimeConfig `json:"runtimeConfig"`
	// GC is decoded separately: encoding/json cannot inline a struct.
	GC GCAttachments `json:"-"`

	RawPrevResult map[string]any `json:"prevResult,omitempty"`
}

// Socket is the agent socket to dial.
func (c *Conf) Socket() string {
	if c.AgentSocket == "" {
		return api.DefaultSocket
	}
	return c.AgentSocket
}

// PrevResult decodes prevResult (CHECK, DEL) in the configuration's
// version; nil when the runtime sent none.
func (c *Conf) PrevResult() (types.Result, error) {
	return prevResult(c.CNIVersion, c.RawPrevResult)
}

// Load parses and validates nori-cni's configuration. The error is always
// a *types.Error with code 7 naming the field.
func Load(stdin []byte) (*Conf, *types.Error) {
	var c Conf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, decodeErr("", err)
	}
	if err := json.Unmarshal(stdin, &c.GC); err != nil {
		return nil, decodeErr("", err)
	}
	if c.IPAM == nil {
		return nil, missing("ipam", `nori-cni needs an IPAM plugin, e.g. "ipam": {"type": "nori-ipam"} or {"type": "host-local", ...}`)
	}
	if c.IPAM.Type == "" {
		return nil, missing("ipam.type", `name the IPAM plugin, e.g. "nori-ipam" or "host-local"`)
	}
	if c.MTU != 0 && (c.MTU < MinMTU || c.MTU > MaxMTU) {
		return nil, invalid("mtu", "must be between %d and %d (or 0 for the agent's default), got %d", MinMTU, MaxMTU, c.MTU)
	}
	if err := checkSocket("agentSocket", c.AgentSocket); err != nil {
		return nil, err
	}
	if _, err := ParseLevel("logLevel", c.LogLevel); err != nil {
		return nil, err
	}
	if err := c.RuntimeConfig.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkSocket(field, path string) *types.Error {
	if path != "" && !filepath.IsAbs(path) {
		return invalid(field, "must be an absolute path, got %q", path)
	}
	return nil
}

func prevResult(cniVersion string, raw map[string]any) (types.Result, error) {
	if raw == nil {
		return nil, nil
	}
	pc := types.PluginConf{CNIVersion: cniVersion, RawPrevResult: raw}
	if err := version.ParsePrevResult(&pc); err != nil {
		return nil, invalid("prevResult", "%v", err)
	}
	return pc.PrevResult, nil
}
