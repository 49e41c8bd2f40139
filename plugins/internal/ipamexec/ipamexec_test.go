// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipamexec

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestTolerateUnsupported(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		name     string
		err      error
		wantCode uint // 0: nil
	}{
		{"ok", nil, 0},
		{"old skel, unknown verb", types.NewError(types.ErrInvalidEnvironmentVariables, "unknown CNI_COMMAND: GC", ""), 0},
		{"plugin below 1.1.0", types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions", ""), 0},
		{"agent down", types.NewError(types.ErrTryAgainLater, "nori-agent is not reachable", ""), types.ErrTryAgainLater},
		{"not found in CNI_PATH", errors.New(`failed to find plugin "x" in path [/opt/cni/bin]`), types.ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tolerateUnsupported(log, "x", "GC", tt.err)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var te *types.Error
			if !errors.As(err, &te) || te.Code != tt.wantCode {
				t.Fatalf("got %v, want code %d", err, tt.wantCode)
			}
		})
	}
}
