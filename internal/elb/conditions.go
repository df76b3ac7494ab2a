package elb

import (
	"net/netip"
	"slices"
)

// Limits of ALB rule conditions and fixed responses, as the ALB
// documentation states them. Each is checked by a pure function that
// returns the ValidationError AWS answers with.
const (
	// MaxConditionValueLen bounds a host-header, path-pattern,
	// http-header or http-request-method value, and a query-string key
	// or value.
	MaxConditionValueLen = 128
	// MaxConditionValuesPerCondition bounds the values (match
	// evaluations) of one condition.
	MaxConditionValuesPerCondition = 3
	// MaxHeaderNameLen bounds an http-header condition's header name.
	MaxHeaderNameLen = 40
	// MaxMethodLen bounds an http-request-method value.
	MaxMethodLen = 40
	// MaxFixedResponseBody bounds a fixed response's message body.
	MaxFixedResponseBody = 1024
)

// singleConditionFields may appear at most once in a rule; http-header
// and query-string may repeat.
var singleConditionFields = []string{"host-header", "path-pattern", "http-request-method", "source-ip"}

// regexConditionFields are the fields whose conditions may have
// RegexValues.
var regexConditionFields = []string{"host-header", "path-pattern", "http-header"}

// FixedResponseContentTypes are the content types a fixed response may
// have.
var FixedResponseContentTypes = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}

// checkConditionLimits checks the per-condition limits of a rule's
// conditions (the per-rule quotas are checkConditionQuotas').
func checkConditionLimits(conds []RuleCondition) error {
	seen := map[string]bool{}
	for _, c := range conds {
		if slices.Contains(singleConditionFields, c.Field) {
			if seen[c.Field] {
				return validationf("A rule can only have one '%s' condition", c.Field)
			}
			seen[c.Field] = true
		}
		if len(c.RegexValues) > 0 {
			if !slices.Contains(regexConditionFields, c.Field) {
				return validationf("RegexValues can only be specified for host-header, path-pattern and http-header conditions, not '%s'", c.Field)
			}
			if len(c.Values) > 0 {
				return validationf("A '%s' condition can have Values or RegexValues, not both", c.Field)
			}
		}
		if n := len(c.Values) + len(c.QueryPairs) + len(c.RegexValues); n > MaxConditionValuesPerCondition {
			return validationf("A '%s' condition can only have '%d' values, not %d", c.Field, MaxConditionValuesPerCondition, n)
		}
		if c.Field == "http-header" {
			if len(c.HeaderName) > MaxHeaderNameLen {
				return validationf("The HTTP header name '%s' is longer than %d characters", c.HeaderName, MaxHeaderNameLen)
			}
			if !isToken(c.HeaderName) {
				return validationf("The HTTP header name '%s' contains characters that are not valid in a header name", c.HeaderName)
			}
		}
		for _, v := range c.Values {
			if err := checkConditionValue(c.Field, v); err != nil {
				return err
			}
		}
		for _, v := range c.RegexValues {
			if v == "" {
				return validationf("A '%s' condition regex value cannot be empty", c.Field)
			}
			if len(v) > MaxRegexValueLen {
				return validationf("A '%s' condition regex value cannot be longer than %d characters", c.Field, MaxRegexValueLen)
			}
			if _, err := CompileRegex(v); err != nil {
				return err
			}
		}
		for _, q := range c.QueryPairs {
			if q.Value == "" {
				return validationf("A query-string condition value must have a value")
			}
			if len(q.Key) > MaxConditionValueLen || len(q.Value) > MaxConditionValueLen {
				return validationf("A query-string key or value cannot be longer than %d characters", MaxConditionValueLen)
			}
		}
	}
	return nil
}

func checkConditionValue(field, v string) error {
	switch field {
	case "source-ip":
		if _, err := netip.ParsePrefix(v); err != nil {
			return validationf("The source IP '%s' is not a valid CIDR block", v)
		}
		return nil
	case "http-request-method":
		if len(v) > MaxMethodLen {
			return validationf("The HTTP request method '%s' is longer than %d characters", v, MaxMethodLen)
		}
		for _, r := range v {
			if !(r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
				return validationf("The HTTP request method '%s' can only contain A-Z, hyphens and underscores", v)
			}
		}
		return nil
	}
	if v == "" {
		return validationf("A '%s' condition value cannot be empty", field)
	}
	if len(v) > MaxConditionValueLen {
		return validationf("A '%s' condition value cannot be longer than %d characters", field, MaxConditionValueLen)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110), as header names
// are.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case slices.Contains([]byte("!#$%&'*+-.^_`|~"), c):
		default:
			return false
		}
	}
	return true
}

// checkFixedResponse checks a fixed-response action's configuration.
func checkFixedResponse(f *FixedResponseConfig) error {
	if f == nil || f.StatusCode == "" {
		return validationf("A fixed-response action needs a fixed-response configuration with a status code")
	}
	if len(f.StatusCode) != 3 || (f.StatusCode[0] != '2' && f.StatusCode[0] != '4' && f.StatusCode[0] != '5') ||
		f.StatusCode[1] < '0' || f.StatusCode[1] > '9' || f.StatusCode[2] < '0' || f.StatusCode[2] > '9' {
		return validationf("The fixed-response status code '%s' is not valid; use a 2XX, 4XX or 5XX code", f.StatusCode)
	}
	if f.ContentType != "" && !slices.Contains(FixedResponseContentTypes, f.ContentType) {
		return validationf("The fixed-response content type '%s' is not valid; use one of %v", f.ContentType, FixedResponseContentTypes)
	}
	if len(f.MessageBody) > MaxFixedResponseBody {
		return validationf("The fixed-response message body cannot be longer than %d characters", MaxFixedResponseBody)
	}
	return nil
}
