// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package main

import (
	"math"
	"slices"
)

// summary is what the report needs of a run's latencies (ns).
type summary struct {
	n             int
	p50, p99, max int64
}

// summarize sorts lat in place and takes nearest-rank percentiles, the
// same definition as the bench's tables.
func summarize(lat []int64) summary {
	if len(lat) == 0 {
		return summary{}
	}
	slices.Sort(lat)
	return summary{n: len(lat), p50: rank(lat, 50), p99: rank(lat, 99), max: lat[len(lat)-1]}
}

// rank is the nearest-rank p-th percentile of sorted samples.
func rank(sorted []int64, p float64) int64 {
	r := int(math.Ceil(p / 100 * float64(len(sorted))))
	r = min(max(r, 1), len(sorted))
	return sorted[r-1]
}
