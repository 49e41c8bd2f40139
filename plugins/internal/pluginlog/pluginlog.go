// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package pluginlog builds the logger of a CNI plugin process. Logs go to
// stderr only: stdout carries the result or the error JSON and nothing
// else (a runtime parses it).
package pluginlog

import (
	"io"
	"log/slog"
	"os"
)

// New returns a text logger on stderr at level, tagged with the plugin
// binary's name and the CNI command.
func New(level slog.Level, plugin, command string) *slog.Logger {
	return NewTo(os.Stderr, level, plugin, command)
}

// NewTo is New on any writer (tests).
func NewTo(w io.Writer, level slog.Level, plugin, command string) *slog.Logger {
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	return slog.New(h).With("plugin", plugin, "command", command)
}
