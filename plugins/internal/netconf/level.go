// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"log/slog"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// DefaultLevel keeps a plugin quiet unless something went wrong but was
// recovered from (Warn), which is what a runtime's log should show.
const DefaultLevel = slog.LevelWarn

// ParseLevel reads a log level; "" means DefaultLevel. field names the
// key the value came from, for the error.
func ParseLevel(field, s string) (slog.Level, *types.Error) {
	switch strings.ToLower(s) {
	case "":
		return DefaultLevel, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, invalid(field, "must be debug, info, warn or error, got %q", s)
}
