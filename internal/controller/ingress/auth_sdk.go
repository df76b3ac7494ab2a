package ingress

import (
	"cmp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// sdkActions is a as the API takes it: its authenticate action (order 1)
// then the action itself, or the action alone (order 1).
func sdkActions(a Action) []types.Action {
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
func fromSDKActions(as []types.Action) Action {
	if len(as) == 0 {
		return Action{}
	}
	sorted := slices.Clone(as)
	slices.SortStableFunc(sorted, func(a, b types.Action) int { return cmp.Compare(aws.ToInt32(a.Order), aws.ToInt32(b.Order)) })
	out := fromSDKAction(sorted[len(sorted)-1])
	for _, a := range sorted[:len(sorted)-1] {
		switch {
		case a.AuthenticateOidcConfig != nil:
			o := a.AuthenticateOidcConfig
			out.Authenticate = &AuthenticateAction{Type: string(a.Type),
				OIDC: &OIDCAuth{Issuer: aws.ToString(o.Issuer), AuthorizationEndpoint: aws.ToString(o.AuthorizationEndpoint),
					TokenEndpoint: aws.ToString(o.TokenEndpoint), UserInfoEndpoint: aws.ToString(o.UserInfoEndpoint),
					ClientID: aws.ToString(o.ClientId), ExtraParams: o.AuthenticationRequestExtraParams},
				Scope: aws.ToString(o.Scope), SessionCookieName: aws.ToString(o.SessionCookieName),
				SessionTimeout: aws.ToInt64(o.SessionTimeout), OnUnauthenticatedRequest: string(o.OnUnauthenticatedRequest)}
		case a.AuthenticateCognitoConfig != nil:
			c := a.AuthenticateCognitoConfig
			out.Authenticate = &AuthenticateAction{Type: string(a.Type),
				Cognito: &CognitoAuth{UserPoolARN: aws.ToString(c.UserPoolArn), UserPoolClientID: aws.ToString(c.UserPoolClientId),
					UserPoolDomain: aws.ToString(c.UserPoolDomain), ExtraParams: c.AuthenticationRequestExtraParams},
				Scope: aws.ToString(c.Scope), SessionCookieName: aws.ToString(c.SessionCookieName),
				SessionTimeout: aws.ToInt64(c.SessionTimeout), OnUnauthenticatedRequest: string(c.OnUnauthenticatedRequest)}
		case a.JwtValidationConfig != nil:
			j := a.JwtValidationConfig
			jw := &JWTValidationAuth{JwksEndpoint: aws.ToString(j.JwksEndpoint), Issuer: aws.ToString(j.Issuer)}
			for _, c := range j.AdditionalClaims {
				jw.AdditionalClaims = append(jw.AdditionalClaims, JWTClaim{Format: string(c.Format), Name: aws.ToString(c.Name), Values: c.Values})
			}
			out.Authenticate = &AuthenticateAction{Type: string(a.Type), JWT: jw}
		}
	}
	return out
}
