// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nori-net/nori/tests/harness"
)

// nsPrefix starts the name of every netns the benchmark creates itself
// (containers, the bare-veth node); the PID that follows lets a later run
// remove what a killed one left.
const nsPrefix = "nbench-"

// bench is one run's shared state.
type bench struct {
	t     *testing.T
	ctx   context.Context // ends on Ctrl-C / SIGTERM
	out   io.Writer       // where the tables go
	ns    string          // prefix of this run's netns names
	tools string          // directory holding cnidriver, rr and https
	host  *harness.Host   // the simulated host running nori-agent
}

func TestBench(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "\nbench: %v: stopping, cleaning up\n", s)
			cancel()
		case <-ctx.Done():
		}
	}()

	harness.Require(t, "ip", "nsenter", "iperf3", "nori-binaries")
	sweepStaleNetns(t)
	b := &bench{
		t:     t,
		ctx:   ctx,
		out:   os.Stdout,
		ns:    nsPrefix + strconv.Itoa(os.Getpid()),
		tools: t.TempDir(),
	}
	t.Cleanup(func() { removeNetns(t, b.ns+"-") })
	start := time.Now()
	b.printEnv()
	b.buildTools()

	sw := harness.NewSwitch(t)
	b.host = sw.AddHost(t, "bench")
	b.host.StartAgent(t)
	b.checkInterrupted()
	fmt.Fprintf(b.out, "simulated host: netns %s, nori-agent %s\n", b.host.Netns, strings.Join(b.host.AgentArgs(), " "))
	if v, err := exec.Command(filepath.Join(harness.BinDir(t), "nori"), "--socket", b.host.Socket, "version").CombinedOutput(); err == nil {
		fmt.Fprintf(b.out, "%s", v)
	}

	// NORI_BENCH_ONLY=cross (policy, proxy, docker) runs the multi-host
	// (policy, TLS proxy, Docker) part alone, for work on it.
	only := os.Getenv("NORI_BENCH_ONLY")
	if only == "" {
		b.cniLatency()
		b.checkInterrupted()
		b.dataPath()
		b.checkInterrupted()
	}
	if only == "" || only == "cross" {
		b.crossHost()
		b.checkInterrupted()
	}
	if only == "" || only == "policy" {
		b.policy()
		b.checkInterrupted()
	}
	if only == "" || only == "proxy" {
		b.proxy()
		b.checkInterrupted()
	}
	if only == "" || only == "docker" {
		b.docker()
	}
	fmt.Fprintf(b.out, "\nbench finished in %s; load average now %s\n", time.Since(start).Round(time.Second), loadavg())
}

// checkInterrupted ends the run (cleanups still run) after Ctrl-C.
func (b *bench) checkInterrupted() {
	b.t.Helper()
	if b.ctx.Err() != nil {
		b.t.Fatal("interrupted")
	}
}

// section prints a heading and the current load, so a reader can tell a
// quiet machine from a busy one.
func (b *bench) section(title string) {
	fmt.Fprintf(b.out, "\n== %s\n   (%s UTC, load average %s)\n", title, time.Now().UTC().Format("15:04:05"), loadavg())
}

// buildTools compiles the helper programs once, so the timed runs do not
// include `go run` compile time.
func (b *bench) buildTools() {
	b.t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	for _, name := range []string{"cnidriver", "rr", "https"} {
		cmd := exec.CommandContext(b.ctx, goBin, "build", "-trimpath", "-o", filepath.Join(b.tools, name), "./tests/bench/"+name)
		cmd.Dir = harness.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.t.Fatalf("build %s: %v: %s", name, err, out)
		}
	}
}

func (b *bench) tool(name string) string { return filepath.Join(b.tools, name) }

func loadavg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
