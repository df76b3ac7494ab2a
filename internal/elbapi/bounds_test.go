package elbapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newBoundsTestServer serves DescribeLoadBalancers (reporting the names it
// was asked for, "all" for none) and RegisterTargets (reporting how many
// targets reached it).
func newBoundsTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHandler(HandlerConfig{
		Ops: map[string]OpFunc{
			"DescribeLoadBalancers": func(ctx context.Context, p Params) (any, error) {
				names := p.StringList("Names")
				if len(names) == 0 {
					return nil, &Error{Code: "ShowAll", Message: "all load balancers"}
				}
				return nil, &Error{Code: "ShowNames", Message: strings.Join(names, ",")}
			},
			"RegisterTargets": func(ctx context.Context, p Params) (any, error) {
				return nil, &Error{Code: "TooManyTargets", Message: fmt.Sprintf("%d targets", len(p.StructList("Targets")))}
			},
		},
		Credentials: StaticCredentials{testKeyID: testSecret},
		Region:      testRegion,
		Now:         func() time.Time { return sigTestNow },
	}))
	t.Cleanup(srv.Close)
	return srv
}

func targetsForm(n int, id func(i int) string) string {
	var b strings.Builder
	b.WriteString("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn=arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/tg/0123456789abcdef")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "&Targets.member.%d.Id=%s&Targets.member.%d.Port=80", i, id(i), i)
	}
	return b.String()
}

func namesForm(n int) string {
	var b strings.Builder
	b.WriteString(describeForm)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "&Names.member.%d=lb-%d", i, i)
	}
	return b.String()
}

func TestInputBounds(t *testing.T) {
	srv := newBoundsTestServer(t)
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255) }
	tests := []struct {
		name        string
		body        string
		wantCode    string
		wantMessage string // prefix
	}{
		// Go's url.ParseQuery stops at 10,000 parameters; kelb decodes
		// the whole form, so the operation answers.
		{name: "RegisterTargets with 6,000 targets reaches the operation", body: targetsForm(6000, ip),
			wantCode: "TooManyTargets", wantMessage: "6000 targets"},
		{name: "more parameters than any request has", body: describeForm + strings.Repeat("&a", maxFormParams),
			wantCode: "ValidationError", wantMessage: fmt.Sprintf("The request has more than %d parameters", maxFormParams)},
		{name: "list index overflows", body: describeForm + "&Names.member.99999999999999999999=x",
			wantCode: "ValidationError", wantMessage: "1 validation error detected: Value 'Names.member.99999999999999999999' at 'names' failed to satisfy constraint: Member must have list indexes from 1 to 65536"},
		{name: "list index zero", body: describeForm + "&Names.member.0=x", wantCode: "ValidationError"},
		{name: "list index with a leading zero", body: describeForm + "&Names.member.01=x", wantCode: "ValidationError"},
		{name: "list index not a number", body: describeForm + "&Names.member.one=x", wantCode: "ValidationError"},
		{name: "bad index beside a good one", body: describeForm + "&Names.member.1=a&Names.member.-1=b", wantCode: "ValidationError"},
		{name: "nested list index", body: targetsForm(1, ip) + "&Targets.member.4294967297.Id=10.0.0.1", wantCode: "ValidationError"},
		{name: "twenty names", body: namesForm(20), wantCode: "ShowNames"},
		{name: "twenty-one names", body: namesForm(21), wantCode: "ValidationError",
			wantMessage: "1 validation error detected: Value '[lb-1, lb-2, lb-3, lb-4, lb-5, lb-6, lb-7, lb-8, lb-9, lb-10, ... (11 more)]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 20"},
		{name: "semicolon separator", body: describeForm + ";Names.member.1=x", wantCode: "MalformedQueryString"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e := signedRequest{body: tt.body}.sendFull(t, srv)
			if status == http.StatusOK || e.Error.Code != tt.wantCode || !strings.HasPrefix(e.Error.Message, tt.wantMessage) {
				t.Errorf("got %d %s %.300q, want %s %.300q", status, e.Error.Code, e.Error.Message, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

// TestValidationErrorBounded sends a request near the body limit with a bad
// value in every member and checks that the error stays small.
func TestValidationErrorBounded(t *testing.T) {
	srv := newBoundsTestServer(t)
	long := strings.Repeat("x", 2000)
	body := strings.ReplaceAll(targetsForm(400, func(int) string { return "10.0.0.1" }), "Port=80", "Port="+long)
	if len(body) < 700_000 {
		t.Fatalf("request of %d bytes, want a large one", len(body))
	}
	status, e := signedRequest{body: body}.sendFull(t, srv)
	if status != http.StatusBadRequest || e.Error.Code != "ValidationError" {
		t.Fatalf("got %d %s, want 400 ValidationError", status, e.Error.Code)
	}
	if !strings.Contains(e.Error.Message, "'"+strings.Repeat("x", maxShownValueRunes)+"...'") {
		t.Errorf("message %.400q does not cut the long value", e.Error.Message)
	}
	if n := len(e.Error.Message); n > 8192 {
		t.Errorf("error message of %d bytes for a %d-byte request", n, len(body))
	}
	if !strings.HasPrefix(e.Error.Message, "400 validation errors detected: ") || !strings.HasSuffix(e.Error.Message, "; and 390 more") {
		t.Errorf("message %.200q...%q does not count every violation", e.Error.Message, e.Error.Message[max(0, len(e.Error.Message)-40):])
	}
}
