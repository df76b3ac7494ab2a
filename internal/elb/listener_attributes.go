package elb

import (
	"slices"
	"strconv"
	"strings"
)

// Listener attributes of application load balancers (HTTP and HTTPS
// listeners): response headers the load balancer adds or removes, and the
// names of the request headers it adds, as ALB's header modification
// documents them.
const (
	AttrResponseServerEnabled = "routing.http.response.server.enabled"
	AttrTLSVersionHeaderName  = "routing.http.request.x_amzn_tls_version.header_name"
	AttrTLSCipherHeaderName   = "routing.http.request.x_amzn_tls_cipher_suite.header_name"
)

// ResponseHeaderAttrs maps each routing.http.response.*.header_value
// attribute to the response header it sets. Empty (the default) leaves the
// header as the target sent it; a value is set on every response, replacing
// the target's.
var ResponseHeaderAttrs = map[string]string{
	"routing.http.response.strict_transport_security.header_value":        "Strict-Transport-Security",
	"routing.http.response.access_control_allow_origin.header_value":      "Access-Control-Allow-Origin",
	"routing.http.response.access_control_allow_methods.header_value":     "Access-Control-Allow-Methods",
	"routing.http.response.access_control_allow_headers.header_value":     "Access-Control-Allow-Headers",
	"routing.http.response.access_control_allow_credentials.header_value": "Access-Control-Allow-Credentials",
	"routing.http.response.access_control_expose_headers.header_value":    "Access-Control-Expose-Headers",
	"routing.http.response.access_control_max_age.header_value":           "Access-Control-Max-Age",
	"routing.http.response.content_security_policy.header_value":          "Content-Security-Policy",
	"routing.http.response.x_content_type_options.header_value":           "X-Content-Type-Options",
	"routing.http.response.x_frame_options.header_value":                  "X-Frame-Options",
}

// RequestHeaderNameAttrs maps each routing.http.request.*.header_name
// attribute to its default: the name of a request header the load
// balancer adds on HTTPS listeners. The TLS version and cipher suite
// headers are added when the load balancer's
// routing.http.x_amzn_tls_version_and_cipher_suite.enabled is true. The
// x_amzn_mtls_* names belong to mutual TLS: they are stored and validated
// here with the rest, and read by the code that adds those headers.
var RequestHeaderNameAttrs = map[string]string{
	AttrTLSVersionHeaderName: "X-Amzn-Tls-Version",
	AttrTLSCipherHeaderName:  "X-Amzn-Tls-Cipher-Suite",
	"routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name": "X-Amzn-Mtls-Clientcert-Serial-Number",
	"routing.http.request.x_amzn_mtls_clientcert_issuer.header_name":        "X-Amzn-Mtls-Clientcert-Issuer",
	"routing.http.request.x_amzn_mtls_clientcert_subject.header_name":       "X-Amzn-Mtls-Clientcert-Subject",
	"routing.http.request.x_amzn_mtls_clientcert_validity.header_name":      "X-Amzn-Mtls-Clientcert-Validity",
	"routing.http.request.x_amzn_mtls_clientcert_leaf.header_name":          "X-Amzn-Mtls-Clientcert-Leaf",
	"routing.http.request.x_amzn_mtls_clientcert.header_name":               "X-Amzn-Mtls-Clientcert",
}

// MaxHeaderNameAttrLen bounds a renamed request header.
const MaxHeaderNameAttrLen = 40

// responseHeaderChecks are the values each response header accepts,
// besides empty (not set).
var responseHeaderChecks = map[string]func(string) bool{
	"Strict-Transport-Security":        validHSTS,
	"Access-Control-Allow-Origin":      validOrigin,
	"Access-Control-Allow-Methods":     validMethodList,
	"Access-Control-Allow-Headers":     validTokenList,
	"Access-Control-Allow-Credentials": func(v string) bool { return v == "true" },
	"Access-Control-Expose-Headers":    validTokenList,
	"Access-Control-Max-Age": func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && n >= -1 && n <= 86400
	},
	"Content-Security-Policy": validHeaderValue,
	"X-Content-Type-Options":  func(v string) bool { return v == "nosniff" },
	"X-Frame-Options": func(v string) bool {
		if v == "DENY" || v == "SAMEORIGIN" {
			return true
		}
		o, ok := strings.CutPrefix(v, "ALLOW-FROM ")
		return ok && validOrigin(o) && o != "*"
	},
}

// applicationListenerAttrSpecs are the routing.http.* attributes of HTTP
// and HTTPS listeners with their defaults.
func applicationListenerAttrSpecs(m map[string]attrSpec) map[string]attrSpec {
	m[AttrResponseServerEnabled] = boolAttr(true)
	for k, h := range ResponseHeaderAttrs {
		check := responseHeaderChecks[h]
		m[k] = attrSpec{def: "", valid: func(v string) bool { return v == "" || validHeaderValue(v) && check(v) }}
	}
	for k, def := range RequestHeaderNameAttrs {
		m[k] = attrSpec{def: def, valid: func(v string) bool { return len(v) <= MaxHeaderNameAttrLen && validHeaderName(v) }}
	}
	return m
}

// validHeaderName accepts letters, digits and hyphens, not at either end.
func validHeaderName(v string) bool {
	if v == "" || v[0] == '-' || v[len(v)-1] == '-' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// validHeaderValue accepts visible ASCII and spaces, at most 1024 bytes.
func validHeaderValue(v string) bool {
	if len(v) > 1024 || strings.TrimSpace(v) != v {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// validHSTS accepts "max-age=<seconds>" with optional includeSubDomains
// and preload directives, separated by semicolons.
func validHSTS(v string) bool {
	maxAge := false
	for _, d := range strings.Split(v, ";") {
		d = strings.TrimSpace(d)
		switch {
		case d == "":
		case strings.HasPrefix(strings.ToLower(d), "max-age="):
			if _, err := strconv.ParseUint(d[len("max-age="):], 10, 31); err != nil || maxAge {
				return false
			}
			maxAge = true
		case strings.EqualFold(d, "includeSubDomains"), strings.EqualFold(d, "preload"):
		default:
			return false
		}
	}
	return maxAge
}

// validOrigin accepts "*" or an origin: http(s)://host[:port].
func validOrigin(v string) bool {
	if v == "*" {
		return true
	}
	rest, ok := strings.CutPrefix(v, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(v, "http://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#@ ") {
		return false
	}
	return true
}

var corsMethods = []string{"GET", "HEAD", "POST", "DELETE", "PUT", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// validMethodList accepts "*" or HTTP methods separated by commas.
func validMethodList(v string) bool {
	if v == "*" {
		return true
	}
	for _, m := range strings.Split(v, ",") {
		if !slices.Contains(corsMethods, strings.TrimSpace(m)) {
			return false
		}
	}
	return true
}

// validTokenList accepts "*" or header names separated by commas.
func validTokenList(v string) bool {
	if v == "*" {
		return true
	}
	for _, h := range strings.Split(v, ",") {
		if !isToken(strings.TrimSpace(h)) {
			return false
		}
	}
	return true
}
