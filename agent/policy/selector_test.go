// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import "testing"

func mustLabels(t *testing.T, ss ...string) Labels {
	t.Helper()
	ls, err := identityLabels(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func TestSelectorMatches(t *testing.T) {
	app1 := []string{"container:name=app1", "container:tier=web"}
	tests := []struct {
		name   string
		sel    EndpointSelector
		labels []string
		want   bool
	}{
		{"empty selects all", EndpointSelector{}, app1, true},
		{"empty selects no labels", EndpointSelector{}, nil, true},
		{"key without source matches any source", EndpointSelector{MatchLabels: map[string]string{"name": "app1"}}, app1, true},
		{"any: source", EndpointSelector{MatchLabels: map[string]string{"any:name": "app1"}}, app1, true},
		{"container source", EndpointSelector{MatchLabels: map[string]string{"container:name": "app1"}}, app1, true},
		{"other source", EndpointSelector{MatchLabels: map[string]string{"k8s:name": "app1"}}, app1, false},
		{"wrong value", EndpointSelector{MatchLabels: map[string]string{"name": "app2"}}, app1, false},
		{"all matchLabels needed", EndpointSelector{MatchLabels: map[string]string{"name": "app1", "tier": "db"}}, app1, false},
		{"reserved host", EndpointSelector{MatchLabels: map[string]string{"reserved:host": ""}}, []string{"reserved:host"}, true},
		{"reserved host not world", EndpointSelector{MatchLabels: map[string]string{"reserved:host": ""}}, []string{"reserved:world"}, false},
		{"In", EndpointSelector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpIn, Values: []string{"db", "web"}}}}, app1, true},
		{"In miss", EndpointSelector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpIn, Values: []string{"db"}}}}, app1, false},
		{"NotIn", EndpointSelector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpNotIn, Values: []string{"db"}}}}, app1, true},
		{"NotIn hit", EndpointSelector{MatchExpressions: []Requirement{{Key: "tier", Operator: OpNotIn, Values: []string{"web"}}}}, app1, false},
		{"NotIn absent key", EndpointSelector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpNotIn, Values: []string{"a"}}}}, app1, true},
		{"Exists", EndpointSelector{MatchExpressions: []Requirement{{Key: "container:tier", Operator: OpExists}}}, app1, true},
		{"Exists other source", EndpointSelector{MatchExpressions: []Requirement{{Key: "k8s:tier", Operator: OpExists}}}, app1, false},
		{"DoesNotExist", EndpointSelector{MatchExpressions: []Requirement{{Key: "zone", Operator: OpDoesNotExist}}}, app1, true},
		{"DoesNotExist present", EndpointSelector{MatchExpressions: []Requirement{{Key: "name", Operator: OpDoesNotExist}}}, app1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.sel.Matches(mustLabels(t, tt.labels...)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEntitySelects(t *testing.T) {
	app := []string{"container:name=app1"}
	cidr := []string{"cidr:10.0.0.0/8"}
	tests := []struct {
		entity Entity
		labels []string
		want   bool
	}{
		{EntityHost, []string{"reserved:host"}, true},
		{EntityHost, app, false},
		{EntityWorld, []string{"reserved:world"}, true},
		{EntityWorld, cidr, true},
		{EntityWorld, app, false},
		{EntityWorldIPv4, []string{"reserved:world"}, true},
		{EntityRemoteNode, []string{"reserved:remote-node"}, true},
		{EntityHealth, []string{"reserved:health"}, true},
		{EntityInit, []string{"reserved:init"}, true},
		{EntityUnmanaged, []string{"reserved:unmanaged"}, true},
		{EntityCluster, app, true},
		{EntityCluster, []string{"reserved:host"}, true},
		{EntityCluster, []string{"reserved:remote-node"}, true},
		{EntityCluster, []string{"reserved:health"}, true},
		{EntityCluster, []string{"reserved:init"}, true},
		{EntityCluster, []string{"reserved:world"}, false},
		{EntityCluster, cidr, false},
		{EntityAll, []string{"reserved:world"}, true},
		{EntityNone, app, false},
	}
	for _, tt := range tests {
		if got := entitySelects(tt.entity, mustLabels(t, tt.labels...)); got != tt.want {
			t.Errorf("%s selects %v: got %v, want %v", tt.entity, tt.labels, got, tt.want)
		}
	}
}

func TestLabelsContains(t *testing.T) {
	rule := Labels{{Source: SourceUnspec, Key: "name", Value: "web"}, {Source: "k8s", Key: "team", Value: "a"}}
	tests := []struct {
		sel  []string
		want bool
	}{
		{nil, true},
		{[]string{"name=web"}, true},
		{[]string{"unspec:name=web"}, true},
		{[]string{"name=web", "team=a"}, true},
		{[]string{"k8s:team=a"}, true},
		{[]string{"container:team=a"}, false},
		{[]string{"name=db"}, false},
		{[]string{"name=web", "zone=x"}, false},
	}
	for _, tt := range tests {
		sel, err := ParseLabels(tt.sel)
		if err != nil {
			t.Fatal(err)
		}
		if got := rule.Contains(sel); got != tt.want {
			t.Errorf("Contains(%v) = %v, want %v", tt.sel, got, tt.want)
		}
	}
}
