// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestGRPCLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	g := grpcLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	g.Infof("noise %d", 1)
	g.Warningf("reconnecting to %s", "etcd")
	g.Errorln("broken")
	got := buf.String()
	for _, want := range []string{`level=DEBUG msg="reconnecting to etcd"`, `level=WARN msg=broken`} {
		if !strings.Contains(got, want) {
			t.Errorf("log %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "noise") {
		t.Errorf("info passed: %q", got)
	}
}
