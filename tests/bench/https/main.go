// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command https is the client and backend of the bench's TLS-terminating
// proxy section (issue 5): a closed-loop HTTP/1.1 load generator like wrk,
// a minimal plain-HTTP backend both proxies forward to, a one-request probe
// and a throw-away certificate.
//
//	https load -url URL -c N -d DUR [-warmup DUR] -mode keepalive|newconn [-insecure] [-curves LIST]
//	    print one JSON line: requests, errors, req/s, p50/p99/max latency (ms)
//	https get -url URL [-insecure] [-timeout DUR]
//	    make one request on a new connection, print what answered (JSON)
//	https backend -listen ADDR [-listen ADDR ...] [-body N]
//	    answer every request with 200 and an N-byte body until killed
//	https cert -cert FILE -key FILE -host NAME|IP[,...]
//	    write a self-signed ECDSA P-256 certificate and its key (PEM)
//
// keepalive: each worker keeps one HTTP/1.1 connection for the whole run.
// newconn: each request opens a new TCP (and TLS) connection with a full
// handshake: the client keeps no session cache, so nothing is resumed. The
// client reads and writes raw HTTP/1.1 instead of using net/http's client,
// so that on two vCPUs the load generator takes as little CPU from the
// servers under test as it can.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: https load|get|backend|cert [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "load":
		err = loadMain(os.Args[2:])
	case "get":
		err = getMain(os.Args[2:])
	case "backend":
		err = backendMain(os.Args[2:])
	case "cert":
		err = certMain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (load, get, backend, cert)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "https %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
