package elbapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4 verification, for the two forms clients use: the
// Authorization header and the presigned query string (X-Amz-Algorithm,
// X-Amz-Credential, ...).
//
// The verifier rebuilds the canonical request from what arrived (method,
// doubly URI-encoded path, sorted query, the headers named in SignedHeaders,
// the payload hash), derives the signing key from the secret of the access
// key id and the credential scope, and compares signatures in constant time.
// Every x-amz-* header of the request must be among the signed headers, so
// that none (X-Amz-Target above all) can be changed on a captured request; a
// signature is lower-case hex, as SigV4 writes it; kelb issues no session
// tokens, so a request that carries X-Amz-Security-Token is refused.
// Any failure is an *Error with the code AWS answers with; the request never
// reaches an operation.

const (
	sigv4Algorithm   = "AWS4-HMAC-SHA256"
	sigv4Service     = "elasticloadbalancing"
	sigv4Terminator  = "aws4_request"
	amzDateFormat    = "20060102T150405Z"
	scopeDateFormat  = "20060102"
	maxClockSkew     = 15 * time.Minute
	maxPresignExpiry = 7 * 24 * time.Hour
	unsignedPayload  = "UNSIGNED-PAYLOAD"
)

// authorization is a parsed SigV4 Authorization header (or its presigned
// query-string equivalent).
type authorization struct {
	AccessKeyID   string
	Date          string // YYYYMMDD of the credential scope
	Region        string
	Service       string
	Terminator    string
	SignedHeaders []string
	Signature     string
}

func (a authorization) scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/" + a.Terminator
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/date/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex". The components may
// come in any order, separated by commas and optional spaces.
func parseAuthorization(header string) (authorization, *Error) {
	var a authorization
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != sigv4Algorithm {
		return a, incompleteSignature("Authorization header requires '%s' as the signing algorithm. Authorization=%s", sigv4Algorithm, header)
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			sig, haveSig = v, true
		}
	}
	var missing []string
	for _, m := range []struct {
		name string
		ok   bool
	}{{"Credential", haveCred}, {"Signature", haveSig}, {"SignedHeaders", haveSigned}} {
		if !m.ok {
			missing = append(missing, "Authorization header requires '"+m.name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return a, incompleteSignature("%s Authorization=%s", strings.Join(missing, " "), header)
	}
	return parseAuthParts(cred, signed, sig)
}

func parseAuthParts(cred, signed, sig string) (authorization, *Error) {
	var a authorization
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return a, incompleteSignature("Credential should have the form <access key id>/<date>/<region>/<service>/aws4_request, not '%s'.", cred)
	}
	a.AccessKeyID, a.Date, a.Region, a.Service, a.Terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	if signed == "" {
		return a, incompleteSignature("SignedHeaders must name at least the 'host' header.")
	}
	a.SignedHeaders = strings.Split(signed, ";")
	for _, h := range a.SignedHeaders {
		if h == "" || h != strings.ToLower(h) {
			return a, incompleteSignature("SignedHeaders must be a semicolon-separated list of lower-case header names, not '%s'.", signed)
		}
	}
	if len(sig) != sha256.Size*2 {
		return a, incompleteSignature("Signature must be %d hexadecimal characters.", sha256.Size*2)
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return a, incompleteSignature("Signature must be hexadecimal.")
	}
	// Kept as sent: SigV4 signatures are lower-case hex, and an upper-case
	// one does not match.
	a.Signature = sig
	return a, nil
}

// verifier checks SigV4 signatures for one region.
type verifier struct {
	creds   Credentials
	region  string
	service string // sigv4Service when empty
	now     func() time.Time
	// s3: the canonical URI is the path URI-encoded once, as S3 signs it
	// (not twice as the other services do), and a body may go unsigned
	// (UNSIGNED-PAYLOAD).
	s3 bool
}

// SignatureConfig configures VerifySignature.
type SignatureConfig struct {
	Credentials Credentials
	Region      string
	// Service is the signing name requests must be scoped to (acm).
	Service string
	// Now tells the time; nil: time.Now.
	Now func() time.Time
	// S3 is set for S3, whose signers encode the path once in the
	// canonical request where every other service encodes it twice, and
	// may leave a body unsigned (x-amz-content-sha256: UNSIGNED-PAYLOAD).
	S3 bool
}

// VerifySignature authenticates a SigV4-signed request of another AWS API
// that kelb serves (ACM), whose body has been read into body, exactly as
// the ELBv2 handler does. It returns the access key id, or the *Error AWS
// would answer with.
func VerifySignature(r *http.Request, body []byte, cfg SignatureConfig) (string, *Error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return verifier{creds: cfg.Credentials, region: cfg.Region, service: cfg.Service, now: cfg.Now, s3: cfg.S3}.verify(r, body)
}

// verify authenticates r, whose body has already been read into body. It
// returns the access key id the request was signed with.
func (v verifier) verify(r *http.Request, body []byte) (string, *Error) {
	// A malformed or oversized query fails the signature or, later, the
	// form decoding; either way the request goes no further.
	query, n := url.Values{}, 0
	_ = parseForm(query, r.URL.RawQuery, &n)
	var (
		a         authorization
		amzDate   string
		presigned bool
		expires   time.Duration
	)
	switch {
	case r.Header.Get("Authorization") != "":
		var err *Error
		if a, err = parseAuthorization(r.Header.Get("Authorization")); err != nil {
			return "", err
		}
		amzDate = r.Header.Get("X-Amz-Date")
		if amzDate == "" {
			if d := r.Header.Get("Date"); d != "" {
				t, perr := http.ParseTime(d)
				if perr != nil {
					return "", incompleteSignature("Date header '%s' is not an HTTP date.", d)
				}
				amzDate = t.UTC().Format(amzDateFormat)
			}
		}
		if amzDate == "" {
			return "", incompleteSignature("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", r.Header.Get("Authorization"))
		}
	case query.Get("X-Amz-Algorithm") != "":
		presigned = true
		if query.Get("X-Amz-Algorithm") != sigv4Algorithm {
			return "", incompleteSignature("X-Amz-Algorithm must be '%s'.", sigv4Algorithm)
		}
		for _, k := range []string{"X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
			if query.Get(k) == "" {
				return "", incompleteSignature("AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'X-Amz-Date'. Re-examine the query-string parameters.")
			}
		}
		var err *Error
		if a, err = parseAuthParts(query.Get("X-Amz-Credential"), query.Get("X-Amz-SignedHeaders"), query.Get("X-Amz-Signature")); err != nil {
			return "", err
		}
		amzDate = query.Get("X-Amz-Date")
		if e := query.Get("X-Amz-Expires"); e != "" {
			n, perr := strconv.ParseInt(e, 10, 64)
			if perr != nil || n < 0 || time.Duration(n)*time.Second > maxPresignExpiry {
				return "", incompleteSignature("X-Amz-Expires must be a number of seconds between 0 and %d.", int(maxPresignExpiry.Seconds()))
			}
			expires = time.Duration(n) * time.Second
		} else {
			expires = maxClockSkew
		}
	default:
		return "", errMissingAuth
	}

	signedAt, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return "", incompleteSignature("X-Amz-Date '%s' must be in the ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'.", amzDate)
	}
	now := v.now().UTC()
	switch {
	case presigned && now.After(signedAt.Add(expires)):
		return "", requestExpired("Request has expired.")
	case !presigned && now.Sub(signedAt) > maxClockSkew:
		return "", requestExpired("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	case signedAt.Sub(now) > maxClockSkew:
		return "", requestExpired("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if a.Date != signedAt.Format(scopeDateFormat) {
		return "", signatureMismatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.Date, signedAt.Format(scopeDateFormat), amzDate)
	}
	if a.Region != v.region {
		return "", signatureMismatch("Credential should be scoped to a valid region, not '%s'.", a.Region)
	}
	service := v.service
	if service == "" {
		service = sigv4Service
	}
	if a.Service != service {
		return "", signatureMismatch("Credential should be scoped to correct service: '%s'.", service)
	}
	if a.Terminator != sigv4Terminator {
		return "", signatureMismatch("Credential should be scoped with a valid terminator: '%s', not '%s'.", sigv4Terminator, a.Terminator)
	}
	if !containsString(a.SignedHeaders, "host") {
		return "", signatureMismatch("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	// kelb issues no temporary credentials: any session token is one it
	// does not know.
	if r.Header.Get("X-Amz-Security-Token") != "" || query.Get("X-Amz-Security-Token") != "" {
		return "", errInvalidClientTokenID
	}
	if name := unsignedAmzHeader(r.Header, a.SignedHeaders); name != "" {
		return "", signatureMismatch("'%s' must be a 'SignedHeader' in the AWS Authorization.", name)
	}
	secret, ok := "", false
	if v.creds != nil {
		secret, ok = v.creds.SecretKey(a.AccessKeyID)
	}
	if !ok {
		return "", errInvalidClientTokenID
	}

	bodyHash := sha256Hex(body)
	payloadHashes := []string{bodyHash}
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
		switch {
		case h == unsignedPayload && (len(body) == 0 || v.s3):
			payloadHashes = []string{h}
		case h == bodyHash:
			payloadHashes = []string{h}
		default:
			return "", signatureMismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	} else if presigned && len(body) == 0 {
		// Presigners differ: some sign the empty body's hash, some the
		// literal UNSIGNED-PAYLOAD. With no body both are safe to accept.
		payloadHashes = append(payloadHashes, unsignedPayload)
	}

	key := signingKey(secret, a.Date, a.Region, a.Service)
	for _, ph := range payloadHashes {
		creq := canonicalRequest(r, a.SignedHeaders, ph, presigned, v.s3)
		sts := stringToSign(amzDate, a.scope(), creq)
		want := hex.EncodeToString(hmacSHA256(key, sts))
		if subtle.ConstantTimeCompare([]byte(want), []byte(a.Signature)) == 1 {
			return a.AccessKeyID, nil
		}
	}
	return "", errSignatureMismatch
}

// unsignedAmzHeader returns the name of the first x-amz-* header of h (in
// sorted order) that signed does not name, or "".
func unsignedAmzHeader(h http.Header, signed []string) string {
	var names []string
	for name := range h {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !containsString(signed, lower) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}

// canonicalRequest builds the SigV4 canonical request of r.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned, pathEncodedOnce bool) string {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if pathEncodedOnce {
		path = r.URL.Path
		if path == "" {
			path = "/"
		}
	}
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uriEncode(path, false))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, presigned))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var values []string
	switch name {
	case "host":
		values = []string{r.Host}
	case "content-length":
		values = r.Header.Values("Content-Length")
		if len(values) == 0 && r.ContentLength >= 0 {
			values = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		values = r.Header.Values(name)
	}
	for i, v := range values {
		values[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(values, ",")
}

// canonicalQuery sorts the query's parameters by encoded name, then value,
// each URI-encoded per SigV4. A presigned request's own signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	type pair struct{ k, v string }
	var pairs []pair
	for _, kv := range strings.Split(raw, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		k = queryUnescape(k)
		v = queryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func queryUnescape(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// uriEncode percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - . _ ~), and '/' unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func stringToSign(amzDate, scope, canonical string) string {
	return sigv4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, sigv4Terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Presign returns u (an absolute http or https URL) with a SigV4 presigned
// query for a GET by accessKeyID, scoped to region and service, valid for
// expires from now: the form of the S3 URLs AWS hands out, which the
// verifier accepts with SignatureConfig.S3 set.
func Presign(u *url.URL, accessKeyID, secret, region, service string, now time.Time, expires time.Duration) *url.URL {
	now = now.UTC()
	date := now.Format(scopeDateFormat)
	scope := date + "/" + region + "/" + service + "/" + sigv4Terminator
	out := *u
	q := out.Query()
	q.Set("X-Amz-Algorithm", sigv4Algorithm)
	q.Set("X-Amz-Credential", accessKeyID+"/"+scope)
	q.Set("X-Amz-Date", now.Format(amzDateFormat))
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires.Seconds())))
	q.Set("X-Amz-SignedHeaders", "host")
	out.RawQuery = q.Encode()
	r := &http.Request{Method: http.MethodGet, URL: &out, Host: out.Host, Header: http.Header{}}
	creq := canonicalRequest(r, []string{"host"}, unsignedPayload, true, true)
	sig := hex.EncodeToString(hmacSHA256(signingKey(secret, date, region, service), stringToSign(now.Format(amzDateFormat), scope, creq)))
	out.RawQuery += "&X-Amz-Signature=" + sig
	return &out
}
