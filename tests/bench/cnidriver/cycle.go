// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// cycle creates a fresh named netns, times ADD and DEL of list in it, and
// removes the netns. Only the two libcni calls are timed.
func (d *driver) cycle(prefix, name string, seq int, list *libcni.NetworkConfigList) (add, del int64, err error) {
	ns := fmt.Sprintf("%s-%d", prefix, seq)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("create netns %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	defer func() {
		if out, derr := exec.Command("ip", "netns", "del", ns).CombinedOutput(); derr != nil && err == nil {
			err = fmt.Errorf("delete netns %s: %w: %s", ns, derr, strings.TrimSpace(string(out)))
		}
	}()
	rt := runtimeConf(fmt.Sprintf("%s-%s-%d", prefix, name, seq), "/run/netns/"+ns)
	ctx := context.Background()

	start := time.Now()
	_, err = d.cni.AddNetworkList(ctx, list, rt)
	add = time.Since(start).Nanoseconds()
	if err != nil {
		// Undo whatever part of the chain succeeded.
		_ = d.cni.DelNetworkList(ctx, list, rt)
		return 0, 0, fmt.Errorf("add %s: %w", name, err)
	}
	start = time.Now()
	err = d.cni.DelNetworkList(ctx, list, rt)
	del = time.Since(start).Nanoseconds()
	if err != nil {
		return 0, 0, fmt.Errorf("del %s: %w", name, err)
	}
	return add, del, nil
}
