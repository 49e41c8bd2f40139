// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Package monitor feeds `nori monitor`: a Hub owns the single reader of
// the datapath's events ring buffer, decodes and enriches each event
// (identity labels, endpoint names) and fans it out to subscribers. The
// reader never waits for a subscriber: one that reads too slowly loses
// events and is told how many. Events from elsewhere (the L7 proxy) enter
// through Publish.
package monitor
