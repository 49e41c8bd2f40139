// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

const cacheFile = "node.json"

// ReadCache returns the node last registered from stateDir (node.json).
func ReadCache(stateDir string) (Node, error) {
	var n Node
	data, err := os.ReadFile(filepath.Join(stateDir, cacheFile))
	if err != nil {
		return n, fmt.Errorf("read node cache: %w", err)
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return n, fmt.Errorf("parse node cache: %w", err)
	}
	return n, nil
}

// writeCache replaces node.json by rename, so a crash leaves the old or the
// new file, never half of one.
func writeCache(stateDir string, n Node) error {
	data, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return fmt.Errorf("encode node cache: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	f, err := os.CreateTemp(stateDir, ".node.json-")
	if err != nil {
		return fmt.Errorf("write node cache: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(stateDir, cacheFile))
	}
	if err != nil {
		return fmt.Errorf("write node cache: %w", err)
	}
	return nil
}
