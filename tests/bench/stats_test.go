// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// samples, or 0 when there are none. samples is not modified.
func percentile(samples []int64, p float64) int64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name    string
		samples []int64
		p       float64
		want    int64
	}{
		{"empty", nil, 50, 0},
		{"one", []int64{7}, 99, 7},
		{"median of odd", []int64{3, 1, 2}, 50, 2},
		{"median of even takes the lower", []int64{4, 1, 3, 2}, 50, 2},
		{"p99 of 100", seq(100), 99, 99},
		{"p99 of 1000", seq(1000), 99, 990},
		{"p100", seq(10), 100, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %d, want %d", tt.samples, tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(n - i) // reversed, so sorting matters
	}
	return s
}

// dur prints nanoseconds in a unit that keeps three significant digits.
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
}

// ratio formats a/b, or "-" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// verdict says whether a target holds.
func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "MISSED"
}

// table prints rows under a header, columns aligned.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	seps := make([]string, len(header))
	for i, h := range header {
		seps[i] = strings.Repeat("-", len([]rune(h)))
	}
	fmt.Fprintln(tw, strings.Join(seps, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// median of a few throughput rounds: one round hit by outside load moves
// it less than the mean.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"odd", []float64{9, 1, 5}, 5},
		{"even averages the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"one outlier does not move it", []float64{10, 10, 1, 10}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
		})
	}
}
