// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import "testing"

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		lat  []int64
		want summary
	}{
		{"empty", nil, summary{}},
		{"one", []int64{7}, summary{n: 1, p50: 7, p99: 7, max: 7}},
		{"median of even takes the lower", []int64{4, 1, 3, 2}, summary{n: 4, p50: 2, p99: 4, max: 4}},
		{"p99 of 1000", reversed(1000), summary{n: 1000, p50: 500, p99: 990, max: 1000}},
		{"one slow request is the max, not the p99", append(reversed(199), 1e9), summary{n: 200, p50: 100, p99: 198, max: 1e9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.lat); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// reversed is n..1, so that sorting matters.
func reversed(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(n - i)
	}
	return s
}
