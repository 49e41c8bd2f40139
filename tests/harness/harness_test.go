// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/run/nori-test/abc", "/run/nori-test/abc"},
		{`/a\040b`, "/a b"},
		{`/a\011b\134`, "/a\tb\\"},
		{`/trailing\04`, `/trailing\04`},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWriteNoriConflist(t *testing.T) {
	dir := t.TempDir()
	const sock = "/run/nori-test/x/a/nori.sock"
	if err := writeNoriConflist(dir, sock); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ConflistName))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		CNIVersion string           `json:"cniVersion"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"cniVersion", list.CNIVersion, "1.0.0"},
		{"first plugin", list.Plugins[0]["type"], "nori-cni"},
		{"agentSocket", list.Plugins[0]["agentSocket"], sock},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot()
	if !isMainModule(filepath.Join(root, "go.mod")) {
		t.Fatalf("RepoRoot() = %s, which has no main go.mod", root)
	}
}
