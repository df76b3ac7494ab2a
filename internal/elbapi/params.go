package elbapi

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Params is a decoded AWS Query form (application/x-www-form-urlencoded body,
// or URL query for GET).
//
// The Query protocol flattens nested input into dotted keys: a list is
// Name.member.1, Name.member.2, ...; a structure is Name.Field; a list of
// structures is Name.member.N.Field; a map is Name.entry.N.key and
// Name.entry.N.value. An empty list is sent as the bare key "Name=". Params
// addresses one level of that tree: Struct and StructList return Params whose
// keys are relative to the nested prefix. The zero Params is an empty form.
type Params struct {
	form   *form
	prefix string
}

// form holds the decoded values and their keys in sorted order, so that every
// prefix lookup is a binary search rather than a scan of the whole form.
type form struct {
	values map[string]string
	keys   []string
}

// ParseParams wraps a decoded form. When a key is repeated, its first value
// counts, as it does for AWS.
func ParseParams(values url.Values) Params {
	f := &form{values: make(map[string]string, len(values))}
	for k, vs := range values {
		if len(vs) == 0 {
			continue
		}
		f.values[k] = vs[0]
		f.keys = append(f.keys, k)
	}
	sort.Strings(f.keys)
	return Params{form: f}
}

func (p Params) lookup(key string) (string, bool) {
	if p.form == nil {
		return "", false
	}
	v, ok := p.form.values[p.prefix+key]
	return v, ok
}

// keysWithPrefix returns the sorted keys that start with prefix (relative to
// p), without that prefix.
func (p Params) keysWithPrefix(prefix string) []string {
	if p.form == nil {
		return nil
	}
	full := p.prefix + prefix
	keys := p.form.keys
	i := sort.SearchStrings(keys, full)
	var out []string
	for ; i < len(keys) && strings.HasPrefix(keys[i], full); i++ {
		out = append(out, keys[i][len(full):])
	}
	return out
}

// Has reports whether key is present, either as a value of its own (including
// the empty value an empty list is sent as) or as the prefix of nested keys
// (key.member.1, key.Field).
func (p Params) Has(key string) bool {
	if _, ok := p.lookup(key); ok {
		return true
	}
	if p.form == nil {
		return false
	}
	full := p.prefix + key + "."
	i := sort.SearchStrings(p.form.keys, full)
	return i < len(p.form.keys) && strings.HasPrefix(p.form.keys[i], full)
}

// String returns the value of key, or "" when it is absent.
func (p Params) String(key string) string {
	v, _ := p.lookup(key)
	return v
}

// StringPtr returns the value of key, or nil when it is absent.
func (p Params) StringPtr(key string) *string {
	v, ok := p.lookup(key)
	if !ok {
		return nil
	}
	return &v
}

// Int32 returns the integer value of key. ok is false when the key is absent;
// err is a ValidationError naming the key when the value is not an int32.
func (p Params) Int32(key string) (v int32, ok bool, err error) {
	s, ok := p.lookup(key)
	if !ok {
		return 0, false, nil
	}
	n, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if perr != nil {
		return 0, true, ValidationError("Value '%s' at '%s' failed to satisfy constraint: Member must be a 32-bit integer", s, memberPath(p.prefix+key))
	}
	return int32(n), true, nil
}

// Bool returns the boolean value of key ("true" or "false", any case). ok is
// false when the key is absent; err is a ValidationError naming the key when
// the value is not a boolean.
func (p Params) Bool(key string) (v bool, ok bool, err error) {
	s, ok := p.lookup(key)
	if !ok {
		return false, false, nil
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, ValidationError("Value '%s' at '%s' failed to satisfy constraint: Member must be a boolean", s, memberPath(p.prefix+key))
}

// indexed groups the keys below prefix by their leading positive index:
// "3.Id" -> 3 -> ["Id"]. Keys whose first segment is not a positive integer
// are ignored. The indexes come back in numeric order.
func (p Params) indexed(prefix string) (idx []int, rest map[int][]string) {
	rest = map[int][]string{}
	for _, k := range p.keysWithPrefix(prefix) {
		head, tail, _ := strings.Cut(k, ".")
		n, err := strconv.Atoi(head)
		if err != nil || n < 1 || strconv.Itoa(n) != head {
			continue
		}
		if _, seen := rest[n]; !seen {
			idx = append(idx, n)
		}
		rest[n] = append(rest[n], tail)
	}
	sort.Ints(idx)
	return idx, rest
}

// StringList returns key.member.1 .. key.member.N in numeric order of N,
// whatever their order in the form and with gaps allowed. It returns an empty
// non-nil slice for an empty list ("key=") and nil when the key is absent.
func (p Params) StringList(key string) []string {
	idx, rest := p.indexed(key + ".member.")
	var out []string
	for _, n := range idx {
		for _, tail := range rest[n] {
			if tail == "" {
				out = append(out, p.String(key+".member."+strconv.Itoa(n)))
				break
			}
		}
	}
	if out == nil && p.Has(key) {
		return []string{}
	}
	return out
}

// StructList returns the structures key.member.N.<field> grouped by N, in
// numeric order of N. Each returned Params addresses its fields without the
// prefix (p.String("Id"), not "Targets.member.1.Id"). It returns an empty
// non-nil slice for an empty list and nil when the key is absent.
func (p Params) StructList(key string) []Params {
	idx, _ := p.indexed(key + ".member.")
	var out []Params
	for _, n := range idx {
		out = append(out, Params{form: p.form, prefix: p.prefix + key + ".member." + strconv.Itoa(n) + "."})
	}
	if out == nil && p.Has(key) {
		return []Params{}
	}
	return out
}

// FlatList returns key.1 .. key.N in numeric order of N: a list as the EC2
// protocol sends it (GroupId.1, Filter.1.Value.2), without ".member". It
// returns nil when there is none.
func (p Params) FlatList(key string) []string {
	idx, rest := p.indexed(key + ".")
	var out []string
	for _, n := range idx {
		for _, tail := range rest[n] {
			if tail == "" {
				out = append(out, p.String(key+"."+strconv.Itoa(n)))
				break
			}
		}
	}
	return out
}

// FlatStructList returns the structures key.N.<field> (the EC2 protocol's
// lists of structures, such as Filter.1.Name) grouped by N, in numeric
// order of N, each addressing its fields without the prefix.
func (p Params) FlatStructList(key string) []Params {
	idx, _ := p.indexed(key + ".")
	var out []Params
	for _, n := range idx {
		out = append(out, Params{form: p.form, prefix: p.prefix + key + "." + strconv.Itoa(n) + "."})
	}
	return out
}

// Struct returns the structure key.<field>. ok is false when no field of it
// is present.
func (p Params) Struct(key string) (Params, bool) {
	sub := Params{form: p.form, prefix: p.prefix + key + "."}
	return sub, len(p.keysWithPrefix(key+".")) > 0
}

// Map returns the map sent as key.entry.N.key / key.entry.N.value. Entries
// without a key are skipped. It returns nil when the key is absent.
func (p Params) Map(key string) map[string]string {
	idx, _ := p.indexed(key + ".entry.")
	var out map[string]string
	for _, n := range idx {
		e := key + ".entry." + strconv.Itoa(n) + "."
		k, ok := p.lookup(e + "key")
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = p.String(e + "value")
	}
	if out == nil && p.Has(key) {
		return map[string]string{}
	}
	return out
}

// memberPath turns a Query key into the member path AWS names in validation
// messages: "Targets.member.1.Port" -> "targets.1.member.port".
func memberPath(key string) string {
	parts := strings.Split(key, ".")
	var out []string
	for i := 0; i < len(parts); i++ {
		if (parts[i] == "member" || parts[i] == "entry") && i+1 < len(parts) {
			out = append(out, parts[i+1], parts[i])
			i++
			continue
		}
		out = append(out, lowerFirst(parts[i]))
	}
	return strings.Join(out, ".")
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
