package ingress

import (
	"reflect"
	"slices"
	"sort"
)

// ActualRule is an existing, non-default rule of a listener, its action's
// target groups given by ARN.
type ActualRule struct {
	ARN        string
	Priority   int32
	Conditions []Condition
	Action     Action
	Transforms []Transform
}

// RuleChange modifies an existing rule's conditions and action in place.
type RuleChange struct {
	ARN  string
	Rule Rule
}

// RulePriorityChange moves an existing rule to a new priority.
type RulePriorityChange struct {
	ARN      string
	Priority int32
}

// RulePlan is what makes a listener's rules the desired ones, in the order
// deploy runs it: deletions free priorities, SetRulePriorities moves the
// rules that only changed place, modifications rewrite rules that keep
// their priority, and creations fill what is left.
type RulePlan struct {
	Delete     []string
	Priorities []RulePriorityChange
	Modify     []RuleChange
	Create     []Rule
}

// Empty reports whether the plan changes nothing.
func (p RulePlan) Empty() bool {
	return len(p.Delete) == 0 && len(p.Priorities) == 0 && len(p.Modify) == 0 && len(p.Create) == 0
}

// PlanRules diffs a listener's desired rules (actions resolved to ARNs)
// against its existing ones. An existing rule is kept when one desired rule
// has the same priority and content; otherwise it is moved when some
// desired rule has its content at another priority (one SetRulePriorities
// call, no new rule); otherwise rewritten when a desired rule wants its
// priority; otherwise deleted.
func PlanRules(desired []Rule, actual []ActualRule) RulePlan {
	var p RulePlan
	wantDone := make([]bool, len(desired))
	haveDone := make([]bool, len(actual))
	// Same priority, same content: nothing to do.
	for i, want := range desired {
		for j, have := range actual {
			if !haveDone[j] && have.Priority == want.Priority && sameRule(want, have) {
				wantDone[i], haveDone[j] = true, true
				break
			}
		}
	}
	// Same content elsewhere: move.
	for i, want := range desired {
		if wantDone[i] {
			continue
		}
		for j, have := range actual {
			if !haveDone[j] && sameRule(want, have) {
				wantDone[i], haveDone[j] = true, true
				p.Priorities = append(p.Priorities, RulePriorityChange{ARN: have.ARN, Priority: want.Priority})
				break
			}
		}
	}
	// Same priority, other content: modify.
	for i, want := range desired {
		if wantDone[i] {
			continue
		}
		for j, have := range actual {
			if !haveDone[j] && have.Priority == want.Priority {
				wantDone[i], haveDone[j] = true, true
				p.Modify = append(p.Modify, RuleChange{ARN: have.ARN, Rule: want})
				break
			}
		}
	}
	for i, want := range desired {
		if !wantDone[i] {
			p.Create = append(p.Create, want)
		}
	}
	for j, have := range actual {
		if !haveDone[j] {
			p.Delete = append(p.Delete, have.ARN)
		}
	}
	sort.Slice(p.Priorities, func(i, j int) bool { return p.Priorities[i].Priority < p.Priorities[j].Priority })
	return p
}

func sameRule(want Rule, have ActualRule) bool {
	return sameConditions(want.Conditions, have.Conditions) && SameAction(want.Action, have.Action) &&
		sameTransforms(want.Transforms, have.Transforms)
}

func sameTransforms(a, b []Transform) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	norm := func(ts []Transform) []Transform {
		out := slices.Clone(ts)
		sort.SliceStable(out, func(i, j int) bool { return out[i].Type < out[j].Type })
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func sameConditions(a, b []Condition) bool {
	if len(a) != len(b) {
		return false
	}
	norm := func(cs []Condition) []Condition {
		out := slices.Clone(cs)
		for i := range out {
			if len(out[i].Values) == 0 {
				out[i].Values = nil
			}
			if len(out[i].QueryPairs) == 0 {
				out[i].QueryPairs = nil
			}
			if len(out[i].RegexValues) == 0 {
				out[i].RegexValues = nil
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// SameAction compares two actions whose target groups are given by ARN,
// reading unset redirect parts as the request's (ALB's defaults).
func SameAction(a, b Action) bool {
	return reflect.DeepEqual(normalAction(a), normalAction(b))
}

func normalAction(a Action) Action {
	if a.Authenticate != nil {
		// The API never describes a client secret.
		auth := *a.Authenticate
		if auth.OIDC != nil {
			o := *auth.OIDC
			o.ClientSecret, o.Secret = "", ""
			if len(o.ExtraParams) == 0 {
				o.ExtraParams = nil
			}
			auth.OIDC = &o
		}
		if auth.Cognito != nil && len(auth.Cognito.ExtraParams) == 0 {
			c := *auth.Cognito
			c.ExtraParams = nil
			auth.Cognito = &c
		}
		a.Authenticate = &auth
	}
	if r := a.Redirect; r != nil {
		n := *r
		def := func(s *string, d string) {
			if *s == "" {
				*s = d
			}
		}
		def(&n.Protocol, "#{protocol}")
		def(&n.Port, "#{port}")
		def(&n.Host, "#{host}")
		def(&n.Path, "/#{path}")
		def(&n.Query, "#{query}")
		a.Redirect = &n
	}
	if f := a.Forward; f != nil {
		n := *f
		n.TargetGroups = slices.Clone(f.TargetGroups)
		for i := range n.TargetGroups {
			n.TargetGroups[i].TargetGroup = ""
		}
		a.Forward = &n
	}
	return a
}
