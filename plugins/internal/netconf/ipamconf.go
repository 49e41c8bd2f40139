// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"encoding/json"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

// IPAMConf is what nori-ipam reads. It gets the whole configuration of the
// plugin that delegated to it, so settings are looked up in "ipam" first
// and then at the top level, where nori-cni keeps them.
type IPAMConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	IPAM       struct {
		Type        string `json:"type"`
		AgentSocket string `json:"agentSocket,omitempty"`
		LogLevel    string `json:"logLevel,omitempty"`
	} `json:"ipam"`
	AgentSocket   string         `json:"agentSocket,omitempty"`
	LogLevel      string         `json:"logLevel,omitempty"`
	RuntimeConfig RuntimeConfig  `json:"runtimeConfig"`
	RawPrevResult map[string]any `json:"prevResult,omitempty"`
	GC            GCAttachments  `json:"-"`
}

// Socket is the agent socket to dial.
func (c *IPAMConf) Socket() string {
	switch {
	case c.IPAM.AgentSocket != "":
		return c.IPAM.AgentSocket
	case c.AgentSocket != "":
		return c.AgentSocket
	}
	return api.DefaultSocket
}

// Level is the configured log level (ipam's own setting wins) and the
// key it came from.
func (c *IPAMConf) Level() (field, value string) {
	if c.IPAM.LogLevel != "" {
		return "ipam.logLevel", c.IPAM.LogLevel
	}
	return "logLevel", c.LogLevel
}

// PrevResult decodes prevResult in the configuration's version.
func (c *IPAMConf) PrevResult() (types.Result, error) {
	return prevResult(c.CNIVersion, c.RawPrevResult)
}

// LoadIPAM parses and validates nori-ipam's configuration.
func LoadIPAM(stdin []byte) (*IPAMConf, *types.Error) {
	var c IPAMConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, decodeErr("", err)
	}
	if err := json.Unmarshal(stdin, &c.GC); err != nil {
		return nil, decodeErr("", err)
	}
	if err := checkSocket("ipam.agentSocket", c.IPAM.AgentSocket); err != nil {
		return nil, err
	}
	if err := checkSocket("agentSocket", c.AgentSocket); err != nil {
		return nil, err
	}
	if _, err := ParseLevel(c.Level()); err != nil {
		return nil, err
	}
	if err := c.RuntimeConfig.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
