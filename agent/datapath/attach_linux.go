// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"
	"math"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// hook is one attach point on a container's host-side veth.
type hook struct {
	name   string // suffix of the pin and of log lines
	attach ebpf.AttachType
	prog   func(d *Datapath) *ebpf.Program
}

// hooks: tc ingress of the host-side veth sees what the container sends,
// tc egress what goes into it.
var hooks = []hook{
	{"ingress", ebpf.AttachTCXIngress, func(d *Datapath) *ebpf.Program { return d.objs.NoriFromContainer }},
	{"egress", ebpf.AttachTCXEgress, func(d *Datapath) *ebpf.Program { return d.objs.NoriToContainer }},
}

// pickMode honours a forced mode or probes for TCX. The probe attaches to
// an interface index that cannot exist: a kernel with TCX answers ENODEV,
// one without it makes cilium/ebpf report ErrNotSupported.
func pickMode(want string, prog *ebpf.Program) (string, error) {
	switch want {
	case ModeTCX, ModeClsact:
		return want, nil
	case "":
	default:
		return "", fmt.Errorf("attach mode %q is neither %q nor %q", want, ModeTCX, ModeClsact)
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: math.MaxInt32, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err == nil {
		l.Close()
		return ModeTCX, nil
	}
	if errors.Is(err, ebpf.ErrNotSupported) {
		return ModeClsact, nil
	}
	return ModeTCX, nil
}

// AttachEndpoint attaches the programs to a container's host-side veth.
// It is idempotent: an existing attachment is pointed at the current
// programs.
func (d *Datapath) AttachEndpoint(ifindex int, ifname string) error {
	if ifindex <= 0 || ifname == "" {
		return fmt.Errorf("attach endpoint: need an interface index and name, got %d %q", ifindex, ifname)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if d.mode == ModeClsact {
		err = d.attachClsact(ifindex, ifname)
	} else {
		err = d.attachTCX(ifindex, ifname)
	}
	if err != nil {
		return fmt.Errorf("attach endpoint %s: %w", ifname, err)
	}
	d.log.Debug("endpoint attached", "ifname", ifname, "ifindex", ifindex, "mode", d.mode)
	return nil
}

// DetachEndpoint removes the programs from a veth. A missing attachment
// or interface is not an error.
func (d *Datapath) DetachEndpoint(ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Both kinds are removed whatever the mode, so that switching modes
	// leaves nothing behind.
	if err := d.detachTCX(ifname); err != nil {
		return fmt.Errorf("detach endpoint %s: %w", ifname, err)
	}
	if err := d.detachClsact(ifname); err != nil {
		return fmt.Errorf("detach endpoint %s: %w", ifname, err)
	}
	d.log.Debug("endpoint detached", "ifname", ifname)
	return nil
}

// repoint swaps the programs behind the attachments of an earlier run.
func (d *Datapath) repoint() error {
	if err := d.repointTCX(); err != nil {
		return err
	}
	if d.mode == ModeClsact {
		return d.repointClsact()
	}
	return nil
}
