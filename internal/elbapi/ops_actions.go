package elbapi

import (
	"encoding/xml"
	"slices"
	"strconv"
	"strings"

	"github.com/kelb-io/kelb/internal/elb"
)

// Actions of listeners and rules: their XML form and their form decoding.
// A client secret is decoded but never encoded: ELBv2 does not describe it.

type xAction struct {
	Type                      string
	TargetGroupArn            string                      `xml:",omitempty"`
	AuthenticateOidcConfig    *xAuthenticateOidcConfig    `xml:",omitempty"`
	AuthenticateCognitoConfig *xAuthenticateCognitoConfig `xml:",omitempty"`
	Order                     int32                       `xml:",omitempty"`
	RedirectConfig            *xRedirectConfig            `xml:",omitempty"`
	FixedResponseConfig       *xFixedResponseConfig       `xml:",omitempty"`
	ForwardConfig             *xForwardConfig             `xml:",omitempty"`
	JwtValidationConfig       *xJwtValidationConfig       `xml:",omitempty"`
}

type xRedirectConfig struct {
	Protocol   string `xml:",omitempty"`
	Port       string `xml:",omitempty"`
	Host       string `xml:",omitempty"`
	Path       string `xml:",omitempty"`
	Query      string `xml:",omitempty"`
	StatusCode string
}

type xFixedResponseConfig struct {
	MessageBody string `xml:",omitempty"`
	StatusCode  string
	ContentType string `xml:",omitempty"`
}

type xForwardConfig struct {
	TargetGroups                List[xTargetGroupTuple]
	TargetGroupStickinessConfig xStickinessConfig
}

type xTargetGroupTuple struct {
	TargetGroupArn string
	Weight         int32
}

type xStickinessConfig struct {
	Enabled         bool
	DurationSeconds *int32 `xml:",omitempty"`
}

type xAuthenticateOidcConfig struct {
	Issuer                           string
	AuthorizationEndpoint            string
	TokenEndpoint                    string
	UserInfoEndpoint                 string
	ClientId                         string
	SessionCookieName                string
	Scope                            string
	SessionTimeout                   int64
	AuthenticationRequestExtraParams xMap `xml:",omitempty"`
	OnUnauthenticatedRequest         string
}

type xAuthenticateCognitoConfig struct {
	UserPoolArn                      string
	UserPoolClientId                 string
	UserPoolDomain                   string
	SessionCookieName                string
	Scope                            string
	SessionTimeout                   int64
	AuthenticationRequestExtraParams xMap `xml:",omitempty"`
	OnUnauthenticatedRequest         string
}

type xJwtValidationConfig struct {
	JwksEndpoint     string
	Issuer           string
	AdditionalClaims *List[xJwtClaim] `xml:",omitempty"`
}

type xJwtClaim struct {
	Format string
	Name   string
	Values List[string]
}

// xMap is a Query-protocol map: <Name><entry><key>k</key><value>v</value>
// </entry>...</Name>, entries sorted by key.
type xMap map[string]string

// MarshalXML implements xml.Marshaler.
func (m xMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	type entry struct {
		Key   string `xml:"key"`
		Value string `xml:"value"`
	}
	for _, k := range keys {
		if err := e.EncodeElement(entry{Key: k, Value: m[k]}, xml.StartElement{Name: xml.Name{Local: "entry"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func encodeActions(actions []elb.Action) List[xAction] {
	out := List[xAction]{}
	for _, a := range actions {
		x := xAction{Type: a.Type, TargetGroupArn: a.TargetGroupARN, Order: a.Order}
		if r := a.Redirect; r != nil {
			x.RedirectConfig = &xRedirectConfig{Protocol: r.Protocol, Port: r.Port, Host: r.Host, Path: r.Path, Query: r.Query, StatusCode: r.StatusCode}
		}
		if f := a.FixedResponse; f != nil {
			x.FixedResponseConfig = &xFixedResponseConfig{MessageBody: f.MessageBody, StatusCode: f.StatusCode, ContentType: f.ContentType}
		}
		if f := a.Forward; f != nil {
			fc := &xForwardConfig{TargetGroups: List[xTargetGroupTuple]{}, TargetGroupStickinessConfig: xStickinessConfig{Enabled: f.StickinessEnabled}}
			if f.StickinessDurationExplicit || f.StickinessEnabled {
				d := f.StickinessDurationSeconds
				fc.TargetGroupStickinessConfig.DurationSeconds = &d
			}
			for _, t := range f.TargetGroups {
				fc.TargetGroups = append(fc.TargetGroups, xTargetGroupTuple{TargetGroupArn: t.TargetGroupARN, Weight: t.Weight})
			}
			x.ForwardConfig = fc
		}
		if c := a.AuthenticateOidc; c != nil {
			// The client secret is left out, as ELBv2 leaves it out.
			x.AuthenticateOidcConfig = &xAuthenticateOidcConfig{
				Issuer: c.Issuer, AuthorizationEndpoint: c.AuthorizationEndpoint, TokenEndpoint: c.TokenEndpoint,
				UserInfoEndpoint: c.UserInfoEndpoint, ClientId: c.ClientID, SessionCookieName: c.SessionCookieName,
				Scope: c.Scope, SessionTimeout: c.SessionTimeout, AuthenticationRequestExtraParams: xMap(c.AuthenticationRequestExtraParams),
				OnUnauthenticatedRequest: c.OnUnauthenticatedRequest,
			}
		}
		if c := a.AuthenticateCognito; c != nil {
			x.AuthenticateCognitoConfig = &xAuthenticateCognitoConfig{
				UserPoolArn: c.UserPoolArn, UserPoolClientId: c.UserPoolClientID, UserPoolDomain: c.UserPoolDomain,
				SessionCookieName: c.SessionCookieName, Scope: c.Scope, SessionTimeout: c.SessionTimeout,
				AuthenticationRequestExtraParams: xMap(c.AuthenticationRequestExtraParams), OnUnauthenticatedRequest: c.OnUnauthenticatedRequest,
			}
		}
		if c := a.JwtValidation; c != nil {
			x.JwtValidationConfig = &xJwtValidationConfig{JwksEndpoint: c.JwksEndpoint, Issuer: c.Issuer}
			if len(c.AdditionalClaims) > 0 {
				claims := List[xJwtClaim]{}
				for _, cl := range c.AdditionalClaims {
					claims = append(claims, xJwtClaim{Format: cl.Format, Name: cl.Name, Values: List[string](cl.Values)})
				}
				x.JwtValidationConfig.AdditionalClaims = &claims
			}
		}
		out = append(out, x)
	}
	return out
}

func decodeActions(d *decoder, p Params, key string) []elb.Action {
	var out []elb.Action
	for _, m := range p.StructList(key) {
		a := elb.Action{
			Type:           m.String("Type"),
			TargetGroupARN: m.String("TargetGroupArn"),
			Order:          d.int32(m, "Order"),
		}
		if r, ok := m.Struct("RedirectConfig"); ok {
			a.Redirect = &elb.RedirectConfig{
				Protocol: r.String("Protocol"), Port: r.String("Port"), Host: r.String("Host"),
				Path: r.String("Path"), Query: r.String("Query"), StatusCode: r.String("StatusCode"),
			}
		}
		if f, ok := m.Struct("FixedResponseConfig"); ok {
			a.FixedResponse = &elb.FixedResponseConfig{
				MessageBody: f.String("MessageBody"), StatusCode: f.String("StatusCode"), ContentType: f.String("ContentType"),
			}
		}
		if f, ok := m.Struct("ForwardConfig"); ok {
			fc := &elb.ForwardConfig{}
			for _, t := range f.StructList("TargetGroups") {
				fc.TargetGroups = append(fc.TargetGroups, elb.WeightedTargetGroup{
					TargetGroupARN: t.String("TargetGroupArn"),
					Weight:         d.int32(t, "Weight"),
				})
			}
			if s, ok := f.Struct("TargetGroupStickinessConfig"); ok {
				fc.StickinessEnabled = d.bool(s, "Enabled")
				if v := d.int32Ptr(s, "DurationSeconds"); v != nil {
					fc.StickinessDurationSeconds, fc.StickinessDurationExplicit = *v, true
				}
			}
			a.Forward = fc
		}
		if c, ok := m.Struct("AuthenticateOidcConfig"); ok {
			a.AuthenticateOidc = &elb.AuthenticateOidcConfig{
				Issuer: c.String("Issuer"), AuthorizationEndpoint: c.String("AuthorizationEndpoint"),
				TokenEndpoint: c.String("TokenEndpoint"), UserInfoEndpoint: c.String("UserInfoEndpoint"),
				ClientID: c.String("ClientId"), ClientSecret: c.String("ClientSecret"),
				UseExistingClientSecret: d.bool(c, "UseExistingClientSecret"),
				SessionCookieName:       c.String("SessionCookieName"), Scope: c.String("Scope"),
				SessionTimeout:                   d.int64(c, "SessionTimeout"),
				AuthenticationRequestExtraParams: c.Map("AuthenticationRequestExtraParams"),
				OnUnauthenticatedRequest:         c.String("OnUnauthenticatedRequest"),
			}
		}
		if c, ok := m.Struct("AuthenticateCognitoConfig"); ok {
			a.AuthenticateCognito = &elb.AuthenticateCognitoConfig{
				UserPoolArn: c.String("UserPoolArn"), UserPoolClientID: c.String("UserPoolClientId"),
				UserPoolDomain: c.String("UserPoolDomain"), SessionCookieName: c.String("SessionCookieName"),
				Scope: c.String("Scope"), SessionTimeout: d.int64(c, "SessionTimeout"),
				AuthenticationRequestExtraParams: c.Map("AuthenticationRequestExtraParams"),
				OnUnauthenticatedRequest:         c.String("OnUnauthenticatedRequest"),
			}
		}
		if c, ok := m.Struct("JwtValidationConfig"); ok {
			jc := &elb.JwtValidationConfig{JwksEndpoint: c.String("JwksEndpoint"), Issuer: c.String("Issuer")}
			for _, cl := range c.StructList("AdditionalClaims") {
				jc.AdditionalClaims = append(jc.AdditionalClaims, elb.JwtClaim{
					Format: cl.String("Format"), Name: cl.String("Name"), Values: cl.StringList("Values"),
				})
			}
			a.JwtValidation = jc
		}
		out = append(out, a)
	}
	return out
}

// int64 reads a long member; a value that is not one is a ValidationError
// naming the member.
func (d *decoder) int64(p Params, key string) int64 {
	s, ok := p.lookup(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil && d.err == nil {
		d.err = ValidationError("Value '%s' at '%s' failed to satisfy constraint: Member must be a 64-bit integer", s, memberPath(p.prefix+key))
	}
	return n
}
