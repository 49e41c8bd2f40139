// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/kvstore"
	"github.com/nori-net/nori/agent/kvstore/kvstoretest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	e := kvstoretest.StartEtcd(t, dir)
	s := kvstoretest.Connect(t, e.Endpoints(), "c1", 0)
	if err := s.Put(ctxT(t), "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := kvstoretest.StartEtcd(t, dir)
	s2 := kvstoretest.Connect(t, e2.Endpoints(), "c1", 0)
	kv, found, err := s2.Get(ctxT(t), "k")
	if err != nil || !found || string(kv.Value) != "v1" {
		t.Fatalf("after restart: found=%v value=%q err=%v", found, kv.Value, err)
	}
}

func TestEmbeddedSecondInstanceOnSameDirFails(t *testing.T) {
	dir := t.TempDir()
	kvstoretest.StartEtcd(t, dir)
	_, err := kvstore.StartEmbedded(ctxT(t), kvstore.EmbeddedConfig{DataDir: dir, ListenClient: "127.0.0.1:0", Logger: kvstoretest.Logger(t)})
	if err == nil || !strings.Contains(err.Error(), "another nori-agent") {
		t.Fatalf("second StartEmbedded on %s: want a lock error, got %v", dir, err)
	}
}

// A host where something already listens on etcd's peer port 2380 (or on
// the default client port's neighbours) must not stop the embedded store.
func TestEmbeddedIgnoresBusyPeerPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:2380")
	if err != nil {
		// Something else holds it already, which is the case under test.
		t.Logf("127.0.0.1:2380 already in use: %v", err)
	} else {
		t.Cleanup(func() { l.Close() })
	}
	e := kvstoretest.StartEtcd(t, "")
	s := kvstoretest.Connect(t, e.Endpoints(), "c1", 0)
	if err := s.Put(ctxT(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// The TCP client listener answers as well as the unix socket.
	var tcp []string
	for _, u := range e.ClientURLs() {
		if strings.HasPrefix(u, "http://") {
			tcp = append(tcp, u)
		}
	}
	if len(tcp) != 1 {
		t.Fatalf("client URLs %v: want one TCP URL", e.ClientURLs())
	}
	s2 := kvstoretest.Connect(t, tcp, "c1", 0)
	if _, found, err := s2.Get(ctxT(t), "k"); err != nil || !found {
		t.Fatalf("get over TCP: found=%v err=%v", found, err)
	}
}

const childEnv = "NORI_KVSTORE_TEST_CHILD_DIR"

// TestEmbeddedChild is the child process of TestEmbeddedRestartAfterSIGKILL;
// it does nothing in a normal run.
func TestEmbeddedChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return
	}
	e, err := kvstore.StartEmbedded(context.Background(), kvstore.EmbeddedConfig{DataDir: dir, ListenClient: "127.0.0.1:0"})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	s, err := kvstore.Connect(context.Background(), kvstore.ClientConfig{Endpoints: e.Endpoints()})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// Keep writing so the kill lands in the middle of etcd's work.
	for i := 0; ; i++ {
		if err := s.Put(context.Background(), fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		if i == 100 {
			fmt.Println("ready")
		}
	}
}

func TestEmbeddedRestartAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	ready := false
	for lines.Scan() {
		if lines.Text() == "ready" {
			ready = true
			break
		}
		t.Logf("child: %s", lines.Text())
	}
	if !ready {
		t.Fatal("child exited before it was ready")
	}
	time.Sleep(100 * time.Millisecond)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	e := kvstoretest.StartEtcd(t, dir)
	s := kvstoretest.Connect(t, e.Endpoints(), kvstore.DefaultClusterName, 0)
	kvs, _, err := s.List(ctxT(t), "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) < 100 {
		t.Fatalf("after SIGKILL and restart: %d keys, want at least the 100 written before ready", len(kvs))
	}
	if err := s.Put(ctxT(t), "after", []byte("v")); err != nil {
		t.Fatalf("put after restart: %v", err)
	}
}

// The agent names the member after the node; a host renamed later must
// still start on its old data.
func TestEmbeddedMemberRenameKeepsData(t *testing.T) {
	dir := t.TempDir()
	e, err := kvstore.StartEmbedded(ctxT(t), kvstore.EmbeddedConfig{DataDir: dir, ListenClient: "127.0.0.1:0", Name: "a", Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s := kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	s.Put(ctxT(t), "k", []byte("v"))
	s.Close()
	e.Close()
	e, err = kvstore.StartEmbedded(ctxT(t), kvstore.EmbeddedConfig{DataDir: dir, ListenClient: "127.0.0.1:0", Name: "b", Logger: kvstoretest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s = kvstoretest.Connect(t, e.Endpoints(), "c", 0)
	if _, found, err := s.Get(ctxT(t), "k"); !found || err != nil {
		t.Fatal(found, err)
	}
}

func TestEmbeddedClientPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = kvstore.StartEmbedded(ctxT(t), kvstore.EmbeddedConfig{DataDir: t.TempDir(), ListenClient: l.Addr().String(), Logger: kvstoretest.Logger(t)})
	if err == nil || !strings.Contains(err.Error(), "--kvstore-listen") {
		t.Fatalf("err = %v", err)
	}
}
