package gateway

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	awsv1 "github.com/kelb-io/kelb/api/gateway/v1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// ruleConfig is the ListenerRuleConfiguration of one route rule, checked.
type ruleConfig struct {
	namespace string
	spec      awsv1.ListenerRuleConfigurationSpec
}

// extensionRef is an ExtensionRef filter with its field path.
type extensionRef struct {
	ref   gatewayv1.LocalObjectReference
	field string
}

// httpExtensionRefs are the ExtensionRef filters of an HTTPRoute rule.
func httpExtensionRefs(filters []gatewayv1.HTTPRouteFilter, field string) []extensionRef {
	var out []extensionRef
	for i, f := range filters {
		if f.Type == gatewayv1.HTTPRouteFilterExtensionRef && f.ExtensionRef != nil {
			out = append(out, extensionRef{*f.ExtensionRef, fmt.Sprintf("%s.filters[%d].extensionRef", field, i)})
		}
	}
	return out
}

// grpcExtensionRefs are the ExtensionRef filters of a GRPCRoute rule.
func grpcExtensionRefs(filters []gatewayv1.GRPCRouteFilter, field string) []extensionRef {
	var out []extensionRef
	for i, f := range filters {
		if f.Type == gatewayv1.GRPCRouteFilterExtensionRef && f.ExtensionRef != nil {
			out = append(out, extensionRef{*f.ExtensionRef, fmt.Sprintf("%s.filters[%d].extensionRef", field, i)})
		}
	}
	return out
}

// ruleConfigRefs are the ListenerRuleConfigurations a route's
// ExtensionRef filters name (in the route's namespace).
func ruleConfigRefs(rt Route) []types.NamespacedName {
	var refs []extensionRef
	switch {
	case rt.HTTP != nil:
		for _, rule := range rt.HTTP.Spec.Rules {
			refs = append(refs, httpExtensionRefs(rule.Filters, "")...)
		}
	case rt.GRPC != nil:
		for _, rule := range rt.GRPC.Spec.Rules {
			refs = append(refs, grpcExtensionRefs(rule.Filters, "")...)
		}
	}
	var out []types.NamespacedName
	for _, r := range refs {
		if string(r.ref.Group) == GroupAWS && string(r.ref.Kind) == KindListenerRuleConfiguration {
			out = append(out, types.NamespacedName{Namespace: rt.Object().GetNamespace(), Name: string(r.ref.Name)})
		}
	}
	return out
}

// ruleConfigFor resolves and checks the ListenerRuleConfiguration a route
// rule's ExtensionRef filters name (nil: none); anything kelb cannot apply
// is an error naming the field.
func (b *builder) ruleConfigFor(r Route, refs []extensionRef, hasRedirect bool) (*ruleConfig, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	if len(refs) > 1 {
		return nil, fmt.Errorf("%s: a rule takes one %s, not %d", refs[1].field, KindListenerRuleConfiguration, len(refs))
	}
	ref := refs[0]
	if string(ref.ref.Group) != GroupAWS || string(ref.ref.Kind) != KindListenerRuleConfiguration {
		return nil, fmt.Errorf("%s: kind %s of group %q is not supported (%s of group %s only)", ref.field, ref.ref.Kind, ref.ref.Group, KindListenerRuleConfiguration, GroupAWS)
	}
	name := types.NamespacedName{Namespace: r.Object().GetNamespace(), Name: string(ref.ref.Name)}
	lrc := b.in.Config.RuleConfigs[name]
	if lrc == nil {
		return nil, fmt.Errorf("%s: %s %s not found", ref.field, KindListenerRuleConfiguration, name)
	}
	where := fmt.Sprintf("%s: %s %s", ref.field, KindListenerRuleConfiguration, name)
	seen := map[string]bool{}
	for i, a := range lrc.Spec.Actions {
		field := fmt.Sprintf("%s spec.actions[%d]", where, i)
		kind := a.Type
		if kind == model.AuthenticateOIDC || kind == model.AuthenticateCognito || kind == model.JWTValidation {
			kind = "authenticate"
		}
		if seen[kind] {
			return nil, fmt.Errorf("%s: a second %s action", field, a.Type)
		}
		seen[kind] = true
		if err := checkRuleAction(a, field, hasRedirect); err != nil {
			return nil, err
		}
	}
	for i, c := range lrc.Spec.Conditions {
		field := fmt.Sprintf("%s spec.conditions[%d]", where, i)
		if c.Field != "source-ip" || c.SourceIPConfig == nil || len(c.SourceIPConfig.Values) == 0 {
			return nil, fmt.Errorf("%s: a source-ip condition with sourceIPConfig.values is the one condition a %s adds", field, KindListenerRuleConfiguration)
		}
		for j, v := range c.SourceIPConfig.Values {
			if _, err := netip.ParsePrefix(v); err != nil {
				return nil, fmt.Errorf("%s.sourceIPConfig.values[%d]: %q is not a CIDR", field, j, v)
			}
		}
	}
	if lrc.Spec.Tags != nil && len(*lrc.Spec.Tags) > 0 {
		b.warn("%s spec.tags are ignored: kelb server does not tag listener rules", where)
	}
	return &ruleConfig{namespace: lrc.Namespace, spec: lrc.Spec}, nil
}

// checkRuleAction checks one action of a ListenerRuleConfiguration.
func checkRuleAction(a awsv1.RuleAction, field string, hasRedirect bool) error {
	switch a.Type {
	case model.ActionForward:
		if a.ForwardConfig == nil {
			return fmt.Errorf("%s.forwardConfig is required", field)
		}
		if s := a.ForwardConfig.TargetGroupStickinessConfig; s != nil && s.DurationSeconds != nil && (*s.DurationSeconds < 1 || *s.DurationSeconds > 604800) {
			return fmt.Errorf("%s.forwardConfig.targetGroupStickinessConfig.durationSeconds: %d is not within 1-604800", field, *s.DurationSeconds)
		}
	case model.ActionRedirect:
		if a.RedirectConfig == nil {
			return fmt.Errorf("%s.redirectConfig is required", field)
		}
		if !hasRedirect {
			return fmt.Errorf("%s: a redirect action adds to the rule's RequestRedirect filter, and the rule has none", field)
		}
	case model.ActionFixedResponse:
		f := a.FixedResponseConfig
		if f == nil {
			return fmt.Errorf("%s.fixedResponseConfig is required", field)
		}
		if c := f.StatusCode; c < 200 || c > 599 || (c >= 300 && c < 400) {
			return fmt.Errorf("%s.fixedResponseConfig.statusCode: %d is not a 2XX, 4XX or 5XX code", field, c)
		}
		if f.MessageBody != nil && len(*f.MessageBody) > 1024 {
			return fmt.Errorf("%s.fixedResponseConfig.messageBody: %d characters, at most 1024", field, len(*f.MessageBody))
		}
	case model.AuthenticateOIDC:
		o := a.AuthenticateOIDCConfig
		switch {
		case o == nil:
			return fmt.Errorf("%s.authenticateOIDCConfig is required", field)
		case o.Secret == nil || o.Secret.Name == "":
			return fmt.Errorf("%s.authenticateOIDCConfig.secret is required: the Secret holding clientID and clientSecret", field)
		case o.Issuer == "" || o.AuthorizationEndpoint == "" || o.TokenEndpoint == "" || o.UserInfoEndpoint == "":
			return fmt.Errorf("%s.authenticateOIDCConfig: issuer, authorizationEndpoint, tokenEndpoint and userInfoEndpoint are required", field)
		}
	case model.AuthenticateCognito:
		c := a.AuthenticateCognitoConfig
		if c == nil || c.UserPoolArn == "" || c.UserPoolClientID == "" || c.UserPoolDomain == "" {
			return fmt.Errorf("%s.authenticateCognitoConfig: userPoolArn, userPoolClientId and userPoolDomain are required", field)
		}
	case model.JWTValidation:
		j := a.JwtValidationConfig
		if j == nil || j.Issuer == "" || j.JwksEndpoint == "" {
			return fmt.Errorf("%s.jwtValidationConfig: issuer and jwksEndpoint are required", field)
		}
	default:
		return fmt.Errorf("%s.type: %q is not an action of a listener rule", field, a.Type)
	}
	return nil
}

// apply gives a rule (one match, index mi, of the route rule) the
// configuration's actions and conditions: a fixed response instead of the
// rule's action, stickiness on its forward, a query on its redirect, an
// authentication before it, and source-ip conditions on the matches they
// name.
func (rc *ruleConfig) apply(rule model.Rule, mi int) model.Rule {
	if rc == nil {
		return rule
	}
	for _, a := range rc.spec.Actions {
		switch a.Type {
		case model.ActionFixedResponse:
			f := a.FixedResponseConfig
			fr := &model.FixedResponseAction{StatusCode: strconv.Itoa(int(f.StatusCode))}
			if f.ContentType != nil {
				fr.ContentType = *f.ContentType
			}
			if f.MessageBody != nil {
				fr.MessageBody = *f.MessageBody
			}
			rule.Action = model.Action{Type: model.ActionFixedResponse, FixedResponse: fr, Authenticate: rule.Action.Authenticate}
		}
	}
	for _, a := range rc.spec.Actions {
		switch a.Type {
		case model.ActionForward:
			if s := a.ForwardConfig.TargetGroupStickinessConfig; rule.Action.Forward != nil && s != nil && s.Enabled != nil && *s.Enabled {
				fw := *rule.Action.Forward
				fw.StickinessSeconds = 3600 // ELBv2's default duration
				if s.DurationSeconds != nil {
					fw.StickinessSeconds = *s.DurationSeconds
				}
				rule.Action.Forward = &fw
			}
		case model.ActionRedirect:
			if rule.Action.Redirect != nil && a.RedirectConfig.Query != nil {
				rd := *rule.Action.Redirect
				rd.Query = *a.RedirectConfig.Query
				rule.Action.Redirect = &rd
			}
		case model.AuthenticateOIDC, model.AuthenticateCognito, model.JWTValidation:
			rule.Action.Authenticate = rc.authenticate(a)
		}
	}
	for _, c := range rc.spec.Conditions {
		if c.MatchIndexes == nil || slices.Contains(*c.MatchIndexes, mi) {
			rule.Conditions = append(slices.Clone(rule.Conditions), model.Condition{Field: "source-ip", Values: slices.Clone(c.SourceIPConfig.Values)})
		}
	}
	return rule
}

// authenticate is an authenticate action of the configuration in the
// model's terms; an OIDC client's Secret is in the configuration's
// namespace.
func (rc *ruleConfig) authenticate(a awsv1.RuleAction) *model.AuthenticateAction {
	out := &model.AuthenticateAction{Type: a.Type}
	common := func(scope, cookie, onUnauth *string, timeout *int64) {
		if scope != nil {
			out.Scope = *scope
		}
		if cookie != nil {
			out.SessionCookieName = *cookie
		}
		if onUnauth != nil {
			out.OnUnauthenticatedRequest = *onUnauth
		}
		if timeout != nil {
			out.SessionTimeout = *timeout
		}
	}
	switch a.Type {
	case model.AuthenticateOIDC:
		o := a.AuthenticateOIDCConfig
		out.OIDC = &model.OIDCAuth{Issuer: o.Issuer, AuthorizationEndpoint: o.AuthorizationEndpoint, TokenEndpoint: o.TokenEndpoint,
			UserInfoEndpoint: o.UserInfoEndpoint, Secret: rc.namespace + "/" + o.Secret.Name}
		if o.AuthenticationRequestExtraParams != nil {
			out.OIDC.ExtraParams = *o.AuthenticationRequestExtraParams
		}
		common(o.Scope, o.SessionCookieName, o.OnUnauthenticatedRequest, o.SessionTimeout)
	case model.AuthenticateCognito:
		c := a.AuthenticateCognitoConfig
		out.Cognito = &model.CognitoAuth{UserPoolARN: c.UserPoolArn, UserPoolClientID: c.UserPoolClientID, UserPoolDomain: c.UserPoolDomain}
		if c.AuthenticationRequestExtraParams != nil {
			out.Cognito.ExtraParams = *c.AuthenticationRequestExtraParams
		}
		common(c.Scope, c.SessionCookieName, c.OnUnauthenticatedRequest, c.SessionTimeout)
	case model.JWTValidation:
		j := a.JwtValidationConfig
		out.JWT = &model.JWTValidationAuth{Issuer: j.Issuer, JwksEndpoint: j.JwksEndpoint}
		for _, c := range j.AdditionalClaims {
			out.JWT.AdditionalClaims = append(out.JWT.AdditionalClaims, model.JWTClaim{Format: c.Format, Name: c.Name, Values: c.Values})
		}
	}
	return out
}
