// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

func TestBuildResultPerVersion(t *testing.T) {
	alloc := &api.IPAMResult{
		IPs:    []api.IPConfig{{Address: "10.0.1.7/24", Gateway: "10.0.1.1"}},
		Routes: []api.Route{{Dst: "0.0.0.0/0", GW: "10.0.1.1"}},
	}
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			r, err := buildResult(alloc, v)
			if err != nil {
				t.Fatalf("buildResult: %v", err)
			}
			var buf bytes.Buffer
			if err := r.PrintTo(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, want := range []string{`"cniVersion": "` + v + `"`, `"address": "10.0.1.7/24"`, `"gateway": "10.0.1.1"`, `"dst": "0.0.0.0/0"`} {
				if !strings.Contains(out, want) {
					t.Errorf("result lacks %s:\n%s", want, out)
				}
			}
			// An IPAM result names no interface: the calling plugin does.
			if strings.Contains(out, `"interface"`) || strings.Contains(out, `"interfaces"`) {
				t.Errorf("IPAM result names interfaces:\n%s", out)
			}
		})
	}
	if _, err := buildResult(&api.IPAMResult{}, "1.0.0"); err == nil {
		t.Error("empty allocation accepted")
	}
}
