// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"testing"
)

// LoadImage loads BusyboxImage into runtime on h: "nerdctl" (the host's
// containerd; StartContainerd first), "podman" (the host's storage) or
// "docker" (the host's dockerd; StartDockerd first).
func LoadImage(t testing.TB, runtime string, h *Host) {
	t.Helper()
	Require(t, "busybox-image")
	var err error
	switch runtime {
	case "nerdctl":
		_, err = h.Nerdctl(t, "load", "-i", imageArchive())
	case "podman":
		_, err = h.Podman(t, "load", "-i", imageArchive())
	case "docker":
		_, err = h.Docker(t, "load", "-i", imageArchive())
	default:
		t.Fatalf("LoadImage: unknown runtime %q (want nerdctl, podman or docker)", runtime)
	}
	if err != nil {
		t.Fatalf("host %s: load %s into %s: %v", h.Name, BusyboxImage, runtime, err)
	}
}
