// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		wantClose []bool // per request, in order
		wantErr   bool   // after those
	}{
		{"two kept-alive requests", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", []bool{false, false}, true},
		{"connection close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", []bool{true}, true},
		{"header names are case-insensitive", "GET / HTTP/1.1\r\nCONNECTION: Close\r\n\r\n", []bool{true}, true},
		{"http/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", []bool{true}, true},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []bool{false}, true},
		{"a body is skipped", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n", []bool{false, false}, true},
		{"chunked bodies are refused", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", nil, true},
		{"not http", "\x16\x03\x01\x02\x00\n", nil, true},
		{"malformed header", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			for i, want := range tt.wantClose {
				got, err := readRequest(br)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if got != want {
					t.Errorf("request %d: close = %v, want %v", i, got, want)
				}
			}
			if _, err := readRequest(br); (err != nil) != tt.wantErr {
				t.Errorf("after the requests: err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}
