package deploy

import "github.com/kelb-io/kelb/internal/controller/model"

// applicationListenerAttributes are the routing.http.* attributes of an
// application load balancer's listener (ALB's header modification) with
// the value each has when nothing sets it: an attribute a stack stops
// setting goes back to it.
var applicationListenerAttributes = map[string]string{
	"routing.http.response.server.enabled":                                  "true",
	"routing.http.response.strict_transport_security.header_value":          "",
	"routing.http.response.access_control_allow_origin.header_value":        "",
	"routing.http.response.access_control_allow_methods.header_value":       "",
	"routing.http.response.access_control_allow_headers.header_value":       "",
	"routing.http.response.access_control_allow_credentials.header_value":   "",
	"routing.http.response.access_control_expose_headers.header_value":      "",
	"routing.http.response.access_control_max_age.header_value":             "",
	"routing.http.response.content_security_policy.header_value":            "",
	"routing.http.response.x_content_type_options.header_value":             "",
	"routing.http.response.x_frame_options.header_value":                    "",
	"routing.http.request.x_amzn_tls_version.header_name":                   "X-Amzn-Tls-Version",
	"routing.http.request.x_amzn_tls_cipher_suite.header_name":              "X-Amzn-Tls-Cipher-Suite",
	"routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name": "X-Amzn-Mtls-Clientcert-Serial-Number",
	"routing.http.request.x_amzn_mtls_clientcert_issuer.header_name":        "X-Amzn-Mtls-Clientcert-Issuer",
	"routing.http.request.x_amzn_mtls_clientcert_subject.header_name":       "X-Amzn-Mtls-Clientcert-Subject",
	"routing.http.request.x_amzn_mtls_clientcert_validity.header_name":      "X-Amzn-Mtls-Clientcert-Validity",
	"routing.http.request.x_amzn_mtls_clientcert_leaf.header_name":          "X-Amzn-Mtls-Clientcert-Leaf",
	"routing.http.request.x_amzn_mtls_clientcert.header_name":               "X-Amzn-Mtls-Clientcert",
}

// resetListenerAttributes returns changed plus, for an application load
// balancer's listener, every routing.http.* attribute want no longer sets
// and have holds away from its default, with that default.
func resetListenerAttributes(changed, want, have map[string]string, lbType string) map[string]string {
	if lbType != model.TypeApplication {
		return changed
	}
	for k, def := range applicationListenerAttributes {
		if _, wanted := want[k]; wanted {
			continue
		}
		if v, ok := have[k]; ok && v != def {
			if changed == nil {
				changed = map[string]string{}
			}
			changed[k] = def
		}
	}
	return changed
}
