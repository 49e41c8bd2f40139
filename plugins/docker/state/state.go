// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package state keeps what nori-docker must remember across its own
// restarts (Docker does not replay its calls to a remote driver): the
// networks, the addresses it handed out and the endpoints, in one JSON
// file that is replaced atomically on every change.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/nori-net/nori/agent/api"
)

// DefaultDir is where the state file lives unless --state-dir says else.
const DefaultDir = "/var/lib/nori/docker"

// fileName is the state file inside the directory.
const fileName = "state.json"

// version is written into the file so that a later layout can migrate.
const version = 1

// Network is one Docker network created with the nori driver.
type Network struct {
	ID string `json:"id"`
	// MTU from `-o com.docker.network.driver.mtu=N`; 0 is the agent's default.
	MTU int `json:"mtu,omitempty"`
	// Options are the generic (-o) options, kept for EndpointOperInfo and
	// debugging.
	Options map[string]string `json:"options,omitempty"`
}

// Address is one address handed out by the IPAM driver. Docker's IPAM
// calls name no container, so the agent allocation carries a synthetic
// attachment that only this file knows.
type Address struct {
	Address    string         `json:"address"`
	PoolID     string         `json:"poolID"`
	Attachment api.Attachment `json:"attachment"`
}

// Endpoint is one Docker endpoint and the agent endpoint behind it.
type Endpoint struct {
	ID        string `json:"id"`
	NetworkID string `json:"networkID"`
	// Attachment is what the agent knows the endpoint by.
	Attachment api.Attachment `json:"attachment"`
	Address    string         `json:"address"`
	HostIfName string         `json:"hostIfName,omitempty"`
	MAC        string         `json:"mac,omitempty"`
	Gateway    string         `json:"gateway,omitempty"`
	// SandboxKey is set between Join and Leave.
	SandboxKey string `json:"sandboxKey,omitempty"`
	// Routes says whether this endpoint's Join gave the sandbox its route
	// to the router (the first nori endpoint in a sandbox does).
	Routes bool `json:"routes,omitempty"`
	// ContainerID and Name are learnt from the Docker API after Join.
	ContainerID  string            `json:"containerID,omitempty"`
	Name         string            `json:"name,omitempty"`
	PortMappings []api.PortMapping `json:"portMappings,omitempty"`
}

// Data is the whole state.
type Data struct {
	Version   int                  `json:"version"`
	Networks  map[string]*Network  `json:"networks"`
	Addresses map[string]*Address  `json:"addresses"` // by IP without prefix
	Endpoints map[string]*Endpoint `json:"endpoints"` // by Docker endpoint ID
}

func empty() *Data {
	return &Data{
		Version:   version,
		Networks:  map[string]*Network{},
		Addresses: map[string]*Address{},
		Endpoints: map[string]*Endpoint{},
	}
}

// Store holds the state in memory and on disk.
type Store struct {
	path string
	mu   sync.Mutex
	data *Data
	// existed: Open read a state file (this is not a first start, or a
	// start after the file was lost).
	existed bool
}

// Existed reports whether Open found a state file.
func (s *Store) Existed() bool { return s.existed }

// Open loads the state from dir, creating the directory; a missing file
// is an empty state.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	s := &Store{path: filepath.Join(dir, fileName), data: empty()}
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	s.existed = err == nil
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	d := empty()
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", s.path, err)
	}
	if d.Version > version {
		return nil, fmt.Errorf("decode state %s: version %d is newer than this nori-docker (%d)", s.path, d.Version, version)
	}
	// A file written by hand or by an older build may lack maps.
	if d.Networks == nil {
		d.Networks = map[string]*Network{}
	}
	if d.Addresses == nil {
		d.Addresses = map[string]*Address{}
	}
	if d.Endpoints == nil {
		d.Endpoints = map[string]*Endpoint{}
	}
	d.Version = version
	s.data = d
	return s, nil
}

// Path is the state file.
func (s *Store) Path() string { return s.path }

// View calls fn with the state under the lock; fn must not keep or change it.
func (s *Store) View(fn func(d *Data)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.data)
}

// Update calls fn with the state under the lock and writes the file when
// fn returns nil. If writing fails, the in-memory state is rolled back so
// memory never claims what the disk does not hold.
func (s *Store) Update(fn func(d *Data) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	backup, err := json.Marshal(s.data)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := fn(s.data); err != nil {
		s.restore(backup)
		return err
	}
	if err := s.write(); err != nil {
		s.restore(backup)
		return err
	}
	return nil
}

func (s *Store) restore(backup []byte) {
	d := empty()
	if json.Unmarshal(backup, d) == nil {
		s.data = d
	}
}

// write replaces the file atomically: a crash leaves the old or the new
// file, never half of one.
func (s *Store) write() error {
	b, err := json.MarshalIndent(s.data, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), fileName+".tmp*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return fmt.Errorf("replace state: %w", err)
	}
	return nil
}
