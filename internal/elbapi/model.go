package elbapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/kelb-io/kelb/internal/elb"
)

// The ELBv2 API model (botocore's JSON form) is the contract of the API: the
// operations, the input shapes and their constraints, and the error codes
// with their HTTP statuses. The handler validates every request against it
// before an operation runs, so operations see only input that satisfies the
// model, and it answers every modeled error with the model's status.
//
//go:embed model/elbv2-2015-12-01.service.json
var modelJSON []byte

// apiVersion is the only Version the API answers to.
const apiVersion = "2015-12-01"

type shapeRef struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
}

type shape struct {
	Type      string              `json:"type"`
	Members   map[string]shapeRef `json:"members"`
	Required  []string            `json:"required"`
	Member    *shapeRef           `json:"member"`
	Key       *shapeRef           `json:"key"`
	Value     *shapeRef           `json:"value"`
	Min       *float64            `json:"min"`
	Max       *float64            `json:"max"`
	Enum      []string            `json:"enum"`
	Pattern   string              `json:"pattern"`
	Flattened bool                `json:"flattened"`
	Error     *struct {
		Code           string `json:"code"`
		HTTPStatusCode int    `json:"httpStatusCode"`
		SenderFault    bool   `json:"senderFault"`
	} `json:"error"`
	Exception bool `json:"exception"`

	// Derived when the model loads.
	memberNames []string // sorted, so that errors come in a stable order
	required    map[string]bool
	pattern     *regexp.Regexp
}

type operation struct {
	Name  string    `json:"name"`
	Input *shapeRef `json:"input"`
}

// modelError is a modeled error: its wire code, HTTP status and fault side.
type modelError struct {
	code        string
	status      int
	senderFault bool
}

type apiModel struct {
	Operations map[string]operation `json:"operations"`
	Shapes     map[string]*shape    `json:"shapes"`

	errors map[string]modelError // by wire code and by shape name
}

var serviceModel = sync.OnceValue(func() *apiModel {
	m, err := parseModel(modelJSON)
	if err != nil {
		// The model is compiled in; a broken one is a build defect.
		panic(fmt.Sprintf("elbapi: embedded ELBv2 model: %v", err))
	}
	return m
})

func parseModel(data []byte) (*apiModel, error) {
	var m apiModel
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	m.errors = map[string]modelError{}
	for name, s := range m.Shapes {
		for n := range s.Members {
			s.memberNames = append(s.memberNames, n)
		}
		sort.Strings(s.memberNames)
		s.required = map[string]bool{}
		for _, r := range s.Required {
			s.required[r] = true
		}
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err != nil {
				return nil, fmt.Errorf("shape %s: pattern %q: %w", name, s.Pattern, err)
			}
			s.pattern = re
		}
		if s.Error != nil {
			me := modelError{code: s.Error.Code, status: s.Error.HTTPStatusCode, senderFault: s.Error.SenderFault}
			if me.status == 0 {
				me.status = 400
			}
			m.errors[me.code] = me
			m.errors[name] = me
		}
	}
	for name, values := range enumExtensions {
		s := m.Shapes[name]
		if s == nil || len(s.Enum) == 0 {
			return nil, fmt.Errorf("enum extension of %s: no such enum shape", name)
		}
		s.Enum = append(s.Enum, values...)
	}
	for name, max := range listLimits {
		s := m.Shapes[name]
		if s == nil || s.Type != "list" {
			return nil, fmt.Errorf("list limit of %s: no such list shape", name)
		}
		s.Max = &max
	}
	for name, op := range m.Operations {
		if op.Input != nil && m.Shapes[op.Input.Shape] == nil {
			return nil, fmt.Errorf("operation %s: unknown input shape %s", name, op.Input.Shape)
		}
	}
	return &m, nil
}

// enumExtensions are the values kelb adds to the model's enums: its own
// request header transform types (internal/elb), which the ELBv2 API does
// not have.
var enumExtensions = map[string][]string{
	"TransformTypeEnum": {elb.TransformRequestHeaderSet, elb.TransformRequestHeaderAdd, elb.TransformRequestHeaderRemove},
}

// listLimits are the list lengths AWS documents for operations' inputs
// but the model leaves unbounded: names and ARNs per Describe call, and the
// resources of one tagging call. A longer list is a ValidationError, worded
// as for the model's own constraints.
var listLimits = map[string]float64{
	"LoadBalancerArns":  20,
	"LoadBalancerNames": 20,
	"TargetGroupArns":   20,
	"TargetGroupNames":  20,
	"ListenerArns":      20,
	"RuleArns":          20,
	"ResourceArns":      20,
	"SslPolicyNames":    20,
}

// Bounds of a ValidationError, so that its size does not grow with the
// request's: the violations listed, the members of a list shown, and the
// characters of a value shown.
const (
	maxListedViolations = 10
	maxShownListMembers = 10
	maxShownValueRunes  = 256
	// A list is shown whole (not cut as one value) with each of its
	// members cut to this.
	maxShownListMemberRunes = 64
)

func (m *apiModel) errorByCode(code string) (modelError, bool) {
	e, ok := m.errors[code]
	return e, ok
}

// HasOperation reports whether the ELBv2 model defines the operation.
func HasOperation(name string) bool {
	_, ok := serviceModel().Operations[name]
	return ok
}

// validateInput checks the request against the operation's input shape and
// returns a ValidationError listing every violation the way AWS words them,
// or nil.
func (m *apiModel) validateInput(op string, p Params) *Error {
	o, ok := m.Operations[op]
	if !ok || o.Input == nil {
		return nil
	}
	v := validator{m: m}
	v.structure(p, "", "", m.Shapes[o.Input.Shape])
	if len(v.errs) == 0 {
		return nil
	}
	noun := "errors"
	if len(v.errs) == 1 {
		noun = "error"
	}
	listed := v.errs
	more := ""
	if len(listed) > maxListedViolations {
		listed = listed[:maxListedViolations]
		more = fmt.Sprintf("; and %d more", len(v.errs)-maxListedViolations)
	}
	return ValidationError("%d validation %s detected: %s%s", len(v.errs), noun, strings.Join(listed, "; "), more)
}

type validator struct {
	m    *apiModel
	errs []string
}

func (v *validator) fail(value, path, constraint string) {
	v.errs = append(v.errs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

// quoteValue quotes a value for a message, cut to maxShownValueRunes.
func quoteValue(s string) string { return "'" + truncateRunes(s, maxShownValueRunes) + "'" }

// truncateRunes cuts s to at most n runes, marking the cut with "...".
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for i = range s {
		if count == n {
			break
		}
		count++
	}
	return s[:i] + "..."
}

func joinPath(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

// structure validates the members of s, whose query keys start with prefix
// (relative to p) and whose message paths start with path.
func (v *validator) structure(p Params, prefix, path string, s *shape) {
	for _, name := range s.memberNames {
		ref := s.Members[name]
		key := name
		if ref.LocationName != "" {
			key = ref.LocationName
		}
		v.value(p, prefix+key, joinPath(path, lowerFirst(name)), ref.Shape, s.required[name])
	}
}

// value validates the member at query key (relative to p) of shape name.
func (v *validator) value(p Params, key, path, name string, required bool) {
	s := v.m.Shapes[name]
	if s == nil {
		return
	}
	if !p.Has(key) {
		if required {
			v.fail("null", path, "Member must not be null")
		}
		return
	}
	switch s.Type {
	case "structure":
		v.structure(p, key+".", path, s)
	case "list":
		v.list(p, key, path, s)
	case "map":
		v.mapValue(p, key, path, s)
	default:
		raw, ok := p.lookup(key)
		if !ok {
			// Only nested keys (key.something) for a scalar: treat as absent.
			if required {
				v.fail("null", path, "Member must not be null")
			}
			return
		}
		v.scalar(raw, path, s)
	}
}

func (v *validator) scalar(raw, path string, s *shape) {
	switch s.Type {
	case "string":
		n := utf8.RuneCountInString(raw)
		if s.Min != nil && float64(n) < *s.Min {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have length greater than or equal to %s", formatBound(*s.Min)))
		}
		if s.Max != nil && float64(n) > *s.Max {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have length less than or equal to %s", formatBound(*s.Max)))
		}
		if len(s.Enum) > 0 && !containsString(s.Enum, raw) {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must satisfy enum value set: [%s]", strings.Join(s.Enum, ", ")))
		}
		if s.pattern != nil && !s.pattern.MatchString(raw) {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must satisfy regular expression pattern: %s", s.Pattern))
		}
	case "integer", "long":
		bits := 32
		if s.Type == "long" {
			bits = 64
		}
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, bits)
		if err != nil {
			v.fail(quoteValue(raw), path, "Member must be a number")
			return
		}
		if s.Min != nil && float64(n) < *s.Min {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have value greater than or equal to %s", formatBound(*s.Min)))
		}
		if s.Max != nil && float64(n) > *s.Max {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have value less than or equal to %s", formatBound(*s.Max)))
		}
	case "double", "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil || math.IsNaN(f) {
			v.fail(quoteValue(raw), path, "Member must be a number")
			return
		}
		if s.Min != nil && f < *s.Min {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have value greater than or equal to %s", formatBound(*s.Min)))
		}
		if s.Max != nil && f > *s.Max {
			v.fail(quoteValue(raw), path, fmt.Sprintf("Member must have value less than or equal to %s", formatBound(*s.Max)))
		}
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(raw)) {
		case "true", "false":
		default:
			v.fail(quoteValue(raw), path, "Member must be a boolean")
		}
	}
}

// badIndex returns the first key below prefix (relative to p) whose index,
// the segment after prefix, is not a list index: a decimal number from 1 to
// maxFormParams without leading zeros. indexed skips such keys, so without
// this check a list sent only as Names.member.99999999999999999999 would
// read as empty, which means "all" to the Describe operations.
func badIndex(p Params, prefix string) (string, bool) {
	for _, k := range p.keysWithPrefix(prefix) {
		head, _, _ := strings.Cut(k, ".")
		n, err := strconv.Atoi(head)
		if err != nil || n < 1 || n > maxFormParams || strconv.Itoa(n) != head {
			return prefix + k, true
		}
	}
	return "", false
}

func (v *validator) indexes(p Params, prefix, path string) {
	if bad, ok := badIndex(p, prefix); ok {
		v.fail(quoteValue(bad), path, fmt.Sprintf("Member must have list indexes from 1 to %d", maxFormParams))
	}
}

func (v *validator) list(p Params, key, path string, s *shape) {
	v.indexes(p, key+".member.", path)
	idx, _ := p.indexed(key + ".member.")
	if s.Min != nil && float64(len(idx)) < *s.Min {
		v.fail("'"+v.render(p, key, idx)+"'", path, fmt.Sprintf("Member must have length greater than or equal to %s", formatBound(*s.Min)))
	}
	if s.Max != nil && float64(len(idx)) > *s.Max {
		v.fail("'"+v.render(p, key, idx)+"'", path, fmt.Sprintf("Member must have length less than or equal to %s", formatBound(*s.Max)))
	}
	if s.Member == nil {
		return
	}
	for pos, n := range idx {
		itemKey := key + ".member." + strconv.Itoa(n)
		v.value(p, itemKey, fmt.Sprintf("%s.%d.member", path, pos+1), s.Member.Shape, true)
	}
}

// render shows a list value the way AWS echoes it: [a, b] for scalars.
func (v *validator) render(p Params, key string, idx []int) string {
	var items []string
	more := ""
	if len(idx) > maxShownListMembers {
		more = fmt.Sprintf(", ... (%d more)", len(idx)-maxShownListMembers)
		idx = idx[:maxShownListMembers]
	}
	for _, n := range idx {
		itemKey := key + ".member." + strconv.Itoa(n)
		if raw, ok := p.lookup(itemKey); ok {
			items = append(items, truncateRunes(raw, maxShownListMemberRunes))
		} else {
			items = append(items, "{...}")
		}
	}
	return "[" + strings.Join(items, ", ") + more + "]"
}

func (v *validator) mapValue(p Params, key, path string, s *shape) {
	v.indexes(p, key+".entry.", path)
	idx, _ := p.indexed(key + ".entry.")
	if s.Min != nil && float64(len(idx)) < *s.Min {
		v.fail("'{...}'", path, fmt.Sprintf("Member must have length greater than or equal to %s", formatBound(*s.Min)))
	}
	if s.Max != nil && float64(len(idx)) > *s.Max {
		v.fail("'{...}'", path, fmt.Sprintf("Member must have length less than or equal to %s", formatBound(*s.Max)))
	}
	for pos, n := range idx {
		entry := key + ".entry." + strconv.Itoa(n) + "."
		entryPath := fmt.Sprintf("%s.%d.entry", path, pos+1)
		if s.Key != nil {
			v.value(p, entry+"key", entryPath+".key", s.Key.Shape, true)
		}
		if s.Value != nil {
			v.value(p, entry+"value", entryPath+".value", s.Value.Shape, true)
		}
	}
}

func formatBound(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
