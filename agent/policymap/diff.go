// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policymap

import (
	"cmp"
	"slices"
)

// Diff returns what turns the map holding old into one holding new: keys
// to write (new or changed values) and keys to delete, the deletes sorted
// so logs and tests are stable. Write the upserts first: once all of them
// are in and until the deletes are done, the map holds the union of both
// key sets with the new values, and every flow's longest match is then the
// longest in the old or in the new set, so it gets its old or its new
// verdict, never a third one.
func Diff(old, new map[Key]Value) (upserts map[Key]Value, deletes []Key) {
	upserts = map[Key]Value{}
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			upserts[k] = v
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			deletes = append(deletes, k)
		}
	}
	slices.SortFunc(deletes, compareKeys)
	return upserts, deletes
}

func compareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(a.EndpointID, b.EndpointID),
		cmp.Compare(a.Dir, b.Dir),
		cmp.Compare(a.Identity, b.Identity),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.Port, b.Port),
		cmp.Compare(a.PortBits, b.PortBits))
}
