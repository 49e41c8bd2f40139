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

// hook is one attach point of a program on a device.
type hook struct {
	name   string // suffix of the pin and of log lines
	attach ebpf.AttachType
	prog   func(d *Datapath) *ebpf.Program
	// progName names the cls_bpf filter in clsact mode; it is how a
	// later run recognises its own filters.
	progName string
}

// endpointHooks: tc ingress of a container's host-side veth sees what the
// container sends, tc egress what goes into it. Their names are part of
// the pins of earlier runs: never rename them.
var endpointHooks = []hook{
	{"ingress", ebpf.AttachTCXIngress, func(d *Datapath) *ebpf.Program { return d.objs.NoriFromContainer }, "nori_from_container"},
	{"egress", ebpf.AttachTCXEgress, func(d *Datapath) *ebpf.Program { return d.objs.NoriToContainer }, "nori_to_container"},
}

// overlayHooks: tc ingress of the VXLAN device sees decapsulated packets,
// tc egress what is about to be encapsulated. The "-" in the names keeps
// their pins from ending in an endpoint hook's "_ingress"/"_egress".
var overlayHooks = []hook{
	{"overlay-ingress", ebpf.AttachTCXIngress, func(d *Datapath) *ebpf.Program { return d.objs.NoriFromOverlay }, "nori_from_overlay"},
	{"overlay-egress", ebpf.AttachTCXEgress, func(d *Datapath) *ebpf.Program { return d.objs.NoriToOverlay }, "nori_to_overlay"},
}

// allHooks is every hook a pin or filter of ours can belong to.
var allHooks = append(append([]hook{}, endpointHooks...), overlayHooks...)

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
	if err := d.attach(endpointHooks, ifindex, ifname); err != nil {
		return fmt.Errorf("attach endpoint %s: %w", ifname, err)
	}
	d.log.Debug("endpoint attached", "ifname", ifname, "ifindex", ifindex, "mode", d.mode)
	return nil
}

// DetachEndpoint removes the programs from a veth. A missing attachment
// or interface is not an error.
func (d *Datapath) DetachEndpoint(ifname string) error {
	if err := d.detach(endpointHooks, ifname); err != nil {
		return fmt.Errorf("detach endpoint %s: %w", ifname, err)
	}
	d.log.Debug("endpoint detached", "ifname", ifname)
	return nil
}

// AttachOverlay attaches nori_from_overlay (ingress) and nori_to_overlay
// (egress) to the VXLAN device. Like AttachEndpoint it is idempotent and
// its attachments are pinned, so they outlive the agent and the next Open
// re-points them.
func (d *Datapath) AttachOverlay(ifindex int, ifname string) error {
	if err := d.attach(overlayHooks, ifindex, ifname); err != nil {
		return fmt.Errorf("attach overlay %s: %w", ifname, err)
	}
	d.log.Debug("overlay attached", "ifname", ifname, "ifindex", ifindex, "mode", d.mode)
	return nil
}

// DetachOverlay removes the programs from the VXLAN device. A missing
// attachment or interface is not an error.
func (d *Datapath) DetachOverlay(ifname string) error {
	if err := d.detach(overlayHooks, ifname); err != nil {
		return fmt.Errorf("detach overlay %s: %w", ifname, err)
	}
	d.log.Debug("overlay detached", "ifname", ifname)
	return nil
}

func (d *Datapath) attach(hs []hook, ifindex int, ifname string) error {
	if ifindex <= 0 || ifname == "" {
		return fmt.Errorf("need an interface index and name, got %d %q", ifindex, ifname)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mode == ModeClsact {
		return d.attachClsact(hs, ifindex)
	}
	return d.attachTCX(hs, ifindex, ifname)
}

func (d *Datapath) detach(hs []hook, ifname string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Both kinds are removed whatever the mode, so that switching modes
	// leaves nothing behind.
	if err := d.detachTCX(hs, ifname); err != nil {
		return err
	}
	return d.detachClsact(hs, ifname)
}

// repoint swaps the programs behind the attachments of an earlier run.
func (d *Datapath) repoint() error {
	if err := d.repointTCX(); err != nil {
		return err
	}
	if err := d.repointProxyLookups(); err != nil {
		return err
	}
	if d.mode == ModeClsact {
		return d.repointClsact()
	}
	return nil
}
