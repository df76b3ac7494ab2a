package elb

import (
	"strings"
	"testing"
)

func TestCheckConditionLimits(t *testing.T) {
	long := strings.Repeat("a", MaxConditionValueLen+1)
	tests := []struct {
		name  string
		conds []RuleCondition
		ok    bool
	}{
		{"host", []RuleCondition{{Field: "host-header", Values: []string{"a.example.com", "*.example.org"}}}, true},
		{"value of 128", []RuleCondition{{Field: "path-pattern", Values: []string{"/" + strings.Repeat("p", MaxConditionValueLen-1)}}}, true},
		{"value of 129", []RuleCondition{{Field: "path-pattern", Values: []string{long}}}, false},
		{"empty host", []RuleCondition{{Field: "host-header", Values: []string{""}}}, false},
		{"three values", []RuleCondition{{Field: "path-pattern", Values: []string{"/a", "/b", "/c"}}}, true},
		{"four values", []RuleCondition{{Field: "path-pattern", Values: []string{"/a", "/b", "/c", "/d"}}}, false},
		{"two path conditions", []RuleCondition{{Field: "path-pattern", Values: []string{"/a"}}, {Field: "path-pattern", Values: []string{"/b"}}}, false},
		{"two header conditions", []RuleCondition{{Field: "http-header", HeaderName: "X-A", Values: []string{"1"}}, {Field: "http-header", HeaderName: "X-B", Values: []string{"2"}}}, true},
		{"header name of 40", []RuleCondition{{Field: "http-header", HeaderName: strings.Repeat("h", MaxHeaderNameLen), Values: []string{"1"}}}, true},
		{"header name of 41", []RuleCondition{{Field: "http-header", HeaderName: strings.Repeat("h", MaxHeaderNameLen+1), Values: []string{"1"}}}, false},
		{"header name with a space", []RuleCondition{{Field: "http-header", HeaderName: "X A", Values: []string{"1"}}}, false},
		{"header value of 129", []RuleCondition{{Field: "http-header", HeaderName: "X-A", Values: []string{long}}}, false},
		{"methods", []RuleCondition{{Field: "http-request-method", Values: []string{"GET", "CUSTOM_METHOD", "M-SEARCH"}}}, true},
		{"lower-case method", []RuleCondition{{Field: "http-request-method", Values: []string{"get"}}}, false},
		{"method with a digit", []RuleCondition{{Field: "http-request-method", Values: []string{"GET2"}}}, false},
		{"method of 41", []RuleCondition{{Field: "http-request-method", Values: []string{strings.Repeat("M", MaxMethodLen+1)}}}, false},
		{"query pairs", []RuleCondition{{Field: "query-string", QueryPairs: []QueryStringPair{{Key: "v", Value: "1"}, {Value: "x"}}}}, true},
		{"query value of 129", []RuleCondition{{Field: "query-string", QueryPairs: []QueryStringPair{{Key: "v", Value: long}}}}, false},
		{"query key of 129", []RuleCondition{{Field: "query-string", QueryPairs: []QueryStringPair{{Key: long, Value: "1"}}}}, false},
		{"query pair without value", []RuleCondition{{Field: "query-string", QueryPairs: []QueryStringPair{{Key: "v"}}}}, false},
		{"four query pairs", []RuleCondition{{Field: "query-string", QueryPairs: []QueryStringPair{{Value: "1"}, {Value: "2"}, {Value: "3"}, {Value: "4"}}}}, false},
		{"source ip", []RuleCondition{{Field: "source-ip", Values: []string{"10.0.0.0/8", "2001:db8::/32"}}}, true},
		{"source ip without length", []RuleCondition{{Field: "source-ip", Values: []string{"10.0.0.1"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkConditionLimits(tt.conds)
			if (err == nil) != tt.ok {
				t.Fatalf("checkConditionLimits = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if e, _ := err.(*Error); e == nil || e.Code != CodeValidationError {
					t.Errorf("error %v, want a ValidationError", err)
				}
			}
		})
	}
}

func TestCheckFixedResponse(t *testing.T) {
	tests := []struct {
		name string
		f    *FixedResponseConfig
		ok   bool
	}{
		{"none", nil, false},
		{"status only", &FixedResponseConfig{StatusCode: "503"}, true},
		{"json", &FixedResponseConfig{StatusCode: "200", ContentType: "application/json", MessageBody: `{"ok":true}`}, true},
		{"every type", &FixedResponseConfig{StatusCode: "404", ContentType: "text/css"}, true},
		{"xml", &FixedResponseConfig{StatusCode: "200", ContentType: "application/xml"}, false},
		{"charset", &FixedResponseConfig{StatusCode: "200", ContentType: "text/plain; charset=utf-8"}, false},
		{"3XX", &FixedResponseConfig{StatusCode: "302"}, false},
		{"not a number", &FixedResponseConfig{StatusCode: "2x0"}, false},
		{"body of 1024", &FixedResponseConfig{StatusCode: "200", MessageBody: strings.Repeat("b", MaxFixedResponseBody)}, true},
		{"body of 1025", &FixedResponseConfig{StatusCode: "200", MessageBody: strings.Repeat("b", MaxFixedResponseBody+1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkFixedResponse(tt.f); (err == nil) != tt.ok {
				t.Fatalf("checkFixedResponse = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
