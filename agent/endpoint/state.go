// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package endpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stateStore keeps one JSON file per endpoint in <state-dir>/endpoints, so
// a restarted agent knows which devices, addresses and identities are its
// own. Files are replaced atomically (write, fsync, rename): a SIGKILL in
// the middle leaves either the old or the new record, never half of one.
type stateStore struct {
	dir string
}

func newStateStore(dir string) (*stateStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create endpoint state dir: %w", err)
	}
	return &stateStore{dir: dir}, nil
}

func (s *stateStore) path(id uint16) string {
	return filepath.Join(s.dir, strconv.Itoa(int(id))+".json")
}

func (s *stateStore) save(ep *Endpoint) error {
	data, err := json.MarshalIndent(ep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode endpoint %d: %w", ep.ID, err)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("save endpoint %d: %w", ep.ID, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save endpoint %d: %w", ep.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save endpoint %d: %w", ep.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save endpoint %d: %w", ep.ID, err)
	}
	if err := os.Rename(tmp.Name(), s.path(ep.ID)); err != nil {
		return fmt.Errorf("save endpoint %d: %w", ep.ID, err)
	}
	return nil
}

func (s *stateStore) remove(id uint16) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove endpoint %d state: %w", id, err)
	}
	return nil
}

// load returns every saved endpoint; unreadable files are reported and
// skipped rather than blocking the agent's start.
func (s *stateStore) load() ([]*Endpoint, []error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("read endpoint state dir: %w", err)}
	}
	var eps []*Endpoint
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", name, err))
			continue
		}
		var ep Endpoint
		if err := json.Unmarshal(data, &ep); err != nil {
			errs = append(errs, fmt.Errorf("decode %s: %w", name, err))
			continue
		}
		eps = append(eps, &ep)
	}
	return eps, errs
}
