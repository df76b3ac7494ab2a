package albauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie limits. ALB splits a session into cookies NAME-0, NAME-1, ... of
// at most about 4 KB each; kelb does the same with shardSize bytes of
// value per cookie, and refuses more than maxShards of them.
const (
	shardSize = 4000
	maxShards = 16
	// StateCookie binds an authorization request's state to the browser
	// that started it.
	StateCookie = "AWSELBAuthNonce"
	// stateLifetime bounds a login at the identity provider.
	stateLifetime = 15 * time.Minute
)

// Session is what the session cookies hold, sealed with the session key:
// the user's identity (sub), the access token and the user claims from the
// user info endpoint, the authenticate action it belongs to, and when it
// expires.
type Session struct {
	Action      string          `json:"a"`
	Subject     string          `json:"s"`
	AccessToken string          `json:"t"`
	Claims      json.RawMessage `json:"c"`
	Expires     int64           `json:"e"` // unix seconds
}

// State is the sealed state parameter of an authorization request: the
// authenticate action, the nonce sent to the identity provider, the URL to
// return to, the value of the browser's StateCookie, and when it expires.
type State struct {
	Action  string `json:"a"`
	Nonce   string `json:"n"`
	URL     string `json:"u"`
	Bind    string `json:"b"`
	Expires int64  `json:"e"`
}

var b64 = base64.RawURLEncoding

func randomBytes(b []byte) {
	// crypto/rand.Read never fails (it crashes the program instead).
	rand.Read(b)
}

// randomToken returns 128 random bits, URL-safe.
func randomToken() string {
	var b [16]byte
	randomBytes(b[:])
	return b64.EncodeToString(b[:])
}

// SessionCookies seals s and splits it into the cookies name-0, name-1,
// ..., each valid for maxAge, Secure and HttpOnly, as ALB sets them.
func (k *Keys) SessionCookies(name string, s Session, maxAge time.Duration) ([]*http.Cookie, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode session: %w", err)
	}
	v := b64.EncodeToString(k.seal("session/"+name, b))
	var out []*http.Cookie
	for i := 0; len(v) > 0; i++ {
		if i == maxShards {
			return nil, fmt.Errorf("session of %d bytes is over %d cookies", len(b), maxShards)
		}
		n := min(len(v), shardSize)
		out = append(out, &http.Cookie{Name: name + "-" + strconv.Itoa(i), Value: v[:n], Path: "/",
			MaxAge: int(maxAge / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		v = v[n:]
	}
	return out, nil
}

// ExpiredSessionCookies returns cookies that delete the session cookies
// the request carries (name-0 ... name-N).
func ExpiredSessionCookies(r *http.Request, name string) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.Cookies() {
		if _, ok := shardIndex(c.Name, name); ok {
			out = append(out, &http.Cookie{Name: c.Name, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true})
		}
	}
	return out
}

// shardIndex returns N of a cookie named name-N.
func shardIndex(cookie, name string) (int, bool) {
	rest, ok := strings.CutPrefix(cookie, name+"-")
	if !ok || rest == "" || len(rest) > 2 {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n >= maxShards || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// Errors of the cookie parsers.
var (
	ErrNoSession = errors.New("no session cookie")
	ErrExpired   = errors.New("expired")
)

// ParseSession joins the cookies name-0 ... name-N of cookies, opens them
// and returns the session when it is valid at now. Missing shards,
// tampering, another key or another cookie name, and expiry are errors.
func (k *Keys) ParseSession(cookies []*http.Cookie, name string, now time.Time) (Session, error) {
	var shards [maxShards]string
	count := 0
	for _, c := range cookies {
		if i, ok := shardIndex(c.Name, name); ok && shards[i] == "" && c.Value != "" {
			shards[i] = c.Value
			count++
		}
	}
	if count == 0 {
		return Session{}, ErrNoSession
	}
	var sb strings.Builder
	for i := 0; i < count; i++ {
		if shards[i] == "" {
			return Session{}, fmt.Errorf("session cookie %s-%d missing", name, i)
		}
		sb.WriteString(shards[i])
	}
	raw, err := b64.DecodeString(sb.String())
	if err != nil {
		return Session{}, fmt.Errorf("session cookie: %w", err)
	}
	plain, err := k.open("session/"+name, raw)
	if err != nil {
		return Session{}, fmt.Errorf("session cookie does not open: %w", err)
	}
	var s Session
	if err := json.Unmarshal(plain, &s); err != nil {
		return Session{}, fmt.Errorf("session cookie: %w", err)
	}
	if now.Unix() >= s.Expires {
		return Session{}, ErrExpired
	}
	return s, nil
}

// SealState seals st into a state parameter.
func (k *Keys) SealState(st State) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode state: %w", err)
	}
	return b64.EncodeToString(k.seal("state", b)), nil
}

// ParseState opens a state parameter and checks it against the browser's
// StateCookie value bind and the time now.
func (k *Keys) ParseState(param, bind string, now time.Time) (State, error) {
	if param == "" || len(param) > 8192 {
		return State{}, errors.New("state missing or too long")
	}
	raw, err := b64.DecodeString(param)
	if err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	plain, err := k.open("state", raw)
	if err != nil {
		return State{}, fmt.Errorf("state does not open: %w", err)
	}
	var st State
	if err := json.Unmarshal(plain, &st); err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	if now.Unix() >= st.Expires {
		return State{}, fmt.Errorf("state: %w", ErrExpired)
	}
	if bind == "" || st.Bind != bind {
		return State{}, errors.New("state is not bound to this browser's cookie")
	}
	return st, nil
}
