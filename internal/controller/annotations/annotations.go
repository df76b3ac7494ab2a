// Package annotations parses the Kubernetes annotations kelb controller's
// front-ends read (Service: service.beta.kubernetes.io/, Ingress:
// alb.ingress.kubernetes.io/): strings, booleans, positive integers,
// one-of values, comma-separated lists, key=value maps, CIDRs and JSON.
//
// Every parse error is an *Error that names the annotation, its value as
// written and what is wrong with it; front-ends report it as a Warning
// event and deploy nothing, so a malformed annotation never changes what
// is serving. Parsing is pure: nothing here reads or writes anything else.
package annotations

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Error is a malformed annotation: its key, its value and what is wrong
// with it.
type Error struct {
	Key    string
	Value  string
	Reason string
	// Unimplemented marks a well-formed annotation that asks for protection
	// kelb does not implement yet: the build refuses it rather than deploy
	// the load balancer without it.
	Unimplemented bool
}

func (e *Error) Error() string {
	if e.Unimplemented {
		return fmt.Sprintf("annotation %s=%q: %s: kelb does not implement it yet and refuses to deploy rather than serve without it", e.Key, e.Value, e.Reason)
	}
	return fmt.Sprintf("annotation %s: invalid value %q: %s", e.Key, e.Value, e.Reason)
}

// Map is the annotations of one object. Its readers return ok false for an
// absent annotation and an *Error for a malformed one.
type Map map[string]string

// Str reads a string, trimmed of surrounding space.
func (a Map) Str(key string) (string, bool) {
	v, ok := a[key]
	return strings.TrimSpace(v), ok
}

// Fail is the error for annotation key being wrong for reason.
func (a Map) Fail(key, reason string) *Error {
	return &Error{Key: key, Value: a[key], Reason: reason}
}

// Bool reads a boolean as strconv.ParseBool reads it.
func (a Map) Bool(key string) (value, ok bool, err error) {
	raw, ok := a.Str(key)
	if !ok {
		return false, false, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, true, a.Fail(key, "not a boolean")
	}
	return b, true, nil
}

// OneOf reads a value that must be one of allowed.
func (a Map) OneOf(key string, allowed ...string) (string, bool, error) {
	raw, ok := a.Str(key)
	if !ok {
		return "", false, nil
	}
	for _, v := range allowed {
		if raw == v {
			return raw, true, nil
		}
	}
	return "", true, a.Fail(key, "must be one of "+strings.Join(allowed, ", "))
}

// Positive reads a positive integer; def when absent.
func (a Map) Positive(key string, def int32) (int32, error) {
	raw, ok := a.Str(key)
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || n <= 0 {
		return 0, a.Fail(key, "not a positive integer")
	}
	return int32(n), nil
}

// List reads a comma-separated list; empty items are an error.
func (a Map) List(key string) ([]string, error) {
	raw, ok := a.Str(key)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, a.Fail(key, "empty item in comma-separated list")
		}
		out = append(out, item)
	}
	return out, nil
}

// StringMap reads "k1=v1,k2=v2". A key without "=" or given twice is an
// error; an empty value is allowed.
func (a Map) StringMap(key string) (map[string]string, error) {
	items, err := a.List(key)
	if err != nil || items == nil {
		return nil, err
	}
	out := make(map[string]string, len(items))
	for _, item := range items {
		k, v, found := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !found || k == "" {
			return nil, a.Fail(key, fmt.Sprintf("%q is not key=value", item))
		}
		if _, dup := out[k]; dup {
			return nil, a.Fail(key, fmt.Sprintf("key %q given twice", k))
		}
		out[k] = v
	}
	return out, nil
}

// CIDRs reads a list of networks, each masked to its prefix.
func (a Map) CIDRs(key string) ([]string, error) {
	items, err := a.List(key)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, a.Fail(key, fmt.Sprintf("%q is not a CIDR", item))
		}
		items[i] = p.Masked().String()
	}
	return items, nil
}

// JSON decodes a JSON annotation into v, refusing unknown fields and
// trailing data.
func (a Map) JSON(key string, v any) (bool, error) {
	raw, ok := a.Str(key)
	if !ok {
		return false, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, a.Fail(key, "not valid JSON for this annotation: "+err.Error())
	}
	if dec.More() {
		return true, a.Fail(key, "trailing data after the JSON value")
	}
	return true, nil
}
