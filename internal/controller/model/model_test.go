package model

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNetworkForward(t *testing.T) {
	a := NetworkForward("shop/web:80")
	tg, ok := a.SingleTargetGroup()
	if !ok || tg != "shop/web:80" {
		t.Fatalf("SingleTargetGroup of NetworkForward = %q, %v", tg, ok)
	}
	for _, a := range []Action{
		{Type: ActionFixedResponse, FixedResponse: &FixedResponseAction{StatusCode: "404"}},
		{Type: ActionForward, Forward: &ForwardAction{TargetGroups: []WeightedTargetGroup{{ARN: "arn:x", Weight: 1}}}},
		{Type: ActionForward, Forward: &ForwardAction{TargetGroups: []WeightedTargetGroup{{TargetGroup: "a", Weight: 1}, {TargetGroup: "b", Weight: 1}}}},
	} {
		if tg, ok := a.SingleTargetGroup(); ok {
			t.Errorf("SingleTargetGroup of %+v = %q, true; want false", a, tg)
		}
	}
}

// TestStackJSON checks that a stack survives JSON, the form golden tests
// and dry runs read, and that OIDC client credentials never reach it.
func TestStackJSON(t *testing.T) {
	in := Stack{
		ID: "shop/web",
		LoadBalancer: LoadBalancer{Name: "k8s-shop-web-0123456789", Type: TypeApplication, Scheme: "internal",
			IPAddressType: "ipv4", Tags: map[string]string{TagCluster: "kelb"}},
		Listeners: []Listener{{
			Port: 443, Protocol: "HTTPS", SSLPolicy: "ELBSecurityPolicy-2016-08",
			Certificates:  []Certificate{{ARN: "arn:aws:acm:us-west-2:000000000000:certificate/1"}, {Secret: "shop/tls"}},
			DefaultAction: Action{Type: ActionFixedResponse, FixedResponse: &FixedResponseAction{StatusCode: "404"}},
			Rules: []Rule{{
				Priority:   1,
				Conditions: []Condition{{Field: "path-pattern", Values: []string{"/*"}}},
				Action:     NetworkForward("shop/web-web:80"),
				Transforms: []Transform{{Type: "url-rewrite", Rewrites: []Rewrite{{Regex: "^/a/(.*)$", Replace: "/$1"}}}},
			}},
			Tags: map[string]string{},
		}},
		TargetGroups: []TargetGroup{{ResourceID: "shop/web-web:80", Name: "k8s-shop-web-0123456789", Protocol: "HTTP",
			ProtocolVersion: "HTTP1", Port: 8080, TargetType: "ip", IPAddressType: "ipv4",
			HealthCheck: HealthCheck{Protocol: "HTTP", Port: "traffic-port", Path: "/", HTTPCode: "200", IntervalSeconds: 15,
				TimeoutSeconds: 5, HealthyThreshold: 2, UnhealthyThreshold: 2}, Tags: map[string]string{}}},
		Warnings: []string{"x"},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Stack
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, out); d != "" {
		t.Errorf("stack changed through JSON (-in +out):\n%s", d)
	}
	if in.TargetGroup("shop/web-web:80") == nil || in.TargetGroup("none") != nil {
		t.Error("Stack.TargetGroup finds the wrong target groups")
	}

	auth := Action{Type: ActionForward, Authenticate: &AuthenticateAction{Type: AuthenticateOIDC,
		OIDC: &OIDCAuth{Issuer: "https://idp", Secret: "shop/oidc", ClientID: "id", ClientSecret: "s3cret"}}}
	b, err = json.Marshal(auth)
	if err != nil {
		t.Fatal(err)
	}
	var back Action
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Authenticate.OIDC.ClientID != "" || back.Authenticate.OIDC.ClientSecret != "" {
		t.Errorf("OIDC client credentials reached the stack's JSON: %s", b)
	}
}
