// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cmdTimeout bounds every short command the harness runs, so a hung runtime
// fails the test instead of eating the whole go test timeout.
const cmdTimeout = 3 * time.Minute

// run executes name args in the current (root) namespaces and returns the
// combined output; the error names the command and carries the output.
func run(env []string, name string, args ...string) (string, error) {
	var out bytes.Buffer
	err := runTo(&out, &out, env, name, args...)
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// runStdout is run returning stdout only, with stderr in the error. The
// runtimes print benign noise on stderr (nerdctl's "forward signal child
// exited", Podman's conflist warnings) that would spoil parsed output.
func runStdout(env []string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := runTo(&stdout, &stderr, env, name, args...)
	if err != nil {
		return stdout.String(), fmt.Errorf("%w: %s%s", err, strings.TrimSpace(stderr.String()), outSuffix(stdout.String()))
	}
	return stdout.String(), nil
}

func outSuffix(stdout string) string {
	if s := strings.TrimSpace(stdout); s != "" {
		return "\nstdout: " + s
	}
	return ""
}

func runTo(stdout, stderr *bytes.Buffer, env []string, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	// A command that leaves a background child holding stdout would make
	// Run wait for that child; stop reading a second after the command
	// itself exited. (The child keeps running until host cleanup.)
	cmd.WaitDelay = time.Second
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	err := cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil // the command succeeded; only its background child lingers
	}
	if err != nil {
		return fmt.Errorf("run %s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// mustRun is run that fails the test.
func mustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := run(nil, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// inNetns prefixes a command so it runs in netns (a /run/netns path) while
// keeping the root mount namespace.
func inNetns(netns, name string, args ...string) (string, []string) {
	return "nsenter", append([]string{"--net=" + netns, name}, args...)
}

// randSuffix returns n random bytes as hex; names built from it stay within
// the 15-byte interface name limit and make parallel tests not collide.
func randSuffix(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random: %v", err))
	}
	return hex.EncodeToString(b)
}
