package elbapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
)

// The server's clock in these tests; requests are signed relative to it.
var sigTestNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newSigTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(HandlerConfig{
		Ops: map[string]OpFunc{
			"DescribeLoadBalancers": func(ctx context.Context, p Params) (any, error) {
				return describeLoadBalancersResult{}, nil
			},
		},
		Credentials: StaticCredentials{testKeyID: testSecret},
		Region:      testRegion,
		Now:         func() time.Time { return sigTestNow },
	}))
	t.Cleanup(srv.Close)
	return srv
}

type signedRequest struct {
	method  string
	path    string // with any query
	body    string
	header  map[string]string
	keyID   string
	secret  string
	token   string // session token the request is signed with
	region  string
	service string
	at      time.Time
	presign bool
	// after runs on the signed request, to tamper with it.
	after func(r *http.Request)
}

// send signs the request with aws-sdk-go-v2's SigV4 signer and returns the
// HTTP status and "Type/Code" of the answer ("" for a success).
func (s signedRequest) send(t *testing.T, srv *httptest.Server) (int, string) {
	t.Helper()
	status, e := s.sendFull(t, srv)
	if status == http.StatusOK {
		return status, ""
	}
	return status, e.Error.Type + "/" + e.Error.Code
}

// sendFull signs and sends the request and returns the HTTP status and the
// decoded ErrorResponse (zero for a success).
func (s signedRequest) sendFull(t *testing.T, srv *httptest.Server) (int, xmlErrorResponse) {
	t.Helper()
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	if s.at.IsZero() {
		s.at = sigTestNow
	}
	req, err := http.NewRequestWithContext(t.Context(), def(s.method, "POST"), srv.URL+def(s.path, "/"), strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if s.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	for k, v := range s.header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(s.body))
	creds := aws.Credentials{AccessKeyID: def(s.keyID, testKeyID), SecretAccessKey: def(s.secret, testSecret), SessionToken: s.token}
	signer := v4.NewSigner()
	if s.presign {
		signedURL, _, err := signer.PresignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]),
			def(s.service, "elasticloadbalancing"), def(s.region, testRegion), s.at)
		if err != nil {
			t.Fatalf("presign: %v", err)
		}
		u, err := url.Parse(signedURL)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
	} else if err := signer.SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]),
		def(s.service, "elasticloadbalancing"), def(s.region, testRegion), s.at); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if s.after != nil {
		s.after(req)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	defer resp.Body.Close()
	var e xmlErrorResponse
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, e
	}
	if err := decodeXML(resp.Body, &e); err != nil {
		t.Fatalf("decode error response: %v", err)
	}
	return resp.StatusCode, e
}

const describeForm = "Action=DescribeLoadBalancers&Version=2015-12-01"

func TestSigV4(t *testing.T) {
	srv := newSigTestServer(t)
	tests := []struct {
		name       string
		req        signedRequest
		wantStatus int
		wantCode   string
	}{
		{name: "POST form", req: signedRequest{body: describeForm}, wantStatus: 200},
		{name: "POST with query and odd path", req: signedRequest{path: "/a%20b/c~d/?z=1&a=x%2By&a=b&empty=", body: describeForm}, wantStatus: 200},
		{name: "GET query", req: signedRequest{method: "GET", path: "/?" + describeForm + "&Names.member.1=a%20b"}, wantStatus: 200},
		{name: "signed extra header with spaces", req: signedRequest{body: describeForm, header: map[string]string{"X-Amz-Meta-Note": "  two   spaces  "}}, wantStatus: 200},
		{name: "clock 14 minutes behind", req: signedRequest{body: describeForm, at: sigTestNow.Add(-14 * time.Minute)}, wantStatus: 200},
		{name: "presigned GET", req: signedRequest{method: "GET", path: "/?" + describeForm, presign: true}, wantStatus: 200},

		{name: "unknown access key", req: signedRequest{body: describeForm, keyID: "AKIAUNKNOWNKEY000000"}, wantStatus: 403, wantCode: "Sender/InvalidClientTokenId"},
		{name: "wrong secret", req: signedRequest{body: describeForm, secret: "wrong"}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "body changed after signing", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			b := describeForm + "&PageSize=1"
			r.Body, r.ContentLength = http.NoBody, int64(len(b))
			r.Body = nopCloser{strings.NewReader(b)}
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "signed header changed", req: signedRequest{body: describeForm, header: map[string]string{"X-Amz-Meta-Note": "a"}, after: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Note", "b")
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "payload hash header lies", req: signedRequest{body: describeForm, header: map[string]string{"X-Amz-Content-Sha256": strings.Repeat("0", 64)}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "other region", req: signedRequest{body: describeForm, region: "eu-west-1"}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "other service", req: signedRequest{body: describeForm, service: "ec2"}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "signed 16 minutes ago", req: signedRequest{body: describeForm, at: sigTestNow.Add(-16 * time.Minute)}, wantStatus: 400, wantCode: "Sender/RequestExpired"},
		{name: "signed 16 minutes ahead", req: signedRequest{body: describeForm, at: sigTestNow.Add(16 * time.Minute)}, wantStatus: 400, wantCode: "Sender/RequestExpired"},
		{name: "malformed Authorization", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/20260314/us-west-2/elasticloadbalancing/aws4_request")
		}}, wantStatus: 400, wantCode: "Sender/IncompleteSignature"},
		{name: "other algorithm", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS "+testKeyID+":c2lnbmF0dXJl")
		}}, wantStatus: 400, wantCode: "Sender/IncompleteSignature"},
		{name: "no date", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			r.Header.Del("X-Amz-Date")
		}}, wantStatus: 400, wantCode: "Sender/IncompleteSignature"},
		{name: "presigned expired", req: signedRequest{method: "GET", path: "/?" + describeForm + "&X-Amz-Expires=60", presign: true, at: sigTestNow.Add(-2 * time.Minute)}, wantStatus: 400, wantCode: "Sender/RequestExpired"},
		{name: "presigned query changed", req: signedRequest{method: "GET", path: "/?" + describeForm, presign: true, after: func(r *http.Request) {
			r.URL.RawQuery += "&PageSize=1"
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "X-Amz-Target added after signing", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			r.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate")
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "X-Amz-Date left out of SignedHeaders", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "unsigned header on a presigned request", req: signedRequest{method: "GET", path: "/?" + describeForm, presign: true, after: func(r *http.Request) {
			r.Header.Set("X-Amz-Meta-Note", "added")
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "session token", req: signedRequest{body: describeForm, token: "FwoGZXIvYXdzEBogus"}, wantStatus: 403, wantCode: "Sender/InvalidClientTokenId"},
		{name: "presigned session token", req: signedRequest{method: "GET", path: "/?" + describeForm, presign: true, token: "FwoGZXIvYXdzEBogus"}, wantStatus: 403, wantCode: "Sender/InvalidClientTokenId"},
		{name: "upper-case hex signature", req: signedRequest{body: describeForm, after: func(r *http.Request) {
			auth := r.Header.Get("Authorization")
			i := strings.Index(auth, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", auth[:i]+strings.ToUpper(auth[i:]))
		}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "upper-case payload hash", req: signedRequest{body: describeForm, header: map[string]string{"X-Amz-Content-Sha256": strings.ToUpper(sha256Hex([]byte(describeForm)))}}, wantStatus: 403, wantCode: "Sender/SignatureDoesNotMatch"},
		{name: "presigned without signature", req: signedRequest{method: "GET", path: "/?" + describeForm, presign: true, after: func(r *http.Request) {
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			r.URL.RawQuery = q.Encode()
		}}, wantStatus: 400, wantCode: "Sender/IncompleteSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := tt.req.send(t, srv)
			if status != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", status, code, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// TestSignatureMatchesSDK checks the signature kelb computes against the one
// aws-sdk-go-v2 puts in the Authorization header, for requests whose canonical
// form exercises each encoding rule.
func TestSignatureMatchesSDK(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
	}{
		{"form body", "POST", "https://elb.example/", describeForm, nil},
		{"root without slash", "GET", "https://elb.example?Action=DescribeLoadBalancers", "", nil},
		{"reserved characters in query", "GET", "https://elb.example/?b=%2F%3D%26&a=%E2%9C%93&a=0&c", "", nil},
		{"encoded path", "POST", "https://elb.example/x%2Fy/z%20w", describeForm, nil},
		{"multi-value header", "POST", "https://elb.example/", describeForm, map[string]string{"X-Amz-Meta-A": " 1 ,  2 "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == "" {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
			if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, sha256Hex([]byte(tt.body)), sigv4Service, testRegion, sigTestNow); err != nil {
				t.Fatal(err)
			}
			a, aerr := parseAuthorization(req.Header.Get("Authorization"))
			if aerr != nil {
				t.Fatalf("parse SDK Authorization %q: %v", req.Header.Get("Authorization"), aerr)
			}
			if req.Host == "" {
				req.Host = req.URL.Host
			}
			creq := canonicalRequest(req, a.SignedHeaders, sha256Hex([]byte(tt.body)), false, false)
			got := hex.EncodeToString(hmacSHA256(signingKey(testSecret, a.Date, a.Region, a.Service), stringToSign(req.Header.Get("X-Amz-Date"), a.scope(), creq)))
			if got != a.Signature {
				t.Errorf("signature %s, SDK signed %s; canonical request:\n%s", got, a.Signature, creq)
			}
		})
	}
}

func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		name     string
		header   string
		want     authorization
		wantCode string
	}{
		{
			name:   "SDK form",
			header: "AWS4-HMAC-SHA256 Credential=AKID/20260314/us-west-2/elasticloadbalancing/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig,
			want: authorization{AccessKeyID: "AKID", Date: "20260314", Region: "us-west-2", Service: "elasticloadbalancing",
				Terminator: "aws4_request", SignedHeaders: []string{"host", "x-amz-date"}, Signature: sig},
		},
		{
			name:   "any order, no spaces",
			header: "AWS4-HMAC-SHA256 Signature=" + strings.ToUpper(sig) + ",SignedHeaders=host,Credential=AKID/20260314/r/s/aws4_request",
			want: authorization{AccessKeyID: "AKID", Date: "20260314", Region: "r", Service: "s",
				Terminator: "aws4_request", SignedHeaders: []string{"host"}, Signature: strings.ToUpper(sig)},
		},
		{name: "empty", header: "", wantCode: "IncompleteSignature"},
		{name: "sigv2", header: "AWS AKID:sig", wantCode: "IncompleteSignature"},
		{name: "missing signature", header: "AWS4-HMAC-SHA256 Credential=AKID/20260314/r/s/aws4_request, SignedHeaders=host", wantCode: "IncompleteSignature"},
		{name: "short credential", header: "AWS4-HMAC-SHA256 Credential=AKID/20260314, SignedHeaders=host, Signature=" + sig, wantCode: "IncompleteSignature"},
		{name: "signature not hex", header: "AWS4-HMAC-SHA256 Credential=AKID/20260314/r/s/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("zz", 32), wantCode: "IncompleteSignature"},
		{name: "upper-case signed header", header: "AWS4-HMAC-SHA256 Credential=AKID/20260314/r/s/aws4_request, SignedHeaders=Host, Signature=" + sig, wantCode: "IncompleteSignature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAuthorization(tt.header)
			if tt.wantCode != "" {
				if err == nil || err.Code != tt.wantCode {
					t.Fatalf("error %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("authorization (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"AWS4-HMAC-SHA256 Credential=AKID/20260314/us-west-2/elasticloadbalancing/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32),
		"AWS4-HMAC-SHA256 Credential=/, SignedHeaders=;, Signature=",
		"AWS4-HMAC-SHA256 ,,,=,==",
		"AWS AKID:sig",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseAuthorization(header)
		if err != nil {
			if err.Code != "IncompleteSignature" {
				t.Fatalf("error code %s, want IncompleteSignature", err.Code)
			}
			return
		}
		if len(a.Signature) != 64 || !containsString(a.SignedHeaders, a.SignedHeaders[0]) || a.AccessKeyID == "" {
			t.Fatalf("accepted a malformed authorization: %+v", a)
		}
	})
}

// TestUnsignedAmzHeaderNamed checks that the refusal names the x-amz-*
// header left out of the signature, as AWS does.
func TestUnsignedAmzHeaderNamed(t *testing.T) {
	srv := newSigTestServer(t)
	for _, header := range []string{"X-Amz-Target", "X-Amz-Date", "X-Amz-Content-Sha256"} {
		t.Run(header, func(t *testing.T) {
			req := signedRequest{body: describeForm, after: func(r *http.Request) {
				if header == "X-Amz-Date" {
					r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-date", "", 1))
					return
				}
				r.Header.Set(header, sha256Hex([]byte(describeForm)))
			}}
			status, e := req.sendFull(t, srv)
			want := "'" + header + "' must be a 'SignedHeader' in the AWS Authorization."
			if status != http.StatusForbidden || e.Error.Code != "SignatureDoesNotMatch" || e.Error.Message != want {
				t.Errorf("got %d %s %q, want 403 SignatureDoesNotMatch %q", status, e.Error.Code, e.Error.Message, want)
			}
		})
	}
}

// TestVerifySignatureTargetReplay checks the verifier ACM's JSON API uses: a
// captured GetCertificate whose X-Amz-Target is changed, or dropped from the
// signed headers, is refused.
func TestVerifySignatureTargetReplay(t *testing.T) {
	body := []byte(`{"CertificateArn":"arn:aws:acm:us-west-2:123456789012:certificate/x"}`)
	capture := func(t *testing.T) *http.Request {
		req, err := http.NewRequest("POST", "http://kelb.example/", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Target", "CertificateManager.GetCertificate")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
		if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, sha256Hex(body), "acm", testRegion, sigTestNow); err != nil {
			t.Fatal(err)
		}
		req.Host = req.URL.Host
		return req
	}
	cfg := SignatureConfig{Credentials: StaticCredentials{testKeyID: testSecret}, Region: testRegion, Service: "acm", Now: func() time.Time { return sigTestNow }}
	if _, err := VerifySignature(capture(t), body, cfg); err != nil {
		t.Fatalf("captured request: %v", err)
	}
	replay := capture(t)
	replay.Header.Set("X-Amz-Target", "CertificateManager.DeleteCertificate")
	if _, err := VerifySignature(replay, body, cfg); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Errorf("target changed: %v, want SignatureDoesNotMatch", err)
	}
	unsigned := capture(t)
	auth := unsigned.Header.Get("Authorization")
	unsigned.Header.Set("Authorization", strings.Replace(auth, ";x-amz-target", "", 1))
	if _, err := VerifySignature(unsigned, body, cfg); err == nil || err.Message != "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization." {
		t.Errorf("target left unsigned: %v, want it named", err)
	}
}
