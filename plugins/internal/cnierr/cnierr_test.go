// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cnierr

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

func TestFromAgent(t *testing.T) {
	const sock = "/run/nori/nori.sock"
	tests := []struct {
		name     string
		err      error
		wantCode uint
		wantMsg  string // prefix
	}{
		{"unreachable", fmt.Errorf("%w at %s: dial unix: connection refused", api.ErrUnreachable, sock),
			types.ErrTryAgainLater, "nori-agent is not reachable at /run/nori/nori.sock: is it running? (systemctl status nori-agent / make run)"},
		{"invalid", &api.Error{Code: api.CodeInvalid, Message: `invalid "mtu": too small`}, types.ErrInvalidNetworkConfig, `create endpoint: invalid "mtu"`},
		{"not ready", &api.Error{Code: api.CodeNotReady, Message: "kvstore not connected"}, types.ErrTryAgainLater, "create endpoint: nori-agent is not ready yet: kvstore not connected"},
		{"pool exhausted", &api.Error{Code: api.CodePoolExhausted, Message: "no free address in node CIDR 10.0.1.0/24"}, ErrPoolExhausted, "no free address in node CIDR 10.0.1.0/24"},
		{"pool exhausted, terse agent", &api.Error{Code: api.CodePoolExhausted, Message: "10.0.1.0/24 full"}, ErrPoolExhausted, "no free address in node CIDR: 10.0.1.0/24 full"},
		{"conflict", &api.Error{Code: api.CodeConflict, Message: "10.0.1.5 belongs to abc"}, types.ErrInternal, "create endpoint: 10.0.1.5 belongs to abc"},
		{"internal", &api.Error{Code: api.CodeInternal, Message: "attach tcx: boom"}, types.ErrInternal, "create endpoint: attach tcx: boom"},
		{"wrapped agent error", fmt.Errorf("x: %w", &api.Error{Code: api.CodeNotReady, Message: "m"}), types.ErrTryAgainLater, "create endpoint: nori-agent is not ready"},
		{"plain", errors.New("decode answer"), types.ErrInternal, "create endpoint: decode answer"},
		{"already a CNI error", types.NewError(5, "io", ""), 5, "io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromAgent("create endpoint", sock, tt.err)
			if got.Code != tt.wantCode || !strings.HasPrefix(got.Msg, tt.wantMsg) {
				t.Errorf("got %d %q, want %d %q", got.Code, got.Msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
	if FromAgent("x", sock, nil) != nil {
		t.Error("FromAgent(nil) is not nil")
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		in   *types.Error
		want uint
	}{
		{types.NewError(types.ErrTryAgainLater, "down", ""), types.ErrPluginNotAvailable},
		{types.NewError(types.ErrInternal, "x", ""), types.ErrInternal},
		{types.NewError(types.ErrInvalidNetworkConfig, "x", ""), types.ErrInvalidNetworkConfig},
	}
	for _, tt := range tests {
		if got := Status(tt.in); got.Code != tt.want || got.Msg != tt.in.Msg {
			t.Errorf("Status(%d) = %d %q, want %d", tt.in.Code, got.Code, got.Msg, tt.want)
		}
	}
}
