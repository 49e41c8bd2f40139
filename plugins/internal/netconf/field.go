// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package netconf

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
)

// invalid builds the code-7 error for one field, in the wording every
// Nori plugin uses: invalid "field": reason.
func invalid(field, format string, a ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("invalid %q: %s", field, fmt.Sprintf(format, a...)), "")
}

// missing builds the code-7 error for a required field that is absent.
func missing(field, hint string) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("missing %q: %s", field, hint), "")
}

// decodeErr turns a json.Unmarshal failure into a code-7 error that names
// the field when encoding/json knows it (a wrong type, the usual mistake
// in a hand-written conflist).
func decodeErr(prefix string, err error) *types.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		field := te.Field
		if prefix != "" {
			field = prefix + "." + field
		}
		return invalid(field, "must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)
	}
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("invalid network configuration: %v", err), "")
}

// jsonKind names a Go kind the way a conflist author thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	default:
		return kind
	}
}
