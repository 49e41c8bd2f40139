// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// run executes a command with a generous timeout and returns its combined
// output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return string(out), nil
}
