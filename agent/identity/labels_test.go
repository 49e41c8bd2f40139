// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package identity

import (
	"strings"
	"testing"
)

func TestLabelsCanonicalForm(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		key     string
		strs    string
		wantErr string
	}{
		{name: "one", in: []string{"container:name=app1"}, key: "container:name=app1;", strs: "container:name=app1"},
		{name: "sorted by key", in: []string{"container:zone=b", "container:app=x"}, key: "container:app=x;container:zone=b;", strs: "container:app=x,container:zone=b"},
		{name: "no source", in: []string{"name=app1"}, key: "unspec:name=app1;", strs: "unspec:name=app1"},
		{name: "no value", in: []string{"reserved:host"}, key: "reserved:host=;", strs: "reserved:host"},
		{name: "explicit empty value", in: []string{"container:a="}, key: "container:a=;", strs: "container:a"},
		{name: "colon in value", in: []string{"container:url=http://x"}, key: "container:url=http://x;", strs: "container:url=http://x"},
		{name: "colon in value, no source", in: []string{"url=a:b"}, key: "unspec:url=a:b;", strs: "unspec:url=a:b"},
		{name: "escaped", in: []string{`container:a=x;y\z`}, key: `container:a=x\;y\\z;`, strs: `container:a=x;y\z`},
		{name: "duplicate dropped", in: []string{"container:a=1", "container:a=1"}, key: "container:a=1;", strs: "container:a=1"},
		{name: "same key two sources", in: []string{"k8s:a=1", "container:a=1"}, key: "container:a=1;k8s:a=1;", strs: "container:a=1,k8s:a=1"},
		{name: "conflict", in: []string{"container:a=1", "container:a=2"}, wantErr: "given twice"},
		{name: "empty key", in: []string{"container:=x"}, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := NewLabels(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ls.Key() != tt.key || strings.Join(ls.Strings(), ",") != tt.strs {
				t.Fatalf("Key %q Strings %v", ls.Key(), ls.Strings())
			}
			back, err := ParseKey(ls.Key())
			if err != nil || back.Key() != ls.Key() {
				t.Fatalf("ParseKey: %v %v", back, err)
			}
		})
	}
}

func TestRangeAndReserved(t *testing.T) {
	tests := []struct{ cluster, first, last uint32 }{
		{0, 256, 65535},
		{1, 65536 + 256, 2*65536 - 1},
		{255, 255*65536 + 256, 256*65536 - 1},
	}
	for _, tt := range tests {
		f, l, err := Range(tt.cluster)
		if err != nil || f != tt.first || l != tt.last {
			t.Errorf("Range(%d) = %d, %d, %v", tt.cluster, f, l, err)
		}
	}
	if _, _, err := Range(256); err == nil {
		t.Error("cluster ID 256 accepted")
	}
	var got []string
	for _, i := range ReservedIdentities() {
		got = append(got, strings.Join(i.API().Labels, ""))
	}
	if strings.Join(got, ",") != "reserved:host,reserved:world,reserved:unmanaged,reserved:health,reserved:init,reserved:remote-node" {
		t.Fatalf("reserved: %v", got)
	}
	ls, _ := NewLabels([]string{"reserved:init"})
	if id, ok := LookupReserved(ls); !ok || id != Init {
		t.Fatalf("LookupReserved(init) = %d %v", id, ok)
	}
}
