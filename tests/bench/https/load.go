// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Handshake descriptions for the report.
const (
	handshakeKeepalive = "one per worker at the start (HTTP/1.1 keep-alive)"
	handshakeNewconn   = "full, one per request (new TCP connection, no session resumption)"
	handshakePlain     = "none (plain HTTP)"
)

// result is the one JSON line load prints.
type result struct {
	URL         string  `json:"url"`
	Mode        string  `json:"mode"`
	Handshake   string  `json:"handshake"`
	TLS         string  `json:"tls"` // of the first handshake
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"` // measured, without warm-up
	Requests    int     `json:"requests"`
	Errors      int     `json:"errors"`
	WarmupErrs  int     `json:"warmupErrors"`
	FirstError  string  `json:"firstError,omitempty"`
	Connections int     `json:"connections"` // opened while measuring
	Resumed     int     `json:"resumed"`     // TLS sessions resumed (always 0: no cache)
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50ms"`
	P99ms       float64 `json:"p99ms"`
	MaxMs       float64 `json:"maxms"`
	// CPU is the load generator's own CPU time over the whole run
	// (warm-up included) in CPUs: on a small machine it shares the cores
	// with the servers it measures.
	CPU float64 `json:"cpu"`
}

func loadMain(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	rawURL := fs.String("url", "", "http:// or https://IP:PORT/path")
	c := fs.Int("c", 16, "concurrent workers (connections)")
	d := fs.Duration("d", 5*time.Second, "measured duration")
	warmup := fs.Duration("warmup", time.Second, "load before measuring, not counted")
	mode := fs.String("mode", "keepalive", "keepalive or newconn")
	insecure := fs.Bool("insecure", false, "do not verify the server's certificate")
	curves := fs.String("curves", "", "TLS key exchanges offered, by Go name (X25519,P-256,X25519MLKEM768); empty: Go's defaults")
	timeout := fs.Duration("timeout", 5*time.Second, "per connect, handshake and request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *c < 1 || *d <= 0 {
		return fmt.Errorf("need -c ≥ 1 and -d > 0")
	}
	if *mode != "keepalive" && *mode != "newconn" {
		return fmt.Errorf("-mode %q: keepalive or newconn", *mode)
	}
	t, err := newTarget(*rawURL, *insecure, *curves, *mode == "newconn", *timeout)
	if err != nil {
		return err
	}
	cpu0, wall0 := cpuTime(), time.Now()
	res := run(t, *mode, *c, *warmup, *d)
	res.URL = *rawURL
	res.CPU = (cpuTime() - cpu0).Seconds() / time.Since(wall0).Seconds()
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if res.Requests == 0 {
		return fmt.Errorf("%w: %s", errNoRequests, res.FirstError)
	}
	return nil
}

// run drives c workers for warmup+d and summarizes the measured part.
func run(t *target, mode string, c int, warmup, d time.Duration) result {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+d)
	ws := make([]*worker, c)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &worker{t: t, newconn: mode == "newconn", from: from, until: until}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws[i].loop()
		}()
	}
	wg.Wait()
	res := result{Mode: mode, Concurrency: c, Seconds: d.Seconds()}
	switch {
	case t.tls == nil:
		res.Handshake = handshakePlain
	case mode == "newconn":
		res.Handshake = handshakeNewconn
	default:
		res.Handshake = handshakeKeepalive
	}
	var lat []int64
	for _, w := range ws {
		lat = append(lat, w.lat...)
		res.Errors += w.errs
		res.WarmupErrs += w.warmupErrs
		res.Connections += w.conns
		res.Resumed += w.resumed
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
		if res.TLS == "" && w.tlsDesc != "" {
			res.TLS = w.tlsDesc
		}
	}
	if res.TLS == "" {
		res.TLS = tlsDesc(nil)
	}
	s := summarize(lat)
	res.Requests = s.n
	res.RPS = float64(s.n) / d.Seconds()
	res.P50ms, res.P99ms, res.MaxMs = ms(s.p50), ms(s.p99), ms(s.max)
	return res
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// worker is one closed loop: a request, its response, the next request.
type worker struct {
	t           *target
	newconn     bool
	from, until time.Time // the measured window

	c          *conn // keepalive: the open connection
	lat        []int64
	errs       int // in the measured window
	warmupErrs int
	firstErr   error // of either phase, so that a failed warm-up explains itself
	conns      int
	resumed    int
	tlsDesc    string
}

func (w *worker) loop() {
	for {
		start := time.Now()
		if !start.Before(w.until) {
			break
		}
		done, err := w.once()
		end := time.Now()
		if done != nil {
			// Not timed: the response is complete.
			done.closeAfterServer()
		}
		measured := !start.Before(w.from) && !end.After(w.until)
		if err != nil {
			if w.firstErr == nil {
				w.firstErr = err
			}
			if measured {
				w.errs++
			} else {
				w.warmupErrs++
			}
			// A dead server must not turn the loop into a busy one.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if measured {
			w.lat = append(w.lat, end.Sub(start).Nanoseconds())
		}
	}
	if w.c != nil {
		w.c.c.Close()
	}
}

// once makes one request: on the kept connection, or on a new one. Latency
// includes connect and handshake when it opens a connection, as a client
// would see it. It returns the connection to close once the clock has
// stopped (newconn, or the server said it closes).
func (w *worker) once() (*conn, error) {
	if w.c == nil {
		c, err := w.t.dial()
		if err != nil {
			return nil, err
		}
		if time.Now().After(w.from) {
			w.conns++
			if c.tls != nil && c.tls.DidResume {
				w.resumed++
			}
		}
		if w.tlsDesc == "" && c.tls != nil {
			w.tlsDesc = tlsDesc(c.tls)
		}
		w.c = c
	}
	resp, err := w.t.do(w.c)
	if err != nil {
		// A broken connection is replaced on the next request.
		w.c.c.Close()
		w.c = nil
		return nil, err
	}
	if w.newconn || resp.close {
		c := w.c
		w.c = nil
		return c, nil
	}
	return nil, nil
}
