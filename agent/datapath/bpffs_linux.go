// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package datapath

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// checkBPFFS refuses a pin root that is not a bpffs. Mounting a private
// instance instead would look like it works, but everything pinned there
// (links included) would die with the agent's mount namespace.
func checkBPFFS(root string) error {
	if root == "" {
		return errors.New("--bpf-root is empty")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return fmt.Errorf("stat --bpf-root %s: %w", root, err)
	}
	if uint32(st.Type) != unix.BPF_FS_MAGIC {
		return fmt.Errorf("--bpf-root %s is not a bpffs mount (mount -t bpf bpf %s)", root, root)
	}
	return nil
}
