package albauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/kelb-io/kelb/internal/elb"
)

// jwksRefetchInterval bounds how often an unknown kid makes kelb fetch a
// JWKS endpoint again.
const jwksRefetchInterval = 10 * time.Second

// JWKS caches the key sets of JWKS endpoints: a set is fetched when first
// needed and again when a token names a kid it does not hold (at most once
// per jwksRefetchInterval per endpoint). Safe for concurrent use; the
// zero value is not: use NewJWKS.
type JWKS struct {
	client *http.Client
	now    func() time.Time
	mu     sync.Mutex
	sets   map[string]*jwksEntry
}

type jwksEntry struct {
	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// NewJWKS returns an empty cache fetching with client (nil:
// http.DefaultClient).
func NewJWKS(client *http.Client, now func() time.Time) *JWKS {
	if client == nil {
		client = http.DefaultClient
	}
	if now == nil {
		now = time.Now
	}
	return &JWKS{client: client, now: now, sets: map[string]*jwksEntry{}}
}

// Key returns the key kid of the set at endpoint.
func (c *JWKS) Key(ctx context.Context, endpoint, kid string) (*jose.JSONWebKey, error) {
	c.mu.Lock()
	e := c.sets[endpoint]
	if e == nil {
		e = &jwksEntry{}
		c.sets[endpoint] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if k := findKey(e.keys, kid); k != nil {
		return k, nil
	}
	if !e.fetched.IsZero() && c.now().Sub(e.fetched) < jwksRefetchInterval {
		return nil, fmt.Errorf("key %q not in the JWKS of %s", kid, endpoint)
	}
	set, err := c.fetch(ctx, endpoint)
	e.fetched = c.now()
	if err != nil {
		return nil, err
	}
	e.keys = set
	if k := findKey(e.keys, kid); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("key %q not in the JWKS of %s", kid, endpoint)
}

func findKey(set jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	for i, k := range set.Keys {
		if k.KeyID == kid && k.Use != "enc" {
			return &set.Keys[i]
		}
	}
	// A token without a kid matches a set of one key.
	if kid == "" && len(set.Keys) == 1 {
		return &set.Keys[0]
	}
	return nil
}

func (c *JWKS) fetch(ctx context.Context, endpoint string) (jose.JSONWebKeySet, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWKS endpoint: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWKS endpoint %s: %s", endpoint, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("JWKS endpoint %s: %w", endpoint, err)
	}
	return set, nil
}

// jwtAlgorithms are the signature algorithms jwt-validation accepts.
var jwtAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512}

// Validator is a compiled jwt-validation action.
type Validator struct {
	cfg  elb.JwtValidationConfig
	jwks *JWKS
	now  func() time.Time
}

// NewValidator compiles a jwt-validation action over a shared key cache.
func NewValidator(c elb.JwtValidationConfig, jwks *JWKS, now func() time.Time) *Validator {
	if now == nil {
		now = time.Now
	}
	return &Validator{cfg: c, jwks: jwks, now: now}
}

// Authenticate checks r's bearer token. It returns 0 when the request goes
// on; 401 when it answered 401 with a WWW-Authenticate challenge (RFC
// 6750): without an error when no token came, invalid_token otherwise.
func (v *Validator) Authenticate(w http.ResponseWriter, r *http.Request) int {
	StripIdentityHeaders(r.Header)
	raw, ok := BearerToken(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		return writeError(w, http.StatusUnauthorized)
	}
	if err := v.Validate(r.Context(), raw); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return writeError(w, http.StatusUnauthorized)
	}
	return 0
}

// BearerToken returns the token of an Authorization header value
// "Bearer <token>".
func BearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// Validate verifies a token: its signature with the key its kid names at
// the JWKS endpoint, its issuer, exp (required), nbf and iat, and the
// additional claims.
func (v *Validator) Validate(ctx context.Context, raw string) error {
	tok, err := jwt.ParseSigned(raw, jwtAlgorithms)
	if err != nil {
		return err
	}
	if len(tok.Headers) != 1 {
		return errors.New("token with several signatures")
	}
	key, err := v.jwks.Key(ctx, v.cfg.JwksEndpoint, tok.Headers[0].KeyID)
	if err != nil {
		return err
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(key.Key, &std, &all); err != nil {
		return err
	}
	now := v.now()
	if std.Expiry == nil {
		return errors.New("token without exp")
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.Issuer, Time: now}, 0); err != nil {
		return err
	}
	return CheckClaims(all, v.cfg.AdditionalClaims)
}

// CheckClaims checks additional claims against a token's claims:
// single-string, the claim is a string equal to one of the values;
// string-array, the claim is an array of strings holding every value;
// space-separated-values, the claim is a string whose space-separated
// words include every value.
func CheckClaims(claims map[string]any, want []elb.JwtClaim) error {
	for _, c := range want {
		v, ok := claims[c.Name]
		if !ok {
			return fmt.Errorf("claim %q missing", c.Name)
		}
		switch c.Format {
		case "single-string":
			s, ok := v.(string)
			if !ok || !slices.Contains(c.Values, s) {
				return fmt.Errorf("claim %q does not match", c.Name)
			}
		case "string-array":
			arr, ok := v.([]any)
			if !ok {
				return fmt.Errorf("claim %q is not an array", c.Name)
			}
			var have []string
			for _, e := range arr {
				if s, ok := e.(string); ok {
					have = append(have, s)
				}
			}
			for _, w := range c.Values {
				if !slices.Contains(have, w) {
					return fmt.Errorf("claim %q lacks %q", c.Name, w)
				}
			}
		case "space-separated-values":
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("claim %q is not a string", c.Name)
			}
			have := strings.Fields(s)
			for _, w := range c.Values {
				if !slices.Contains(have, w) {
					return fmt.Errorf("claim %q lacks %q", c.Name, w)
				}
			}
		default:
			return fmt.Errorf("claim %q: format %q", c.Name, c.Format)
		}
	}
	return nil
}
