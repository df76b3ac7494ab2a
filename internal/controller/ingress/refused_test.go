package ingress

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// An annotation that asks for authentication fails the
// build with an *AnnotationError marked Unimplemented, naming the Ingress,
// the annotation and its value, whether it is on the Ingress or on a
// backend Service: kelb refuses rather than serve the paths openly.
func TestRefusedAnnotations(t *testing.T) {
	const oidc = `{"issuer":"https://idp.example","authorizationEndpoint":"https://idp.example/auth","tokenEndpoint":"https://idp.example/token","userInfoEndpoint":"https://idp.example/userinfo","secretName":"oidc"}`
	cases := []struct {
		name, key, value string
		onService        bool
		useAction        bool
	}{
		{name: "authenticate-oidc action", key: AnnotationActionsPrefix + "custom", value: `{"type":"authenticate-oidc","authenticateOidcConfig":` + oidc + `}`, useAction: true},
		{name: "authenticate-cognito action", key: AnnotationActionsPrefix + "custom", value: `{"type":"authenticate-cognito"}`, useAction: true},
		{name: "jwt-validation action", key: AnnotationActionsPrefix + "custom", value: `{"type":"jwt-validation","jwtValidationConfig":{"issuer":"https://idp.example"}}`, useAction: true},
		{name: "authenticate action no backend uses", key: AnnotationActionsPrefix + "unused", value: `{"type":"authenticate-oidc"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ing, svcs := seedIngress(map[string]string{})
			if tc.onService {
				svcs[types.NamespacedName{Namespace: "web", Name: "web"}].Annotations = map[string]string{tc.key: tc.value}
			} else {
				ing.Annotations[tc.key] = tc.value
			}
			if tc.useAction {
				ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service = &networkingv1.IngressServiceBackend{Name: "custom", Port: networkingv1.ServiceBackendPort{Name: UseAnnotation}}
			}
			st, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions)
			var aerr *AnnotationError
			if !errors.As(err, &aerr) {
				t.Fatalf("Build = %v, %v; want an *AnnotationError", st, err)
			}
			if aerr.Key != tc.key || aerr.Value != tc.value || !aerr.Unimplemented {
				t.Errorf("error names %s=%q (unimplemented %v), want %s=%q unimplemented", aerr.Key, aerr.Value, aerr.Unimplemented, tc.key, tc.value)
			}
			msg := err.Error()
			for _, want := range []string{"web/site", tc.key, strconv.Quote(tc.value), "does not implement it yet and refuses"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
		})
	}
}

// Annotations that switch the protection off, or only tune an
// authentication nobody asked for, build; the tuning ones are reported as
// ignored.
func TestUnprotectedAnnotationsThatBuild(t *testing.T) {
	ing, svcs := seedIngress(map[string]string{
		AnnotationAuthType:              "none",
		AnnotationMutualAuthentication:  `[{"port":443,"mode":"off"}]`,
		AnnotationPrefix + "auth-scope": "openid",
	})
	st, err := Build(BuildInput{Group: GroupID{Namespace: "web", Name: "site"}, Members: []Member{{Ingress: ing}}, Services: svcs}, testOptions)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], AnnotationPrefix+"auth-scope") {
		t.Errorf("warnings %q, want one naming auth-scope", st.Warnings)
	}
}
