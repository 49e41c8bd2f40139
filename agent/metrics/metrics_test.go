// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package metrics

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net/http"
	"testing"
)

func TestWrite(t *testing.T) {
	fams := []Family{
		{Name: "nori_z", Help: "last", Type: Gauge, Samples: []Sample{{Value: 1.5}}},
		{Name: "nori_a_total", Help: "a \\ help\nline", Type: Counter, Samples: []Sample{
			{Labels: [][2]string{{"reason", "drop-policy"}, {"direction", "ingress"}}, Value: 42},
			{Labels: [][2]string{{"q", `say "hi"`}}, Value: math.Inf(1)},
		}},
	}
	want := `# HELP nori_a_total a \\ help\nline
# TYPE nori_a_total counter
nori_a_total{reason="drop-policy",direction="ingress"} 42
nori_a_total{q="say \"hi\""} +Inf
# HELP nori_z last
# TYPE nori_z gauge
nori_z 1.5
`
	var b bytes.Buffer
	if err := Write(&b, fams); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := func() []Family {
		return []Family{{Name: "nori_up", Help: "1", Type: Gauge, Samples: []Sample{{Value: 1}}}}
	}
	addr, err := Serve(ctx, "127.0.0.1:0", src, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if !bytes.Contains(body, []byte("nori_up 1\n")) {
		t.Fatalf("body:\n%s", body)
	}
}
