// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// backendServer is the name in the backend's Server header.
const backendServer = "nori-bench-backend"

func backendMain(args []string) error {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	var addrs []string
	fs.Func("listen", "address to serve plain HTTP on (repeatable)", func(s string) error {
		addrs = append(addrs, s)
		return nil
	})
	body := fs.Int("body", 64, "response body bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(addrs) == 0 {
		return errors.New("need -listen")
	}
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	b := newBackend(*body)
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- b.serve(ln) }()
	}
	fmt.Printf("ready: %s\n", strings.Join(addrs, " "))
	return <-errc
}

// backend answers every request with 200 and a fixed body. It parses just
// enough HTTP/1.1 (request line, headers, a Content-Length body) to keep a
// connection alive across requests, so that it costs both proxies the
// same, and little.
type backend struct {
	keep, close []byte // the response, without and with Connection: close
}

func newBackend(bodyLen int) *backend {
	body := bytes.Repeat([]byte("n"), bodyLen)
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n", backendServer, bodyLen)
	return &backend{
		keep:  append([]byte(head+"\r\n"), body...),
		close: append([]byte(head+"Connection: close\r\n\r\n"), body...),
	}
}

func (b *backend) serve(ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		go b.serveConn(c)
	}
}

func (b *backend) serveConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	for {
		closeAfter, err := readRequest(br)
		if err != nil {
			return
		}
		resp := b.keep
		if closeAfter {
			resp = b.close
		}
		if _, err := c.Write(resp); err != nil || closeAfter {
			return
		}
	}
}

// readRequest consumes one request and says whether the client asked to
// close (Connection: close, or HTTP/1.0 without keep-alive).
func readRequest(br *bufio.Reader) (closeAfter bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, err
	}
	if !bytes.Contains(line, []byte(" HTTP/1.")) {
		return false, fmt.Errorf("not an HTTP/1 request line: %q", line)
	}
	http10 := bytes.Contains(line, []byte(" HTTP/1.0"))
	keepAlive := false
	var bodyLen int64
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return false, fmt.Errorf("malformed header %q", h)
		}
		value = bytes.TrimSpace(value)
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "connection":
			v := strings.ToLower(string(value))
			closeAfter = closeAfter || strings.Contains(v, "close")
			keepAlive = keepAlive || strings.Contains(v, "keep-alive")
		case "content-length":
			if bodyLen, err = strconv.ParseInt(string(value), 10, 64); err != nil || bodyLen < 0 {
				return false, fmt.Errorf("bad content-length %q", value)
			}
		case "transfer-encoding":
			return false, errors.New("chunked request bodies are not supported")
		}
	}
	if _, err := io.CopyN(io.Discard, br, bodyLen); err != nil {
		return false, err
	}
	return closeAfter || (http10 && !keepAlive), nil
}
