// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package driver

import (
	"time"

	"github.com/nori-net/nori/plugins/docker/state"
)

type stateData = state.Data

func timeAfter(seconds int) <-chan time.Time { return time.After(time.Duration(seconds) * time.Second) }
