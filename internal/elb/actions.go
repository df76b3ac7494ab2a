package elb

import (
	"cmp"
	"slices"
)

// Action types.
const (
	ActionForward             = "forward"
	ActionRedirect            = "redirect"
	ActionFixedResponse       = "fixed-response"
	ActionAuthenticateOidc    = "authenticate-oidc"
	ActionAuthenticateCognito = "authenticate-cognito"
	ActionJwtValidation       = "jwt-validation"
)

// Limits of actions.
const (
	maxForwardTargetGroups = 5
	// MaxActionOrder is the largest Order of an action (ActionOrder in
	// the model).
	MaxActionOrder = 50000
)

// IsAuthenticate reports whether an action type authenticates the request
// before the terminal action: authenticate-oidc, authenticate-cognito or
// jwt-validation.
func IsAuthenticate(actionType string) bool {
	switch actionType {
	case ActionAuthenticateOidc, ActionAuthenticateCognito, ActionJwtValidation:
		return true
	}
	return false
}

// IsTerminal reports whether an action type ends a request: forward,
// redirect or fixed-response.
func IsTerminal(actionType string) bool {
	switch actionType {
	case ActionForward, ActionRedirect, ActionFixedResponse:
		return true
	}
	return false
}

// ForwardTargetGroups returns the weighted target groups a forward action
// sends to: its ForwardConfig's groups, or else its TargetGroupARN with
// weight 1 (checkAction stores both forms, a hand-built action may have
// either). Any other action type forwards to none.
func (a Action) ForwardTargetGroups() []WeightedTargetGroup {
	if a.Type != ActionForward {
		return nil
	}
	if a.Forward != nil && len(a.Forward.TargetGroups) > 0 {
		return a.Forward.TargetGroups
	}
	if a.TargetGroupARN != "" {
		return []WeightedTargetGroup{{TargetGroupARN: a.TargetGroupARN, Weight: 1}}
	}
	return nil
}

// TargetGroupARNs returns the ARNs of the target groups actions forward
// to, in action order, each once.
func TargetGroupARNs(actions []Action) []string {
	var out []string
	for _, a := range actions {
		for _, t := range a.ForwardTargetGroups() {
			if !slices.Contains(out, t.TargetGroupARN) {
				out = append(out, t.TargetGroupARN)
			}
		}
	}
	return out
}

// checkActions validates and normalises the actions of a listener or rule
// with protocol on lb, as ELBv2 does: one action may leave Order out (it
// gets 1), several must each have a unique Order in 1..50000; exactly one
// terminal action (forward, redirect, fixed-response), the last by Order;
// at most one authenticate action, before it, and only on HTTPS listeners.
// The actions come back sorted by Order. A forward action gets both
// TargetGroupARN (one group) and a ForwardConfig with weights, as ELBv2
// describes them; authenticate actions get their defaults.
func (s *Service) checkActions(w *world, lb *LoadBalancer, protocol string, actions []Action) ([]Action, error) {
	if len(actions) == 0 {
		return nil, validationf("At least one action must be specified")
	}
	out := make([]Action, len(actions))
	copy(out, actions)
	if len(out) == 1 && out[0].Order == 0 {
		out[0].Order = 1
	}
	orders := map[int32]bool{}
	for _, a := range out {
		if a.Order == 0 {
			return nil, validationf("An action order must be specified for every action when a rule has more than one action")
		}
		if a.Order < 1 || a.Order > MaxActionOrder {
			return nil, validationf("Action order must be between 1 and %d", MaxActionOrder)
		}
		if orders[a.Order] {
			return nil, validationf("Action order '%d' is specified more than once; each action must have a unique order", a.Order)
		}
		orders[a.Order] = true
	}
	slices.SortStableFunc(out, func(a, b Action) int { return cmp.Compare(a.Order, b.Order) })

	terminals := 0
	for _, a := range out {
		if IsTerminal(a.Type) {
			terminals++
		}
	}
	if terminals > 1 {
		return nil, errorf(CodeTooManyActions, "A rule can have only one of the following actions: forward, redirect, fixed-response")
	}
	auths := 0
	for i, a := range out {
		switch {
		case IsTerminal(a.Type):
			if i != len(out)-1 {
				return nil, errorf(CodeInvalidLoadBalancerAction, "The action of type '%s' must be the last action; actions of type forward, redirect and fixed-response end a rule", a.Type)
			}
		case IsAuthenticate(a.Type):
			auths++
			if auths > 1 {
				return nil, errorf(CodeTooManyActions, "A rule can have only one of the following actions: authenticate-oidc, authenticate-cognito, jwt-validation")
			}
			if lb.Type != TypeApplication {
				return nil, errorf(CodeInvalidLoadBalancerAction, "Action type '%s' is only supported by application load balancers", a.Type)
			}
			if protocol != "HTTPS" {
				return nil, errorf(CodeInvalidLoadBalancerAction, "Action type '%s' is only supported on HTTPS listeners", a.Type)
			}
		}
	}
	if terminals == 0 {
		return nil, errorf(CodeInvalidLoadBalancerAction, "The last action must be one of the following: forward, redirect, fixed-response")
	}
	for i := range out {
		a, err := s.checkAction(w, lb, protocol, out[i])
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// checkModifiedActions checks the actions that replace prev in a Modify
// request: an authenticate-oidc action with UseExistingClientSecret keeps
// prev's client secret.
func (s *Service) checkModifiedActions(w *world, lb *LoadBalancer, protocol string, actions, prev []Action) ([]Action, error) {
	next := cloneActions(actions)
	if err := keepClientSecrets(next, prev); err != nil {
		return nil, err
	}
	return s.checkActions(w, lb, protocol, next)
}

// checkAction validates and normalises one action.
func (s *Service) checkAction(w *world, lb *LoadBalancer, protocol string, a Action) (Action, error) {
	switch a.Type {
	case ActionForward:
		var tgs []WeightedTargetGroup
		if a.Forward != nil {
			tgs = append(tgs, a.Forward.TargetGroups...)
		}
		if a.TargetGroupARN != "" {
			if len(tgs) > 0 && (len(tgs) != 1 || tgs[0].TargetGroupARN != a.TargetGroupARN) {
				return a, validationf("You cannot specify both a target group ARN and a different forward configuration")
			}
			if len(tgs) == 0 {
				tgs = []WeightedTargetGroup{{TargetGroupARN: a.TargetGroupARN, Weight: 1}}
			}
		}
		if len(tgs) == 0 {
			return a, validationf("A target group ARN must be specified for a forward action")
		}
		max := maxForwardTargetGroups
		if lb.Type == TypeNetwork {
			max = 1
		}
		if len(tgs) > max {
			return a, errorf(CodeInvalidLoadBalancerAction, "A forward action of a %s load balancer can have at most %d target groups", lb.Type, max)
		}
		seen := map[string]bool{}
		for _, wt := range tgs {
			tg, ok := w.tgs[wt.TargetGroupARN]
			if !ok {
				return a, errorf(CodeTargetGroupNotFound, "Target group '%s' not found", wt.TargetGroupARN)
			}
			if seen[tg.ARN] {
				return a, validationf("Target group '%s' is specified more than once", tg.ARN)
			}
			seen[tg.ARN] = true
			if !slices.Contains(forwardProtocols[protocol], tg.Protocol) {
				return a, errorf(CodeIncompatibleProtocols, "Listener protocol '%s' is not compatible with target group protocol '%s'", protocol, tg.Protocol)
			}
			if err := checkForwardAddressType(lb, protocol, tg); err != nil {
				return a, err
			}
			for _, other := range w.loadBalancersOf(tg.ARN) {
				if other != lb.ARN {
					return a, errorf(CodeTargetGroupAssociationLimit, "The target group '%s' is already associated with load balancer '%s'", tg.ARN, other)
				}
			}
			if wt.Weight < 0 || wt.Weight > 999 {
				return a, validationf("Target group weight must be between 0 and 999")
			}
		}
		// Weights left out all read as zero; ELBv2 gives every group
		// weight 1 then.
		if !slices.ContainsFunc(tgs, func(t WeightedTargetGroup) bool { return t.Weight != 0 }) {
			for i := range tgs {
				tgs[i].Weight = 1
			}
		}
		fc := ForwardConfig{TargetGroups: tgs}
		if a.Forward != nil {
			fc.StickinessEnabled = a.Forward.StickinessEnabled
			fc.StickinessDurationSeconds = a.Forward.StickinessDurationSeconds
			fc.StickinessDurationExplicit = a.Forward.StickinessDurationExplicit
		}
		only := Action{Type: a.Type, Order: a.Order, Forward: &fc}
		if len(tgs) == 1 {
			only.TargetGroupARN = tgs[0].TargetGroupARN
		}
		return only, nil
	case ActionRedirect:
		if lb.Type != TypeApplication {
			return a, errorf(CodeInvalidLoadBalancerAction, "Redirect actions are only supported by application load balancers")
		}
		if a.Redirect == nil || (a.Redirect.StatusCode != "HTTP_301" && a.Redirect.StatusCode != "HTTP_302") {
			return a, validationf("A redirect action needs a redirect configuration with status code HTTP_301 or HTTP_302")
		}
		return Action{Type: a.Type, Order: a.Order, Redirect: a.Redirect}, nil
	case ActionFixedResponse:
		if lb.Type != TypeApplication {
			return a, errorf(CodeInvalidLoadBalancerAction, "Fixed-response actions are only supported by application load balancers")
		}
		if err := checkFixedResponse(a.FixedResponse); err != nil {
			return a, err
		}
		return Action{Type: a.Type, Order: a.Order, FixedResponse: a.FixedResponse}, nil
	case ActionAuthenticateOidc:
		c, err := s.checkOidc(a.AuthenticateOidc)
		return Action{Type: a.Type, Order: a.Order, AuthenticateOidc: c}, err
	case ActionAuthenticateCognito:
		c, err := s.checkCognito(a.AuthenticateCognito)
		return Action{Type: a.Type, Order: a.Order, AuthenticateCognito: c}, err
	case ActionJwtValidation:
		c, err := checkJwtValidation(a.JwtValidation)
		return Action{Type: a.Type, Order: a.Order, JwtValidation: c}, err
	}
	return a, errorf(CodeInvalidLoadBalancerAction, "Action type '%s' is not supported by kelb", a.Type)
}

// cloneActions returns a deep copy of actions.
func cloneActions(actions []Action) []Action {
	out := make([]Action, len(actions))
	for i, a := range actions {
		out[i] = a
		if a.Forward != nil {
			f := *a.Forward
			f.TargetGroups = append([]WeightedTargetGroup(nil), f.TargetGroups...)
			out[i].Forward = &f
		}
		if a.Redirect != nil {
			r := *a.Redirect
			out[i].Redirect = &r
		}
		if a.FixedResponse != nil {
			f := *a.FixedResponse
			out[i].FixedResponse = &f
		}
		if a.AuthenticateOidc != nil {
			c := *a.AuthenticateOidc
			c.AuthenticationRequestExtraParams = cloneMap(c.AuthenticationRequestExtraParams)
			out[i].AuthenticateOidc = &c
		}
		if a.AuthenticateCognito != nil {
			c := *a.AuthenticateCognito
			c.AuthenticationRequestExtraParams = cloneMap(c.AuthenticationRequestExtraParams)
			out[i].AuthenticateCognito = &c
		}
		if a.JwtValidation != nil {
			c := *a.JwtValidation
			c.AdditionalClaims = nil
			for _, cl := range a.JwtValidation.AdditionalClaims {
				cl.Values = slices.Clone(cl.Values)
				c.AdditionalClaims = append(c.AdditionalClaims, cl)
			}
			out[i].JwtValidation = &c
		}
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
