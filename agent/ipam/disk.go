// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lastFile holds the address handed out last.
const lastFile = "last_reserved_ip"

// DiskStore keeps one JSON file per allocated address in a directory.
//
// Crash safety: a new file is written under a temporary name, synced, and
// then hard-linked to its final name, which appears atomically and
// complete or not at all; the directory is synced before Put returns. A
// SIGKILL can leave only a temporary file behind, which Load removes.
type DiskStore struct {
	dir    string
	lock   *os.File
	logger *slog.Logger
}

// NewDiskStore opens (creating it if needed) an allocation directory, e.g.
// <state-dir>/ipam, and locks it against a second agent.
func NewDiskStore(dir string, logger *slog.Logger) (*DiskStore, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create ipam dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open ipam lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("lock ipam dir %s (another nori-agent uses this state dir?): %w", dir, err)
	}
	return &DiskStore{dir: dir, lock: lock, logger: logger.With("subsys", "ipam")}, nil
}

// Close releases the directory lock.
func (d *DiskStore) Close() error { return d.lock.Close() }

// Load implements Store.
func (d *DiskStore) Load() ([]Allocation, netip.Addr, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, netip.Addr{}, fmt.Errorf("read ipam dir: %w", err)
	}
	var allocs []Allocation
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			// Left by a crash before the link: never committed.
			os.Remove(filepath.Join(d.dir, name))
			continue
		}
		ip, err := netip.ParseAddr(name)
		if err != nil || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(d.dir, name))
		if err != nil {
			return nil, netip.Addr{}, fmt.Errorf("read allocation %s: %w", name, err)
		}
		var al Allocation
		if err := json.Unmarshal(data, &al); err != nil || al.IP != ip {
			// Keep the address taken rather than risk handing it out twice.
			d.logger.Warn("unreadable allocation file, keeping the address reserved", "file", name, "err", err)
			al = Allocation{IP: ip, Owner: "unknown"}
		}
		allocs = append(allocs, al)
	}
	var last netip.Addr
	if data, err := os.ReadFile(filepath.Join(d.dir, lastFile)); err == nil {
		last, _ = netip.ParseAddr(strings.TrimSpace(string(data)))
	}
	return allocs, last, nil
}

// Put implements Store.
func (d *DiskStore) Put(a Allocation) error {
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode allocation: %w", err)
	}
	tmp, err := d.writeTemp(a.IP.String(), data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, filepath.Join(d.dir, a.IP.String())); err != nil {
		return fmt.Errorf("commit allocation %s: %w", a.IP, err)
	}
	return d.syncDir()
}

// Delete implements Store.
func (d *DiskStore) Delete(ip netip.Addr) error {
	err := os.Remove(filepath.Join(d.dir, ip.String()))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove allocation %s: %w", ip, err)
	}
	return d.syncDir()
}

// SetLast implements Store. It replaces the file by rename, so a crash
// leaves the old or the new value.
func (d *DiskStore) SetLast(ip netip.Addr) error {
	tmp, err := d.writeTemp(lastFile, []byte(ip.String()))
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, lastFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", lastFile, err)
	}
	return nil
}

func (d *DiskStore) writeTemp(name string, data []byte) (string, error) {
	f, err := os.CreateTemp(d.dir, ".tmp-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("create temp file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

func (d *DiskStore) syncDir() error {
	f, err := os.Open(d.dir)
	if err != nil {
		return fmt.Errorf("open ipam dir: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync ipam dir: %w", err)
	}
	return nil
}
