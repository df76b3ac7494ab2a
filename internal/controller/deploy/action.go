package deploy

import (
	"cmp"
	"reflect"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kelb-io/kelb/internal/controller/model"
)

// sdkActions is a as the API takes it: its authenticate action (order 1)
// then the action itself, or the action alone (order 1). A network load
// balancer's (lbType) forward to one target group names it alone, by
// TargetGroupArn.
func sdkActions(a model.Action, lbType string) []types.Action {
	if arn := singleARN(a); lbType == model.TypeNetwork && arn != "" {
		return []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}}
	}
	last := sdkAction(a)
	auth := a.Authenticate
	if auth == nil {
		return []types.Action{last}
	}
	first := types.Action{Type: types.ActionTypeEnum(auth.Type), Order: aws.Int32(1)}
	switch {
	case auth.OIDC != nil:
		o := auth.OIDC
		first.AuthenticateOidcConfig = &types.AuthenticateOidcActionConfig{
			Issuer: aws.String(o.Issuer), AuthorizationEndpoint: aws.String(o.AuthorizationEndpoint),
			TokenEndpoint: aws.String(o.TokenEndpoint), UserInfoEndpoint: aws.String(o.UserInfoEndpoint),
			ClientId: aws.String(o.ClientID), ClientSecret: aws.String(o.ClientSecret),
			AuthenticationRequestExtraParams: o.ExtraParams,
			Scope:                            aws.String(auth.Scope), SessionCookieName: aws.String(auth.SessionCookieName),
			SessionTimeout:           aws.Int64(auth.SessionTimeout),
			OnUnauthenticatedRequest: types.AuthenticateOidcActionConditionalBehaviorEnum(auth.OnUnauthenticatedRequest),
		}
	case auth.Cognito != nil:
		c := auth.Cognito
		first.AuthenticateCognitoConfig = &types.AuthenticateCognitoActionConfig{
			UserPoolArn: aws.String(c.UserPoolARN), UserPoolClientId: aws.String(c.UserPoolClientID),
			UserPoolDomain: aws.String(c.UserPoolDomain), AuthenticationRequestExtraParams: c.ExtraParams,
			Scope: aws.String(auth.Scope), SessionCookieName: aws.String(auth.SessionCookieName),
			SessionTimeout:           aws.Int64(auth.SessionTimeout),
			OnUnauthenticatedRequest: types.AuthenticateCognitoActionConditionalBehaviorEnum(auth.OnUnauthenticatedRequest),
		}
	case auth.JWT != nil:
		j := auth.JWT
		jc := &types.JwtValidationActionConfig{JwksEndpoint: aws.String(j.JwksEndpoint), Issuer: aws.String(j.Issuer)}
		for _, c := range j.AdditionalClaims {
			jc.AdditionalClaims = append(jc.AdditionalClaims, types.JwtValidationActionAdditionalClaim{
				Format: types.JwtValidationActionAdditionalClaimFormatEnum(c.Format), Name: aws.String(c.Name), Values: c.Values})
		}
		first.JwtValidationConfig = jc
	}
	last.Order = aws.Int32(2)
	return []types.Action{first, last}
}

// fromSDKActions reads described actions back: the last by order is the
// action, an authenticate action before it its Authenticate.
func fromSDKActions(as []types.Action) model.Action {
	if len(as) == 0 {
		return model.Action{}
	}
	sorted := slices.Clone(as)
	slices.SortStableFunc(sorted, func(a, b types.Action) int { return cmp.Compare(aws.ToInt32(a.Order), aws.ToInt32(b.Order)) })
	out := fromSDKAction(sorted[len(sorted)-1])
	for _, a := range sorted[:len(sorted)-1] {
		switch {
		case a.AuthenticateOidcConfig != nil:
			o := a.AuthenticateOidcConfig
			out.Authenticate = &model.AuthenticateAction{Type: string(a.Type),
				OIDC: &model.OIDCAuth{Issuer: aws.ToString(o.Issuer), AuthorizationEndpoint: aws.ToString(o.AuthorizationEndpoint),
					TokenEndpoint: aws.ToString(o.TokenEndpoint), UserInfoEndpoint: aws.ToString(o.UserInfoEndpoint),
					ClientID: aws.ToString(o.ClientId), ExtraParams: o.AuthenticationRequestExtraParams},
				Scope: aws.ToString(o.Scope), SessionCookieName: aws.ToString(o.SessionCookieName),
				SessionTimeout: aws.ToInt64(o.SessionTimeout), OnUnauthenticatedRequest: string(o.OnUnauthenticatedRequest)}
		case a.AuthenticateCognitoConfig != nil:
			c := a.AuthenticateCognitoConfig
			out.Authenticate = &model.AuthenticateAction{Type: string(a.Type),
				Cognito: &model.CognitoAuth{UserPoolARN: aws.ToString(c.UserPoolArn), UserPoolClientID: aws.ToString(c.UserPoolClientId),
					UserPoolDomain: aws.ToString(c.UserPoolDomain), ExtraParams: c.AuthenticationRequestExtraParams},
				Scope: aws.ToString(c.Scope), SessionCookieName: aws.ToString(c.SessionCookieName),
				SessionTimeout: aws.ToInt64(c.SessionTimeout), OnUnauthenticatedRequest: string(c.OnUnauthenticatedRequest)}
		case a.JwtValidationConfig != nil:
			j := a.JwtValidationConfig
			jw := &model.JWTValidationAuth{JwksEndpoint: aws.ToString(j.JwksEndpoint), Issuer: aws.ToString(j.Issuer)}
			for _, c := range j.AdditionalClaims {
				jw.AdditionalClaims = append(jw.AdditionalClaims, model.JWTClaim{Format: string(c.Format), Name: aws.ToString(c.Name), Values: c.Values})
			}
			out.Authenticate = &model.AuthenticateAction{Type: string(a.Type), JWT: jw}
		}
	}
	return out
}

// sdkAction is a with its target groups given by ARN, as the API takes it.
func sdkAction(a model.Action) types.Action {
	out := types.Action{Type: types.ActionTypeEnum(a.Type), Order: aws.Int32(1)}
	switch {
	case a.Forward != nil:
		fc := &types.ForwardActionConfig{}
		for _, wt := range a.Forward.TargetGroups {
			fc.TargetGroups = append(fc.TargetGroups, types.TargetGroupTuple{TargetGroupArn: aws.String(wt.ARN), Weight: aws.Int32(wt.Weight)})
		}
		if a.Forward.StickinessSeconds > 0 {
			fc.TargetGroupStickinessConfig = &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(a.Forward.StickinessSeconds)}
		}
		out.ForwardConfig = fc
	case a.Redirect != nil:
		r := a.Redirect
		out.RedirectConfig = &types.RedirectActionConfig{
			StatusCode: types.RedirectActionStatusCodeEnum(r.StatusCode),
			Protocol:   optional(r.Protocol), Port: optional(r.Port), Host: optional(r.Host), Path: optional(r.Path), Query: optional(r.Query),
		}
	case a.FixedResponse != nil:
		f := a.FixedResponse
		out.FixedResponseConfig = &types.FixedResponseActionConfig{StatusCode: aws.String(f.StatusCode), ContentType: optional(f.ContentType), MessageBody: optional(f.MessageBody)}
	}
	return out
}

func fromSDKAction(a types.Action) model.Action {
	out := model.Action{Type: string(a.Type)}
	switch {
	case a.Type == types.ActionTypeEnumForward:
		f := &model.ForwardAction{}
		if a.ForwardConfig != nil {
			for _, t := range a.ForwardConfig.TargetGroups {
				f.TargetGroups = append(f.TargetGroups, model.WeightedTargetGroup{ARN: aws.ToString(t.TargetGroupArn), Weight: aws.ToInt32(t.Weight)})
			}
			if s := a.ForwardConfig.TargetGroupStickinessConfig; s != nil && aws.ToBool(s.Enabled) {
				f.StickinessSeconds = aws.ToInt32(s.DurationSeconds)
			}
		}
		if len(f.TargetGroups) == 0 && a.TargetGroupArn != nil {
			f.TargetGroups = []model.WeightedTargetGroup{{ARN: *a.TargetGroupArn, Weight: 1}}
		}
		out.Forward = f
	case a.RedirectConfig != nil:
		r := a.RedirectConfig
		out.Redirect = &model.RedirectAction{
			StatusCode: string(r.StatusCode), Protocol: aws.ToString(r.Protocol), Port: aws.ToString(r.Port),
			Host: aws.ToString(r.Host), Path: aws.ToString(r.Path), Query: aws.ToString(r.Query),
		}
	case a.FixedResponseConfig != nil:
		f := a.FixedResponseConfig
		out.FixedResponse = &model.FixedResponseAction{StatusCode: aws.ToString(f.StatusCode), ContentType: aws.ToString(f.ContentType), MessageBody: aws.ToString(f.MessageBody)}
	}
	return out
}

// SameAction compares two actions whose target groups are given by ARN,
// reading unset redirect parts as the request's (ALB's defaults).
func SameAction(a, b model.Action) bool {
	return reflect.DeepEqual(normalAction(a), normalAction(b))
}

func normalAction(a model.Action) model.Action {
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

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
