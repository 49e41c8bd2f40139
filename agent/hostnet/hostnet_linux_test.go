// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package hostnet

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/nori-net/nori/agent/internal/netnstest"
)

// TestMasqueradeTable installs the table in a namespace of its own and
// reads it back: the masquerade rule always, the VXLAN notrack chains
// only with a tunnel port.
func TestMasqueradeTable(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("nft missing (apt-get install nftables): %v", err)
	}
	pool := netip.MustParsePrefix("10.0.0.0/8")
	for _, tc := range []struct {
		name        string
		tunnelPort  int
		wantNotrack bool
	}{
		{"vxlan", 8472, true},
		{"native routing", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := netnstest.NewWorker(t, netnstest.New(t, "hn"))
			var table string
			if err := w.Do(func() error {
				// Twice: a restarting agent replaces the table.
				for range 2 {
					if err := Masquerade(pool, tc.tunnelPort); err != nil {
						return err
					}
				}
				if err := MasqueradeActive(); err != nil {
					return err
				}
				out, err := exec.Command("nft", "list", "table", "ip", nftTable).CombinedOutput()
				table = string(out)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(table, "masquerade comment"); n != 1 {
				t.Fatalf("%d masquerade rules, want 1:\n%s", n, table)
			}
			hasNotrack := strings.Contains(table, "udp dport 8472 notrack")
			if hasNotrack != tc.wantNotrack || (tc.wantNotrack && strings.Count(table, "notrack comment") != 2) {
				t.Fatalf("notrack rules: got %v, want %v (prerouting and output):\n%s", hasNotrack, tc.wantNotrack, table)
			}
		})
	}
}
