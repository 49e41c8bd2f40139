// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// fifoRoot is where the containerd client library (inside nerdctl) makes the
// stdio FIFOs of attached containers. It is not configurable from nerdctl and
// `nerdctl run --rm` leaves a directory there per container.
const fifoRoot = "/run/containerd/fifo"

// taskIDPattern finds the ids of containers that had a task in a containerd,
// from its log ("... path=<state>/io.containerd.runtime.v2.task/<ns>/<id>").
var taskIDPattern = regexp.MustCompile(`/` + NerdctlNamespace + `/([0-9a-f]{64})`)

// removeFIFOs deletes the FIFOs of the containers named in a containerd log,
// and their directories once empty. Only those ids are touched, so other
// containerd instances running in parallel keep theirs.
func removeFIFOs(containerdLog string) {
	ids := map[string]bool{}
	for _, m := range taskIDPattern.FindAllStringSubmatch(containerdLog, -1) {
		ids[m[1]] = true
	}
	if len(ids) == 0 {
		return
	}
	dirs, err := os.ReadDir(fifoRoot)
	if err != nil {
		return
	}
	for _, d := range dirs {
		dir := filepath.Join(fifoRoot, d.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		mine := false
		for _, f := range files {
			id, _, ok := strings.Cut(f.Name(), "-")
			if ok && ids[id] {
				mine = true
				_ = os.Remove(filepath.Join(dir, f.Name()))
			}
		}
		if mine {
			_ = os.Remove(dir) // fails, harmlessly, if not empty
		}
	}
}
