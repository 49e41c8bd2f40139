// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain turns the test binary into a stand-in nori-agent when it is run
// under that name, so StartAgent can be tested before the real agent exists.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "nori-agent" {
		os.Exit(fakeAgent(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeAgent serves /v1/healthz on --socket and records its arguments and
// network namespace in <state-dir>/fake-agent.txt.
func fakeAgent(args []string) int {
	fs := flag.NewFlagSet("nori-agent", flag.ContinueOnError)
	socket := fs.String("socket", "", "")
	state := fs.String("state-dir", "", "")
	for _, f := range []string{"node-name", "ipv4-node", "bpf-root", "kvstore", "kvstore-listen", "log-level", "containerd-socket"} {
		fs.String(f, "", "")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ns, _ := os.Readlink("/proc/self/ns/net")
	rec := fmt.Sprintf("netns=%s\nargs=%s\n", ns, strings.Join(args, " "))
	if err := os.WriteFile(filepath.Join(*state, "fake-agent.txt"), []byte(rec), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = os.Remove(*socket)
	l, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{}")
	})
	srv := &http.Server{Handler: mux}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		<-sig
		fmt.Println("fake agent: SIGTERM")
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Println("fake agent: serving")
	_ = srv.Serve(l)
	return 0
}

// fakeBinDir makes a NORI_BIN_DIR whose nori-agent is this test binary and
// whose other binaries are stubs.
func fakeBinDir(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "nori-agent")); err != nil {
		t.Fatal(err)
	}
	for _, b := range noriBinaries {
		if b == "nori-agent" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStartAgent(t *testing.T) {
	t.Setenv("NORI_BIN_DIR", fakeBinDir(t))
	sw := NewSwitch(t)
	h := sw.AddHost(t, "agent")

	a := h.StartAgent(t, "--log-level", "debug")
	rec, err := os.ReadFile(filepath.Join(h.StateDir, "fake-agent.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(h.Netns, &st); err != nil {
		t.Fatal(err)
	}
	wants := []string{
		fmt.Sprintf("netns=net:[%d]", st.Ino),
		"--node-name agent", "--ipv4-node 172.30.0.1", "--state-dir " + h.StateDir,
		"--socket " + h.Socket, "--bpf-root " + h.BPFRoot, "--kvstore embedded",
		"--kvstore-listen 127.0.0.1:2379", "--log-level debug",
	}
	for _, w := range wants {
		if !strings.Contains(string(rec), w) {
			t.Errorf("agent record lacks %q:\n%s", w, rec)
		}
	}

	pid := a.PID()
	a.Kill(t)
	if !a.Exited() || syscall.Kill(pid, 0) == nil {
		t.Fatalf("agent %d still running after Kill", pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.Client().Healthz(ctx); err == nil {
		t.Fatal("Healthz answered after Kill")
	}

	a = h.StartAgent(t)
	a.Stop(t)
	if !strings.Contains(a.Log(), "fake agent: SIGTERM") {
		t.Errorf("Stop did not send SIGTERM; log:\n%s", a.Log())
	}
}
