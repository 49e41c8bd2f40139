// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/nori-net/nori/agent/datapath/bpfobj"
)

// Attach modes.
const (
	// ModeTCX attaches with TCX links pinned under <bpf-root>/nori/links
	// (Linux >= 6.6).
	ModeTCX = "tcx"
	// ModeClsact attaches cls_bpf filters in direct-action mode to a clsact
	// qdisc; they persist without pins.
	ModeClsact = "clsact"
)

// Config says where the datapath keeps its pinned state.
type Config struct {
	// BPFRoot is a bpffs mount, normally /sys/fs/bpf. Pins go to
	// BPFRoot/nori.
	BPFRoot string
	// AttachMode forces ModeTCX or ModeClsact; empty picks TCX when the
	// kernel has it.
	AttachMode string
	Logger     *slog.Logger
}

// Datapath is the loaded program collection. Its methods are safe for
// concurrent use.
type Datapath struct {
	log  *slog.Logger
	dir  string // BPFRoot/nori
	mode string

	mu   sync.Mutex // serialises attach and detach
	objs bpfobj.DatapathObjects
}

// Open loads the programs, reusing the maps pinned by an earlier run
// together with their contents, and points every attachment left by that
// run (endpoints and overlay) at the new programs.
func Open(cfg Config) (*Datapath, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsys", "datapath")
	if err := checkBPFFS(cfg.BPFRoot); err != nil {
		return nil, err
	}
	d := &Datapath{log: log, dir: filepath.Join(cfg.BPFRoot, "nori")}
	if err := os.MkdirAll(d.linksDir(), 0o700); err != nil {
		return nil, fmt.Errorf("create pin directory: %w", err)
	}

	spec, err := bpfobj.LoadDatapath()
	if err != nil {
		return nil, fmt.Errorf("load bpf spec: %w", err)
	}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: d.dir}}
	if err := spec.LoadAndAssign(&d.objs, opts); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load bpf objects: %+v", ve)
		}
		return nil, fmt.Errorf("load bpf objects (a pinned map from an incompatible version can be removed from %s): %w", d.dir, err)
	}

	mode, err := pickMode(cfg.AttachMode, d.objs.NoriToContainer)
	if err != nil {
		d.objs.Close()
		return nil, err
	}
	d.mode = mode
	if err := d.repoint(); err != nil {
		d.objs.Close()
		return nil, err
	}
	log.Info("datapath loaded", "pin_dir", d.dir, "attach_mode", d.mode)
	return d, nil
}

// AttachMode returns ModeTCX or ModeClsact.
func (d *Datapath) AttachMode() string { return d.mode }

// Close releases the agent's file descriptors. Pinned maps and links, and
// clsact filters, stay: traffic keeps flowing without the agent.
func (d *Datapath) Close() error {
	if err := d.objs.Close(); err != nil {
		return fmt.Errorf("close bpf objects: %w", err)
	}
	return nil
}

func (d *Datapath) linksDir() string { return filepath.Join(d.dir, "links") }
