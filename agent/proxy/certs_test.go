// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package proxy

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestCertStore(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	c, k := ca.issue(t, "v1", host)
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": c, "tls.key": k, "ca.crt": ca.pem, "custom.crt": c, "custom.key": k, "bad.crt": []byte("nonsense")})
	s := NewCertStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))

	errTests := []struct {
		name string
		call func() error
		want string
	}{
		{"missing secret", func() error { _, err := s.Get("nope", "", ""); return err }, "nope/tls.crt"},
		{"missing key", func() error { _, err := s.Get("web", "", "absent.key"); return err }, "web/absent.key"},
		{"bad cert", func() error { _, err := s.Get("web", "bad.crt", ""); return err }, "web/bad.crt"},
		{"missing ca", func() error { _, err := s.CA("web", "absent.crt"); return err }, "web/absent.crt"},
		{"bad ca", func() error { _, err := s.CA("web", "bad.crt"); return err }, "web/bad.crt"},
		{"empty secret", func() error { _, err := s.Get("", "", ""); return err }, "empty secret"},
		{"good default", func() error { _, err := s.Get("web", "", ""); return err }, ""},
		{"good custom", func() error { _, err := s.Get("web", "custom.crt", "custom.key"); return err }, ""},
		{"good ca", func() error { _, err := s.CA("web", ""); return err }, ""},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want mention of %q", err, tt.want)
			}
		})
	}

	first, err := s.Get("web", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Get("web", "", ""); again != first {
		t.Error("unchanged files were reloaded")
	}
	// A broken renewal keeps the previous pair in service.
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": []byte("half written")})
	if kept, err := s.Get("web", "", ""); err != nil || kept != first {
		t.Fatalf("broken renewal: %v, kept previous = %v", err, kept == first)
	}
	c2, k2 := ca.issue(t, "v2", host)
	writeSecret(t, dir, "web", map[string][]byte{"tls.crt": c2, "tls.key": k2})
	renewed, err := s.Get("web", "", "")
	if err != nil || renewed == first || renewed.Leaf.Subject.CommonName != "v2" {
		t.Fatalf("renewal: %v", err)
	}
}
