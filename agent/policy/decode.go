// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// The parser walks a generic JSON tree instead of using json.Unmarshal on
// the typed structs: encoding/json names neither the path of an unknown
// field nor that of most malformed values, and policy errors must say
// exactly where the problem is.

// FieldError is a problem at one field of one rule.
type FieldError struct {
	// Path is the JSON path inside the rule, e.g. ingress[0].toPorts[0].
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// kind names a JSON value's type for error messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// object checks that v is an object holding only the allowed fields;
// unsupported maps Cilium fields Nori refuses to the message saying why.
func object(v any, path string, allowed []string, unsupported map[string]string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(path, "expected an object, got %s", kind(v))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same field first every time
	for _, k := range keys {
		if slices.Contains(allowed, k) {
			continue
		}
		if why, ok := unsupported[k]; ok {
			return nil, fieldErr(field(path, k), "%s", why)
		}
		return nil, fieldErr(field(path, k), "unknown field (allowed: %v)", allowed)
	}
	return m, nil
}

// array returns the elements of an array field; null and [] both mean
// absent, as Cilium tests len() everywhere, and so a stored rule
// (omitempty) parses back equal.
func array(v any, path string) ([]any, error) {
	switch a := v.(type) {
	case nil:
		return nil, nil
	case []any:
		if len(a) == 0 {
			return nil, nil
		}
		return a, nil
	}
	return nil, fieldErr(path, "expected an array, got %s", kind(v))
}

func str(v any, path string) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fieldErr(path, "expected a string, got %s", kind(v))
}

func boolean(v any, path string) (*bool, error) {
	switch b := v.(type) {
	case nil:
		return nil, nil
	case bool:
		return &b, nil
	}
	return nil, fieldErr(path, "expected true or false, got %s", kind(v))
}

func strings_(v any, path string) ([]string, error) {
	a, err := array(v, path)
	if err != nil || a == nil {
		return nil, err
	}
	out := make([]string, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, fieldErr(index(path, i), "expected a string, got %s", kind(e))
		}
		out[i] = s
	}
	return out, nil
}

// integer reads a JSON number that must be a whole number in [lo, hi].
func integer(v any, path string, lo, hi int64) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fieldErr(path, "expected a number, got %s", kind(v))
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || i < lo || i > hi {
		return 0, fieldErr(path, "%s is not a whole number in %d-%d", n, lo, hi)
	}
	return i, nil
}

// each decodes every element of an array field with fn.
func each[T any](v any, path string, fn func(any, string) (T, error)) ([]T, error) {
	a, err := array(v, path)
	if err != nil || a == nil {
		return nil, err
	}
	out := make([]T, 0, len(a))
	for i, e := range a {
		t, err := fn(e, index(path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
