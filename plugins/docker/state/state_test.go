// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "docker")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	att := api.Attachment{ContainerID: "e1", IfName: "tmpe1"}
	err = s.Update(func(d *Data) error {
		d.Networks["n1"] = &Network{ID: "n1", MTU: 1400, Options: map[string]string{"a": "b"}}
		d.Addresses["10.99.0.5"] = &Address{Address: "10.99.0.5", PoolID: "p", Attachment: att}
		d.Endpoints["e1"] = &Endpoint{ID: "e1", NetworkID: "n1", Attachment: att, Address: "10.99.0.5/32",
			SandboxKey: "/var/run/docker/netns/abc", Routes: true, ContainerID: "c1", Name: "app1",
			PortMappings: []api.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	var want *Data
	s.View(func(d *Data) { want = d })

	s2, err := Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var got *Data
	s2.View(func(d *Data) { got = d })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reloaded state differs:\n got %+v\nwant %+v", got, want)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != fileName {
		t.Errorf("state dir holds %v, want only %s", entries, fileName)
	}
}

func TestUpdateErrorRollsBack(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = s.Update(func(d *Data) error {
		d.Networks["n1"] = &Network{ID: "n1"}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v", err)
	}
	s.View(func(d *Data) {
		if len(d.Networks) != 0 {
			t.Errorf("failed update left %v in memory", d.Networks)
		}
	})
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed update wrote the file: %v", err)
	}
}

func TestWriteFailureRollsBack(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A directory in place of the file makes the rename fail.
	if err := os.Mkdir(s.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(d *Data) error { d.Networks["n1"] = &Network{ID: "n1"}; return nil })
	if err == nil || !strings.Contains(err.Error(), "replace state") {
		t.Fatalf("Update error = %v, want a replace failure", err)
	}
	s.View(func(d *Data) {
		if len(d.Networks) != 0 {
			t.Errorf("unwritten update kept in memory: %v", d.Networks)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"garbage", "{not json", "decode state"},
		{"newer", `{"version": 99}`, "newer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, fileName), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("missing maps", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, fileName), []byte(`{"version":1}`), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		s.View(func(d *Data) {
			if d.Networks == nil || d.Addresses == nil || d.Endpoints == nil {
				t.Errorf("nil maps after load: %+v", d)
			}
		})
	})
}
