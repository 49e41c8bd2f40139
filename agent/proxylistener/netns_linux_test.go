// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxylistener

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nori-net/nori/agent/internal/netnstest"
)

// TestSocketsInNetns makes a listener and upstream connections inside
// another netns from the test's own: the listener answers there only, the
// dialer reaches an application on that netns's loopback, and a refused
// or unreachable destination is an error, not a hang.
func TestSocketsInNetns(t *testing.T) {
	name := netnstest.New(t, "nori-pl")
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	ns, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	home, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()
	w := netnstest.NewWorker(t, name)

	// An application in the netns, on 127.0.0.1:8080.
	var app net.Listener
	if err := w.Do(func() (err error) {
		app, err = net.Listen("tcp4", "127.0.0.1:8080")
		return err
	}); err != nil {
		t.Fatalf("application listener: %v", err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("app"))
			c.Close()
		}
	}()

	t.Run("listener", func(t *testing.T) {
		ln, err := listenIn(ns, home)
		if err != nil {
			t.Fatalf("listenIn: %v", err)
		}
		defer ln.Close()
		addr := ln.Addr().String()
		go func() {
			if c, err := ln.Accept(); err == nil {
				c.Write([]byte("proxy"))
				c.Close()
			}
		}()
		var got []byte
		if err := w.Do(func() error {
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			got, err = io.ReadAll(c)
			return err
		}); err != nil || string(got) != "proxy" {
			t.Fatalf("dial %s inside the netns: %q, %v; want the listener's answer", addr, got, err)
		}
		// The test's own netns has no such listener.
		if c, err := net.DialTimeout("tcp4", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("%s answered outside the endpoint's netns", addr)
		}
	})
	dial := dialerIn(ns, home)
	t.Run("dialer", func(t *testing.T) {
		c, err := dial(context.Background(), "tcp", "127.0.0.1:8080")
		if err != nil {
			t.Fatalf("dial the application: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if got, err := io.ReadAll(c); err != nil || string(got) != "app" {
			t.Fatalf("read from the application: %q, %v", got, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		_, err := dial(context.Background(), "tcp", "127.0.0.1:8081")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial a closed port: %v, want connection refused", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		// Nothing routes there inside the netns: the connect fails at
		// once or waits for the deadline, never longer.
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := dial(ctx, "tcp", "192.0.2.1:80"); err == nil {
			t.Fatal("dial 192.0.2.1 inside an empty netns succeeded")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("dial took %s despite a 300ms deadline", d)
		}
	})
	t.Run("not TCP/IPv4", func(t *testing.T) {
		if _, err := dial(context.Background(), "tcp", "[::1]:80"); err == nil {
			t.Fatal("dial [::1]:80 succeeded, want an error")
		}
	})
}
