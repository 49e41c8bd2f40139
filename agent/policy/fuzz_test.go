// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParse: Parse must never panic, and whatever it accepts must survive
// the storage round trip and resolve without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seedRule))
	f.Add([]byte(`{"endpointSelector": {}, "egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]}]}`))
	f.Add([]byte(`{"endpointSelector": {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["x"]}]}, "ingressDeny": [{"fromEntities": ["world"]}]}`))
	f.Add([]byte(`{"endpointSelector": {}, "ingress": [{"icmps": [{"fields": [{"type": "EchoRequest", "family": "IPv6"}]}]}], "enableDefaultDeny": {"ingress": false}}`))
	f.Add([]byte(`[{"endpointSelector": {}, "ingress": [{"toPorts": [{"ports": [{"port": 1, "endPort": 65535}]}]}]}]`))
	f.Add([]byte(`{"labels": [{"key": "a=b", "source": "x:y"}, "k=v=w"], "endpointSelector": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := Parse(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(rules)
		if err != nil {
			t.Fatalf("marshal accepted rules: %v", err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("stored form %s does not parse: %v", out, err)
		}
		if !reflect.DeepEqual(rules, back) {
			t.Fatalf("round trip changed %s", out)
		}
		repo := NewRepository()
		repo.Add(rules)
		for _, subj := range [][]string{app1, {"reserved:init"}} {
			if _, err := Resolve(repo, subj, ModeDefault, cluster); err != nil {
				t.Fatal(err)
			}
		}
	})
}
