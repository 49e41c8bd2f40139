// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"github.com/containernetworking/cni/pkg/types"

	"github.com/nori-net/nori/agent/api"
)

// GCAttachments holds the attachments a GC must keep. libcni sends the
// list twice, under the spec's key and under the misspelled key of the
// spec-v1.1.0 text (CNI#1101); a runtime may send only one of them.
type GCAttachments struct {
	Valid      []types.GCAttachment `json:"cni.dev/valid-attachments"`
	Misspelled []types.GCAttachment `json:"cni.dev/attachments"`
}

// Present reports whether the runtime sent a list at all. A GC without
// one is answered without freeing anything: an absent list must not read
// as "no attachment is valid".
func (g GCAttachments) Present() bool {
	return g.Valid != nil || g.Misspelled != nil
}

// Attachments merges both keys without duplicates, in the agent's type.
// It is never nil, so an empty list means "nothing is valid" on the wire.
func (g GCAttachments) Attachments() []api.Attachment {
	seen := make(map[types.GCAttachment]bool)
	out := []api.Attachment{}
	for _, list := range [][]types.GCAttachment{g.Valid, g.Misspelled} {
		for _, a := range list {
			if seen[a] {
				continue
			}
			seen[a] = true
			out = append(out, api.Attachment{ContainerID: a.ContainerID, IfName: a.IfName})
		}
	}
	return out
}
