// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package plugintest builds the plugin binaries and runs them the way a
// runtime does (environment, stdin, stdout JSON, exit code), for tests
// that must see exactly what a runtime sees.
package plugintest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// RefPluginDir is where Debian's containernetworking-plugins live
// (host-local, portmap, bridge).
const RefPluginDir = "/usr/lib/cni"

// Build compiles nori-cni and nori-ipam into dir, to be put first in
// CNI_PATH, and checks that the reference plugins are installed. Call it
// from TestMain: the binaries outlive any one test.
func Build(dir string) error {
	for name, pkg := range map[string]string{
		"nori-cni":  "github.com/nori-net/nori/plugins/cni",
		"nori-ipam": "github.com/nori-net/nori/plugins/ipam",
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(RefPluginDir, "host-local")); err != nil {
		return fmt.Errorf("reference plugins missing (apt-get install containernetworking-plugins): %w", err)
	}
	return nil
}

// Main is a TestMain for packages that run the binaries: it builds them
// into a temp dir, stores it in *dir, runs the tests and cleans up. A
// failed build fails the run; it is never skipped.
func Main(m *testing.M, dir *string) int {
	d, err := os.MkdirTemp("", "nori-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(d)
	if err := Build(d); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*dir = d
	return m.Run()
}

// Env is one invocation's CNI environment.
type Env struct {
	Command     string
	ContainerID string
	Netns       string
	IfName      string
	Args        string
	Path        string
}

// Out is what a plugin run produced.
type Out struct {
	Stdout []byte
	Stderr []byte
	// ExitCode is the process exit status.
	ExitCode int
	// Err is the decoded error result when ExitCode is not 0.
	Err *types.Error
}

// Run executes bin with env and stdin.
func Run(t testing.TB, bin string, env Env, stdin []byte) Out {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"CNI_COMMAND=" + env.Command,
		"CNI_CONTAINERID=" + env.ContainerID,
		"CNI_NETNS=" + env.Netns,
		"CNI_IFNAME=" + env.IfName,
		"CNI_ARGS=" + env.Args,
		"CNI_PATH=" + env.Path,
		"PATH=" + os.Getenv("PATH"),
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	out := Out{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", bin, err)
		}
		out.ExitCode = ee.ExitCode()
		out.Err = &types.Error{}
		if jerr := json.Unmarshal(out.Stdout, out.Err); jerr != nil {
			t.Fatalf("%s %s exited %d with stdout that is not an error result: %v\nstdout: %s\nstderr: %s",
				bin, env.Command, out.ExitCode, jerr, out.Stdout, out.Stderr)
		}
	}
	return out
}
