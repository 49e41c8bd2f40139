// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestListenReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "plugins", "nori.sock")
	for i := 0; i < 2; i++ {
		ln, err := listen(sock)
		if err != nil {
			t.Fatalf("listen #%d: %v", i, err)
		}
		fi, err := os.Stat(sock)
		if err != nil || fi.Mode().Perm() != 0o660 {
			t.Errorf("socket mode %v, %v; want 0660", fi.Mode(), err)
		}
		// Closing a unix listener removes its file; put one back as a
		// crashed run would leave it.
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
}

func TestNotifyReady(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifyReady(); err != nil {
		t.Fatalf("without systemd: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := notifyReady(); err != nil {
		t.Fatalf("notifyReady: %v", err)
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("systemd got %q, %v", buf[:n], err)
	}
}
