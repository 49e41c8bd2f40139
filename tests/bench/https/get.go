// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"
)

// probe is what get prints: enough to tell which server answered.
type probe struct {
	Status int    `json:"status"`
	Bytes  int64  `json:"bytes"`
	Server string `json:"server"`
	TLS    string `json:"tls"`
}

func getMain(args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	rawURL := fs.String("url", "", "http:// or https://IP:PORT/path")
	insecure := fs.Bool("insecure", false, "do not verify the server's certificate")
	curves := fs.String("curves", "", "as for load")
	timeout := fs.Duration("timeout", 3*time.Second, "per connect, handshake and request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := get(*rawURL, *insecure, *curves, *timeout)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(p); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// get makes one request on a new connection.
func get(rawURL string, insecure bool, curves string, timeout time.Duration) (probe, error) {
	t, err := newTarget(rawURL, insecure, curves, true, timeout)
	if err != nil {
		return probe{}, err
	}
	c, err := t.dial()
	if err != nil {
		return probe{}, err
	}
	resp, err := t.do(c)
	c.closeAfterServer()
	if err != nil {
		return probe{}, err
	}
	return probe{Status: resp.status, Bytes: resp.bytes, Server: resp.server, TLS: tlsDesc(c.tls)}, nil
}
