// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyAPI keeps the CLI a pure client: of the agent it may use
// the socket API package and nothing else, directly or indirectly, except
// the policy parser, which depends on the standard library alone, so that
// `nori policy validate` works without an agent and a bad file is caught
// before it is sent.
func TestImportsOnlyAPI(t *testing.T) {
	const module = "github.com/nori-net/nori/"
	allowed := map[string]bool{
		module + "agent/api":    true,
		module + "agent/cli":    true,
		module + "agent/policy": true,
	}
	for _, pkg := range []string{".", "../cmd/nori"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, module) && !allowed[dep] && dep != module+"agent/cmd/nori" {
				t.Errorf("%s depends on %s; the CLI may import only agent/api and agent/policy", pkg, dep)
			}
		}
	}
}
