package ingress

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// listenerAttributeFormats are the attributes of an ALB listener that the
// listener-attributes.<PROTOCOL>-<port> annotation may set, with the
// values kelb server accepts: the routing.http.* response header and
// request header name attributes of ALB's header modification. A key not
// listed, or a value not in its form, fails the build with a Warning
// naming the annotation, so nothing is deployed.
var listenerAttributeFormats = map[string]func(string) error{
	"routing.http.response.server.enabled":                                  oneOfFormat("true", "false"),
	"routing.http.response.strict_transport_security.header_value":          headerValueFormat(strictTransportSecurity),
	"routing.http.response.access_control_allow_origin.header_value":        headerValueFormat(nil),
	"routing.http.response.access_control_allow_methods.header_value":       headerValueFormat(nil),
	"routing.http.response.access_control_allow_headers.header_value":       headerValueFormat(nil),
	"routing.http.response.access_control_allow_credentials.header_value":   oneOfFormat("", "true"),
	"routing.http.response.access_control_expose_headers.header_value":      headerValueFormat(nil),
	"routing.http.response.access_control_max_age.header_value":             headerValueFormat(maxAge),
	"routing.http.response.content_security_policy.header_value":            headerValueFormat(nil),
	"routing.http.response.x_content_type_options.header_value":             oneOfFormat("", "nosniff"),
	"routing.http.response.x_frame_options.header_value":                    headerValueFormat(frameOptions),
	"routing.http.request.x_amzn_tls_version.header_name":                   headerNameFormat,
	"routing.http.request.x_amzn_tls_cipher_suite.header_name":              headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name": headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert_issuer.header_name":        headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert_subject.header_name":       headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert_validity.header_name":      headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert_leaf.header_name":          headerNameFormat,
	"routing.http.request.x_amzn_mtls_clientcert.header_name":               headerNameFormat,
}

func oneOfFormat(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("must be one of %q", values)
	}
}

// headerValueFormat accepts empty (no header) or printable ASCII that
// check, when given, accepts.
func headerValueFormat(check func(string) error) func(string) error {
	return func(v string) error {
		if v == "" {
			return nil
		}
		for i := 0; i < len(v); i++ {
			if v[i] < ' ' || v[i] > '~' {
				return fmt.Errorf("must be printable ASCII")
			}
		}
		if check != nil {
			return check(v)
		}
		return nil
	}
}

func strictTransportSecurity(v string) error {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), "max-age=") {
		return fmt.Errorf(`must start with "max-age=<seconds>"`)
	}
	return nil
}

func maxAge(v string) error {
	if n, err := strconv.Atoi(v); err != nil || n < -1 || n > 86400 {
		return fmt.Errorf("must be a number of seconds up to 86400")
	}
	return nil
}

func frameOptions(v string) error {
	if v == "DENY" || v == "SAMEORIGIN" || strings.HasPrefix(v, "ALLOW-FROM ") {
		return nil
	}
	return fmt.Errorf(`must be DENY, SAMEORIGIN or "ALLOW-FROM <origin>"`)
}

func headerNameFormat(v string) error {
	if v == "" || len(v) > 40 || v[0] == '-' || v[len(v)-1] == '-' {
		return fmt.Errorf("must be a header name of 1 to 40 letters, digits and hyphens")
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("must be a header name of 1 to 40 letters, digits and hyphens")
		}
	}
	return nil
}

// escapedStringMap reads "k1=v1,k2=v2" where "\," is a comma inside a
// value, as the AWS Load Balancer Controller reads listener-attributes.
func escapedStringMap(a annotations, key string) (map[string]string, error) {
	raw, ok := a.Str(key)
	if !ok {
		return nil, nil
	}
	var items []string
	var cur strings.Builder
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '\\' && i+1 < len(raw) && raw[i+1] == ',':
			cur.WriteByte(',')
			i++
		case raw[i] == ',':
			items = append(items, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(raw[i])
		}
	}
	items = append(items, cur.String())
	out := make(map[string]string, len(items))
	for _, item := range items {
		k, v, found := strings.Cut(item, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !found || k == "" {
			return nil, a.Fail(key, fmt.Sprintf("%q is not key=value", item))
		}
		if _, dup := out[k]; dup {
			return nil, a.Fail(key, fmt.Sprintf("key %q given twice", k))
		}
		f, known := listenerAttributeFormats[k]
		if !known {
			return nil, a.Fail(key, fmt.Sprintf("%q is not an attribute of ALB listeners", k))
		}
		if err := f(v); err != nil {
			return nil, a.Fail(key, fmt.Sprintf("%s=%s: %v", k, v, err))
		}
		out[k] = v
	}
	return out, nil
}

// listenerAttributes merges the listener-attributes.<PROTOCOL>-<port>
// annotations of the group's members; a key given two values is a
// conflict.
func (b *builder) listenerAttributes(protocol string, port int32, members []Member) (map[string]string, error) {
	annKey := fmt.Sprintf("%s%s-%d", AnnotationListenerAttributesPrefix, protocol, port)
	out := map[string]string{}
	from := map[string]string{}
	for _, m := range members {
		kv, err := escapedStringMap(annotations(m.Ingress.Annotations), annKey)
		if err != nil {
			return nil, memberError(m.Ingress, err)
		}
		for k, v := range kv {
			if have, ok := out[k]; ok && have != v {
				return nil, &ConflictError{Group: b.stackID, Setting: fmt.Sprintf("annotation %s key %s", annKey, k),
					Values: map[string]string{from[k]: have, key(m.Ingress): v}}
			}
			out[k], from[k] = v, key(m.Ingress)
		}
	}
	return out, nil
}
