// Package albauth is the authentication of application load balancers:
// the authenticate-oidc and authenticate-cognito actions (ALB's OpenID
// Connect authorization code flow, Flow), the jwt-validation action
// (Validator over a JWKS cache), and kelb's keys for sessions and user
// claims (Keys).
//
// The decisions are pure functions: Decide turns a session's validity
// and on-unauthenticated-request into pass, pass anonymously, login or
// deny; ParseSession and ParseState open the sealed cookies and state
// parameter. A Flow sends a browser without a session to the
// authorization endpoint with a sealed state bound to a short-lived
// cookie; Callback, at /oauth2/idpresponse, exchanges the code, checks
// the ID token (issuer, audience, nonce, expiry; the token came over TLS
// from the token endpoint), fetches the user info and sets the session
// cookies, split at 4000 bytes. An authenticated request goes on with
// x-amzn-oidc-accesstoken, -identity and -data (ES256, ALB's header
// fields); a client's own x-amzn-oidc-* headers are removed.
//
// Failure behaviour: a session cookie that is missing, incomplete,
// tampered with, sealed by another key or expired counts as no session;
// a state that does not open, is expired or not bound to the browser's
// cookie, or an error from the authorization endpoint answers 401; a
// token or user info endpoint that fails or answers an error answers 561
// (ALB's code) and is logged; a JWKS endpoint that cannot be reached
// makes jwt-validation answer 401 (and is fetched again after 10 s). No
// failure lets a request through unauthenticated, except allow, which is
// asked for.
package albauth
