// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantIPs []string
		wantErr string
	}{
		{"empty", "", map[string]string{}, nil, ""},
		{"nerdctl", "IgnoreUnknown=1;NERDCTL_CNI_DHCP_HOSTNAME=web", map[string]string{"IgnoreUnknown": "1", "NERDCTL_CNI_DHCP_HOSTNAME": "web"}, nil, ""},
		{"podman with static ip", "IgnoreUnknown=1;K8S_POD_NAME=app1;IP=10.0.0.9", map[string]string{"IgnoreUnknown": "1", "K8S_POD_NAME": "app1", "IP": "10.0.0.9"}, []string{"10.0.0.9"}, ""},
		{"unknown passed with IgnoreUnknown", "IgnoreUnknown=true;FOO=bar", map[string]string{"IgnoreUnknown": "true", "FOO": "bar"}, nil, ""},
		{"value with =", "IgnoreUnknown=1;X=a=b", map[string]string{"IgnoreUnknown": "1", "X": "a=b"}, nil, ""},
		{"two ips", "IP=10.0.0.9,10.0.0.10", map[string]string{"IP": "10.0.0.9,10.0.0.10"}, []string{"10.0.0.9", "10.0.0.10"}, ""},
		{"trailing ;", "K8S_POD_NAME=a;", map[string]string{"K8S_POD_NAME": "a"}, nil, ""},
		{"unknown refused", "FOO=bar", nil, nil, `invalid CNI_ARGS "FOO": unknown key`},
		{"IgnoreUnknown=0", "IgnoreUnknown=0;FOO=bar", nil, nil, `invalid CNI_ARGS "FOO"`},
		{"not a pair", "IgnoreUnknown=1;junk", nil, nil, `invalid CNI_ARGS: "junk" is not KEY=VALUE`},
		{"bad bool", "IgnoreUnknown=yes", nil, nil, `invalid CNI_ARGS "IgnoreUnknown"`},
		{"bad ip", "IP=10.0.0.999", nil, nil, `invalid CNI_ARGS "IP"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseArgs(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Code != types.ErrInvalidEnvironmentVariables || !strings.HasPrefix(err.Msg, tt.wantErr) {
					t.Fatalf("err = %v, want code 4 %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			if !reflect.DeepEqual(a.Map, tt.want) || !reflect.DeepEqual(a.IPs, tt.wantIPs) {
				t.Errorf("got %v %v, want %v %v", a.Map, a.IPs, tt.want, tt.wantIPs)
			}
		})
	}
}

func TestRequestedIPs(t *testing.T) {
	args, err := ParseArgs("IP=10.0.0.9,10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	got := RequestedIPs(RuntimeConfig{IPs: []string{"10.0.0.5/24", "10.0.0.6"}}, args)
	want := []string{"10.0.0.5", "10.0.0.6", "10.0.0.9"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RequestedIPs = %v, want %v", got, want)
	}
}
