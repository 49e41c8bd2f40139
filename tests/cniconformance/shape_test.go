// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cniconformance

import (
	"strings"
	"testing"

	types100 "github.com/containernetworking/cni/pkg/types/100"
)

func TestCheckResult(t *testing.T) {
	const good = `{"cniVersion":"1.0.0",
		"interfaces":[{"name":"lxc1","mac":"02:00:00:00:00:01"},{"name":"eth0","mac":"02:00:00:00:00:02","sandbox":"/run/netns/c"}],
		"ips":[{"interface":1,"address":"10.0.1.7/32","gateway":"10.0.1.1"}],
		"routes":[{"dst":"0.0.0.0/0","gw":"10.0.1.1"}]}`
	tests := []struct {
		name    string
		result  string
		version string
		wantErr string
	}{
		{"good", good, "1.0.0", ""},
		{"other version", good, "1.1.0", "result version"},
		{"no host veth", strings.Replace(good, `{"name":"lxc1","mac":"02:00:00:00:00:01"},`, `{"name":"lxc1","sandbox":"/x"},`, 1), "1.0.0", "want the host veth"},
		{"wrong sandbox", strings.Replace(good, `"sandbox":"/run/netns/c"`, `"sandbox":"/run/netns/d"`, 1), "1.0.0", "sandbox"},
		{"no interface index", strings.Replace(good, `"interface":1,`, ``, 1), "1.0.0", "interface index"},
		{"index at host", strings.Replace(good, `"interface":1,`, `"interface":0,`, 1), "1.0.0", "interface index"},
		{"not /32", strings.Replace(good, `/32`, `/24`, 1), "1.0.0", "want a /32"},
		{"no gateway", strings.Replace(good, `,"gateway":"10.0.1.1"`, ``, 1), "1.0.0", "no gateway"},
		{"no default route", strings.Replace(good, `0.0.0.0/0`, `10.0.0.0/8`, 1), "1.0.0", "no default route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := types100.NewResult([]byte(tt.result))
			if err != nil {
				t.Fatal(err)
			}
			addrs, err := CheckResult(res, tt.version, "eth0", "/run/netns/c")
			if tt.wantErr == "" {
				if err != nil || len(addrs) != 1 || addrs[0] != "10.0.1.7" {
					t.Fatalf("CheckResult = %v, %v", addrs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
