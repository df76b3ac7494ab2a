package elbapi

import "net/url"

// Params is a decoded AWS Query form (application/x-www-form-urlencoded body,
// or URL query for GET).
type Params struct {
	values map[string][]string
	prefix string
}

// ParseParams wraps a decoded form.
func ParseParams(form url.Values) Params { return Params{values: form} }

func (p Params) Has(key string) bool                            { return false }
func (p Params) String(key string) string                       { return "" }
func (p Params) StringPtr(key string) *string                   { return nil }
func (p Params) Int32(key string) (v int32, ok bool, err error) { return 0, false, nil }
func (p Params) Bool(key string) (v bool, ok bool, err error)   { return false, false, nil }
func (p Params) StringList(key string) []string                 { return nil }
func (p Params) StructList(key string) []Params                 { return nil }
func (p Params) Struct(key string) (Params, bool)               { return Params{}, false }
