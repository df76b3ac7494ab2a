package elb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb/store"
)

// Rule condition fields.
var conditionFields = []string{"host-header", "path-pattern", "http-header", "http-request-method", "query-string", "source-ip"}

// CreateRuleInput is the input of CreateRule.
type CreateRuleInput struct {
	ListenerARN string
	Priority    int32
	Conditions  []RuleCondition
	Actions     []Action
	Transforms  []RuleTransform
	Tags        []Tag
}

// ModifyRuleInput is the input of ModifyRule; empty fields keep their value.
// Transforms replace the rule's transforms; ResetTransforms removes them.
type ModifyRuleInput struct {
	RuleARN         string
	Conditions      []RuleCondition
	Actions         []Action
	Transforms      []RuleTransform
	ResetTransforms bool
}

// RulePriority sets the priority of one rule in SetRulePriorities.
type RulePriority struct {
	RuleARN  string
	Priority int32
}

func checkConditions(conds []RuleCondition) error {
	if len(conds) == 0 {
		return validationf("At least one condition must be specified")
	}
	for _, c := range conds {
		if !slices.Contains(conditionFields, c.Field) {
			return validationf("Condition field '%s' is not valid", c.Field)
		}
		if len(c.Values) == 0 && len(c.QueryPairs) == 0 && len(c.RegexValues) == 0 {
			return validationf("A condition value must be specified for field '%s'", c.Field)
		}
		if c.Field == "http-header" && c.HeaderName == "" {
			return validationf("An HTTP header name must be specified for an http-header condition")
		}
	}
	if err := checkConditionLimits(conds); err != nil {
		return err
	}
	return checkConditionQuotas(conds)
}

// ruleListener returns the listener and load balancer a rule belongs to,
// checking that the listener can have rules.
func ruleListener(w *world, arn string) (*Listener, *LoadBalancer, error) {
	l, ok := w.listeners[arn]
	if !ok {
		return nil, nil, errorf(CodeListenerNotFound, "Listener '%s' not found", arn)
	}
	lb, ok := w.lbs[l.LoadBalancerARN]
	if !ok {
		return nil, nil, errorf(CodeLoadBalancerNotFound, "Load balancer '%s' not found", l.LoadBalancerARN)
	}
	if lb.Type != TypeApplication {
		return nil, nil, errorf(CodeInvalidConfigurationRequest, "Listener '%s' is not a listener of an application load balancer and cannot have rules", arn)
	}
	return l, lb, nil
}

// defaultRuleARN is the ARN of a listener's default rule, derived from the
// listener's so that it is stable without being stored.
func defaultRuleARN(listenerARN string) string {
	sum := sha256.Sum256([]byte(listenerARN))
	return strings.Replace(listenerARN, ":listener/", ":listener-rule/", 1) + "/" + hex.EncodeToString(sum[:8])
}

// CreateRule adds a rule to an application load balancer's listener.
func (s *Service) CreateRule(ctx context.Context, in CreateRuleInput) (Rule, error) {
	if in.Priority < 1 || in.Priority > 50000 {
		return Rule{}, validationf("Priority must be between 1 and 50000")
	}
	if err := checkConditions(in.Conditions); err != nil {
		return Rule{}, err
	}
	if err := checkTransforms(in.Transforms); err != nil {
		return Rule{}, err
	}
	if err := checkNewTags(in.Tags); err != nil {
		return Rule{}, err
	}
	var out Rule
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		l, lb, err := ruleListener(w, in.ListenerARN)
		if err != nil {
			return err
		}
		prio := strconv.Itoa(int(in.Priority))
		n := 0
		for _, r := range w.rules {
			if rl, ok := w.listeners[r.ListenerARN]; ok && rl.LoadBalancerARN == lb.ARN {
				n++
			}
			if r.ListenerARN == l.ARN && r.Priority == prio {
				return errorf(CodePriorityInUse, "Priority '%s' is currently in use", prio)
			}
		}
		if n >= MaxRulesPerLoadBalancer {
			return errorf("TooManyRules", "Load balancer '%s' has %d rules already; the limit is %d", lb.ARN, n, MaxRulesPerLoadBalancer)
		}
		actions, err := s.checkActions(w, lb, l.Protocol, cloneActions(in.Actions))
		if err != nil {
			return err
		}
		r := Rule{
			ARN:         strings.Replace(l.ARN, ":listener/", ":listener-rule/", 1) + "/" + newID(),
			ListenerARN: l.ARN,
			Priority:    prio,
			Conditions:  in.Conditions,
			Actions:     actions,
			Transforms:  cloneTransforms(in.Transforms),
			Tags:        in.Tags,
		}
		out = r
		if err := putJSON(tx, kindRule, r.ARN, r); err != nil {
			return err
		}
		return checkLoadBalancerQuotas(tx, lb.ARN)
	})
	if err != nil {
		return Rule{}, fmt.Errorf("create rule on %s: %w", in.ListenerARN, err)
	}
	return out, nil
}

// DescribeRulesInput selects rules by listener or by ARN.
type DescribeRulesInput struct {
	ListenerARN string
	RuleARNs    []string
}

// DescribeRules returns the selected rules by priority, the listener's
// default rule (built from its default actions) last.
func (s *Service) DescribeRules(ctx context.Context, in DescribeRulesInput) ([]Rule, error) {
	if (in.ListenerARN == "") == (len(in.RuleARNs) == 0) {
		return nil, validationf("You must specify either a listener ARN or rule ARNs")
	}
	var out []Rule
	err := s.cfg.Store.View(ctx, func(tx store.ReadTx) error {
		w, err := s.readWorld(tx)
		if err != nil {
			return err
		}
		// defaultRule is the default rule of listener arn, built from a
		// copy of its default actions.
		defaultRule := func(arn string) (Rule, error) {
			l, err := detach[Listener](w, arn)
			if err != nil {
				return Rule{}, err
			}
			return Rule{ARN: defaultRuleARN(l.ARN), ListenerARN: l.ARN, Priority: "default", Actions: l.DefaultActions, IsDefault: true}, nil
		}
		if in.ListenerARN != "" {
			l, ok := w.listeners[in.ListenerARN]
			if !ok {
				return errorf(CodeListenerNotFound, "Listener '%s' not found", in.ListenerARN)
			}
			for _, r := range w.rules {
				if r.ListenerARN == l.ARN {
					c, err := detach[Rule](w, r.ARN)
					if err != nil {
						return err
					}
					out = append(out, c)
				}
			}
			slices.SortFunc(out, func(a, b Rule) int { return rulePriority(a) - rulePriority(b) })
			d, err := defaultRule(l.ARN)
			if err != nil {
				return err
			}
			out = append(out, d)
			return nil
		}
		defaults := map[string]string{} // default rule ARN -> listener ARN
		for _, l := range w.listeners {
			defaults[defaultRuleARN(l.ARN)] = l.ARN
		}
		for _, arn := range in.RuleARNs {
			var r Rule
			var err error
			if _, ok := w.rules[arn]; ok {
				r, err = detach[Rule](w, arn)
			} else if l, ok := defaults[arn]; ok {
				r, err = defaultRule(l)
			} else {
				return errorf(CodeRuleNotFound, "Rule '%s' not found", arn)
			}
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("describe rules: %w", err)
	}
	return out, nil
}

func rulePriority(r Rule) int {
	n, err := strconv.Atoi(r.Priority)
	if err != nil {
		return 1 << 30
	}
	return n
}

// ModifyRule replaces a rule's conditions or actions. Modifying the default
// rule's actions modifies its listener's default actions.
func (s *Service) ModifyRule(ctx context.Context, in ModifyRuleInput) (Rule, error) {
	if len(in.Conditions) > 0 {
		if err := checkConditions(in.Conditions); err != nil {
			return Rule{}, err
		}
	}
	if in.ResetTransforms && len(in.Transforms) > 0 {
		return Rule{}, validationf("You cannot specify both Transforms and ResetTransforms")
	}
	if err := checkTransforms(in.Transforms); err != nil {
		return Rule{}, err
	}
	var out Rule
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		r, ok := w.rules[in.RuleARN]
		if !ok {
			for _, l := range w.listeners {
				if defaultRuleARN(l.ARN) != in.RuleARN {
					continue
				}
				if len(in.Conditions) > 0 {
					return errorf(CodeOperationNotPermitted, "The conditions of a default rule cannot be modified")
				}
				if len(in.Transforms) > 0 {
					return errorf(CodeOperationNotPermitted, "A default rule cannot have transforms")
				}
				_, lb, err := ruleListener(w, l.ARN)
				if err != nil {
					return err
				}
				if len(in.Actions) > 0 {
					delete(w.listeners, l.ARN)
					actions, err := s.checkModifiedActions(w, lb, l.Protocol, in.Actions, l.DefaultActions)
					if err != nil {
						return err
					}
					l.DefaultActions = actions
				}
				out = Rule{ARN: in.RuleARN, ListenerARN: l.ARN, Priority: "default", Actions: l.DefaultActions, IsDefault: true}
				if err := putJSON(tx, kindListener, l.ARN, l); err != nil {
					return err
				}
				return checkLoadBalancerQuotas(tx, lb.ARN)
			}
			return errorf(CodeRuleNotFound, "Rule '%s' not found", in.RuleARN)
		}
		l, lb, err := ruleListener(w, r.ListenerARN)
		if err != nil {
			return err
		}
		if len(in.Conditions) > 0 {
			r.Conditions = in.Conditions
		}
		switch {
		case in.ResetTransforms:
			r.Transforms = nil
		case len(in.Transforms) > 0:
			r.Transforms = cloneTransforms(in.Transforms)
		}
		if len(in.Actions) > 0 {
			delete(w.rules, r.ARN)
			actions, err := s.checkModifiedActions(w, lb, l.Protocol, in.Actions, r.Actions)
			if err != nil {
				return err
			}
			r.Actions = actions
		}
		out = *r
		if err := putJSON(tx, kindRule, r.ARN, r); err != nil {
			return err
		}
		return checkLoadBalancerQuotas(tx, lb.ARN)
	})
	if err != nil {
		return Rule{}, fmt.Errorf("modify rule %s: %w", in.RuleARN, err)
	}
	return out, nil
}

// DeleteRule deletes a rule; the default rule cannot be deleted.
func (s *Service) DeleteRule(ctx context.Context, arn string) error {
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		if _, ok := w.rules[arn]; !ok {
			for _, l := range w.listeners {
				if defaultRuleARN(l.ARN) == arn {
					return errorf(CodeOperationNotPermitted, "The default rule of a listener cannot be deleted")
				}
			}
			return errorf(CodeRuleNotFound, "Rule '%s' not found", arn)
		}
		return tx.Delete(kindRule, arn)
	})
	if err != nil {
		return fmt.Errorf("delete rule %s: %w", arn, err)
	}
	return nil
}

// SetRulePriorities changes the priorities of rules of one listener at once.
func (s *Service) SetRulePriorities(ctx context.Context, prios []RulePriority) ([]Rule, error) {
	if len(prios) == 0 {
		return nil, validationf("At least one rule priority must be specified")
	}
	var out []Rule
	err := s.cfg.Store.Update(ctx, func(tx store.Tx) error {
		w, err := loadWorld(tx)
		if err != nil {
			return err
		}
		listener := ""
		changed := map[string]string{}
		for _, p := range prios {
			r, ok := w.rules[p.RuleARN]
			if !ok {
				return errorf(CodeRuleNotFound, "Rule '%s' not found", p.RuleARN)
			}
			if listener != "" && r.ListenerARN != listener {
				return validationf("All rules must belong to the same listener")
			}
			listener = r.ListenerARN
			if p.Priority < 1 || p.Priority > 50000 {
				return validationf("Priority must be between 1 and 50000")
			}
			changed[r.ARN] = strconv.Itoa(int(p.Priority))
		}
		used := map[string]string{}
		for _, r := range w.rules {
			if r.ListenerARN != listener {
				continue
			}
			prio := r.Priority
			if p, ok := changed[r.ARN]; ok {
				prio = p
			}
			if other, ok := used[prio]; ok && other != r.ARN {
				return errorf(CodePriorityInUse, "Priority '%s' is currently in use", prio)
			}
			used[prio] = r.ARN
		}
		for _, p := range prios {
			r := w.rules[p.RuleARN]
			r.Priority = changed[r.ARN]
			if err := putJSON(tx, kindRule, r.ARN, r); err != nil {
				return err
			}
			out = append(out, *r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("set rule priorities: %w", err)
	}
	return out, nil
}
