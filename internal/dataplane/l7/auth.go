package l7

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/kelb-io/kelb/internal/albauth"
	"github.com/kelb-io/kelb/internal/elb"
)

// authStep is a compiled authenticate action: it answers the request
// itself (a redirect to the identity provider, 401) and returns the status
// it wrote, or returns 0 and the request goes on to the terminal action,
// with the identity headers when there are any.
type authStep interface {
	Authenticate(w http.ResponseWriter, r *http.Request) int
}

// compileAuth compiles an authenticate action of listener l.
func (p *Plane) compileAuth(l Listener, a elb.Action) (authStep, *albauth.Flow, error) {
	switch a.Type {
	case elb.ActionAuthenticateOidc, elb.ActionAuthenticateCognito:
		if p.opts.Auth.Keys == nil {
			return nil, nil, errors.New("authenticate action without authentication keys")
		}
		f, err := albauth.NewFlow(a, l.LoadBalancerARN, p.opts.Auth)
		if err != nil {
			return nil, nil, fmt.Errorf("%s action: %w", a.Type, err)
		}
		return f, f, nil
	case elb.ActionJwtValidation:
		if a.JwtValidation == nil {
			return nil, nil, errors.New("jwt-validation action without configuration")
		}
		return albauth.NewValidator(*a.JwtValidation, p.jwks, p.opts.Auth.Now), nil, nil
	}
	return nil, nil, fmt.Errorf("action type %q", a.Type)
}
