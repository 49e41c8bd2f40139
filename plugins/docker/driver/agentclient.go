// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import "github.com/nori-net/nori/agent/api"

// AgentClient is the Agent over nori-agent's socket.
type AgentClient struct {
	*api.Client
}

// NewAgentClient returns an AgentClient for socket ("" is the default).
func NewAgentClient(socket string) *AgentClient {
	return &AgentClient{Client: api.NewClient(socket)}
}
