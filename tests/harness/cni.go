// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// refPluginDir is where Debian's containernetworking-plugins installs.
const refPluginDir = "/usr/lib/cni"

// defaultConflist is DESIGN.md's default network, used when conf/ does not
// have it (yet).
const defaultConflist = `{"cniVersion": "1.0.0", "name": "nori", "plugins": [
  {"type": "nori-cni", "ipam": {"type": "nori-ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}`

// ConflistName is the file name of the default network in CNIConfDir.
const ConflistName = "10-nori.conflist"

// linkCNIPlugins fills dir with symlinks to the reference plugins and to
// BinDir's nori-cni and nori-ipam. The nori links may dangle until `make
// build`; a runtime using them then reports the missing binary.
func linkCNIPlugins(dir string) error {
	entries, err := os.ReadDir(refPluginDir)
	if err != nil {
		return fmt.Errorf("read reference CNI plugins (%s): %w", installHint, err)
	}
	links := map[string]string{}
	for _, e := range entries {
		links[e.Name()] = filepath.Join(refPluginDir, e.Name())
	}
	for _, p := range []string{"nori-cni", "nori-ipam"} {
		links[p] = filepath.Join(binDir(), p)
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("link CNI plugin %s: %w", name, err)
		}
	}
	return nil
}

// writeNoriConflist writes conf/10-nori.conflist (or DESIGN.md's version)
// into dir with nori-cni's agentSocket set to socket.
func writeNoriConflist(dir, socket string) error {
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "conf", ConflistName))
	if err != nil {
		raw = []byte(defaultConflist)
	}
	var list map[string]any
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("parse conflist: %w", err)
	}
	plugins, _ := list["plugins"].([]any)
	found := false
	for _, p := range plugins {
		if m, ok := p.(map[string]any); ok && m["type"] == "nori-cni" {
			m["agentSocket"] = socket
			found = true
		}
	}
	if !found {
		return fmt.Errorf("conflist has no nori-cni plugin")
	}
	out, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("encode conflist: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConflistName), append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("write conflist: %w", err)
	}
	return nil
}

// WriteConflist writes a test's own network list into the host's CNIConfDir
// as <name>.conflist, for networks besides nori (e.g. a reference bridge).
func (h *Host) WriteConflist(t testing.TB, name, conflist string) string {
	t.Helper()
	p := filepath.Join(h.CNIConfDir, name+".conflist")
	if err := os.WriteFile(p, []byte(conflist), 0o644); err != nil {
		t.Fatalf("write conflist %s: %v", p, err)
	}
	return p
}
