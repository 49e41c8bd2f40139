// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package ipam

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/api"
)

func openDisk(t *testing.T, dir string) (*DiskStore, *Allocator) {
	t.Helper()
	ds, err := NewDiskStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	return ds, newAlloc(t, "10.0.1.0/24", ds)
}

func TestDiskStorePersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	ds, a := openDisk(t, dir)
	r1, _ := a.Allocate(req("c1"))
	r2, _ := a.Allocate(api.IPAMRequest{Attachment: api.Attachment{ContainerID: "c2", IfName: "eth0"}, Owner: "docker", Network: "nori-net"})
	r3, _ := a.Allocate(req("c3"))
	if _, _, err := a.Release(r3.Attachment); err != nil {
		t.Fatal(err)
	}
	// A temp file as a crash before the link leaves it.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-10.0.1.77-123"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	ds.Close()

	_, b := openDisk(t, dir)
	got, ok := b.Get(r2.Attachment)
	if !ok || got.IP != r2.IP || got.Owner != "docker" || got.Network != "nori-net" || got.Created.IsZero() {
		t.Fatalf("after reopen: %+v %v", got, ok)
	}
	if got, ok := b.Get(r1.Attachment); !ok || got.IP != r1.IP {
		t.Fatalf("c1 after reopen: %+v %v", got, ok)
	}
	if st := b.Stats(); st.Allocated != 2 {
		t.Fatalf("stats %+v", st)
	}
	// The round-robin position survived: c3's freed address is not next.
	r4, _ := b.Allocate(req("c4"))
	if r4.IP == r3.IP || r4.IP == r1.IP || r4.IP == r2.IP {
		t.Fatalf("after reopen got %s (held/just freed: %s %s %s)", r4.IP, r1.IP, r2.IP, r3.IP)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-10.0.1.77-123")); !os.IsNotExist(err) {
		t.Fatalf("temp file not cleaned: %v", err)
	}
}

func TestDiskStoreCorruptFileKeepsAddressTaken(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "10.0.1.2"), []byte("{trunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, a := openDisk(t, dir)
	r, err := a.Allocate(req("c1"))
	if err != nil || r.IP.String() == "10.0.1.2" {
		t.Fatalf("got %v %v; 10.0.1.2 must stay taken", r.IP, err)
	}
	if _, found, err := a.ReleaseIP(netip.MustParseAddr("10.0.1.2")); !found || err != nil {
		t.Fatalf("release of the unreadable entry: %v %v", found, err)
	}
}

func TestDiskStoreLock(t *testing.T) {
	dir := t.TempDir()
	openDisk(t, dir)
	if _, err := NewDiskStore(dir, nil); err == nil || !strings.Contains(err.Error(), "another nori-agent") {
		t.Fatalf("second open: %v", err)
	}
}

const childEnv = "NORI_IPAM_TEST_CHILD_DIR"

// TestDiskChild is the child of TestDiskStoreSurvivesSIGKILL; it does
// nothing in a normal run. It allocates and releases in a loop and prints
// each address once Allocate returned.
func TestDiskChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return
	}
	ds, err := NewDiskStore(dir, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	a, err := New(netip.MustParsePrefix("10.0.0.0/16"), netip.MustParseAddr("10.0.0.1"), ds, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		r, err := a.Allocate(req(fmt.Sprint("c", i)))
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("allocated", r.ContainerID, r.IP)
		if i%3 == 0 {
			if _, _, err := a.Release(r.Attachment); err != nil {
				fmt.Println("error:", err)
				os.Exit(1)
			}
			fmt.Println("released", r.ContainerID, r.IP)
		}
	}
}

// Kill a process in the middle of allocating: every address it reported
// is still allocated after reopening, and no file is corrupt.
func TestDiskStoreSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// container → address, as the child reported; a container whose index
	// is a multiple of 3 is released right after.
	held := map[string]string{}
	lines := bufio.NewScanner(out)
	allocated := 0
	var released []string
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) == 3 && f[0] == "allocated":
			held[f[1]] = f[2]
			// Kill while the child is busy writing the next ones.
			if allocated++; allocated == 40 {
				cmd.Process.Kill()
			}
		case len(f) == 3 && f[0] == "released":
			delete(held, f[1])
			released = append(released, f[1])
		default:
			t.Logf("child: %s", lines.Text())
		}
	}
	cmd.Wait()
	if len(held) < 10 {
		t.Fatalf("child committed only %d allocations before the kill", len(held))
	}
	ds, err := NewDiskStore(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	allocs, _, err := ds.Load()
	if err != nil {
		t.Fatal(err)
	}
	onDisk := map[string]string{}
	for _, al := range allocs {
		if al.Owner == "unknown" {
			t.Fatalf("corrupt allocation file for %s after SIGKILL", al.IP)
		}
		onDisk[al.ContainerID] = al.IP.String()
	}
	for id, ip := range held {
		var i int
		fmt.Sscanf(id, "c%d", &i)
		if i%3 == 0 && onDisk[id] == "" {
			continue // its release was under way when the kill came
		}
		if onDisk[id] != ip {
			t.Fatalf("%s reported %s as allocated, disk has %q", id, ip, onDisk[id])
		}
	}
	for _, id := range released {
		if _, ok := onDisk[id]; ok {
			t.Fatalf("%s reported released but still on disk", id)
		}
	}
	t.Logf("%d reported allocations all on disk (%d files)", len(held), len(allocs))
}
