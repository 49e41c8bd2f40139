// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nori-net/nori/tests/harness"
)

// testMalformed: every malformed policy is rejected by validate and by
// import, exit status 1, naming the field; nothing is left behind.
func (e *policyEnv) testMalformed(t *testing.T) {
	e.agentsAlive(t)
	for _, f := range []string{"app1-to-app2.json", "app1-egress.json", "deny-app3.json", "from-host.json", "internet-not-private.json"} {
		if out, err := nori(t, e.h["h1"], nil, "policy", "validate", examplePolicy(f)); err != nil {
			t.Errorf("example %s does not validate: %v\n%s", f, err, out)
		}
	}
	dir := t.TempDir()
	for i, tt := range malformedPolicies {
		file := filepath.Join(dir, fmt.Sprintf("bad%02d.json", i))
		if err := os.WriteFile(file, []byte(tt.json), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, verb := range []string{"validate", "import"} {
			out, err := nori(t, e.h["h3"], nil, "policy", verb, file)
			var ee *exec.ExitError
			switch {
			case err == nil:
				t.Errorf("%s: nori policy %s accepted it:\n%s\n%s", tt.name, verb, tt.json, out)
			case !errors.As(err, &ee) || ee.ExitCode() != 1:
				t.Errorf("%s: nori policy %s: want exit status 1, got %v\n%s", tt.name, verb, err, out)
			case !strings.Contains(out, tt.field):
				t.Errorf("%s: nori policy %s: message does not name %q:\n%s", tt.name, verb, tt.field, out)
			}
		}
	}
	if out, err := nori(t, e.h["h1"], nil, "policy", "get"); err != nil || strings.Contains(out, "e2e-malformed") {
		t.Errorf("a rejected import left rules behind (err %v):\n%s", err, out)
	}
	e.check(t, []reach{{"app3@h1", "app2@h1", port443, harness.Open}})
}

// malformedPolicies are rejected by `nori policy validate` and `import`,
// each with a message naming field. Their labels are valid, so a rule
// that slipped through would show in `nori policy get`.
var malformedPolicies = []struct{ name, json, field string }{
	{"misspelt top-level field", bad(`"ingres": []`), "ingres"},
	{"no endpointSelector", `[{"labels": ["name=e2e-malformed"], "ingress": [{}]}]`, "endpointSelector"},
	{"port not a number", bad(`"ingress": [{"toPorts": [{"ports": [{"port": "https"}]}]}]`), "ingress[0].toPorts[0].ports[0].port"},
	{"port out of range", bad(`"ingress": [{"toPorts": [{"ports": [{"port": "70000"}]}]}]`), "ports[0].port"},
	{"endPort below port", bad(`"egress": [{"toPorts": [{"ports": [{"port": "90", "endPort": 80}]}]}]`), "ports[0].endPort"},
	{"unknown protocol", bad(`"ingress": [{"toPorts": [{"ports": [{"port": "443", "protocol": "QUIC"}]}]}]`), "ports[0].protocol"},
	{"bad CIDR", bad(`"egress": [{"toCIDR": ["172.30.0.0/33"]}]`), "egress[0].toCIDR[0]"},
	{"except outside its CIDR", bad(`"egress": [{"toCIDRSet": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}]}]`), "toCIDRSet[0].except[0]"},
	{"unknown entity", bad(`"egress": [{"toEntities": ["internet"]}]`), "toEntities[0]"},
	{"matchLabels value not a string", `[{"labels": ["name=e2e-malformed"], "endpointSelector": {"matchLabels": {"name": 2}}}]`, "endpointSelector.matchLabels"},
	{"ingress not a list", bad(`"ingress": {"fromEntities": ["all"]}`), "ingress"},
	{"misspelt matchLabels", bad(`"ingress": [{"fromEndpoints": [{"matchLabel": {"name": "app1"}}]}]`), "fromEndpoints[0].matchLabel"},
	{"deny with HTTP rules", bad(`"ingressDeny": [{"toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{"path": "/"}]}}]}]`), "ingressDeny[0].toPorts[0].rules"},
	{"icmps beside toPorts", bad(`"ingress": [{"toPorts": [{"ports": [{"port": "80"}]}], "icmps": [{"fields": [{"type": 8}]}]}]`), "ingress[0].icmps"},
}

// bad wraps rule fields into a one-rule policy selecting app2.
func bad(fields string) string {
	return `[{"labels": ["name=e2e-malformed"], "endpointSelector": {"matchLabels": {"name": "app2"}}, ` + fields + `}]`
}

func readExample(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
