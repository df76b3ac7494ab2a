package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// transformsIngress routes paths that match a regex to Service web,
// rewriting the URL and the host header on the way, and sets listener
// response header attributes.
const transformsIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrites
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/use-regex-path-match: "true"
    alb.ingress.kubernetes.io/transforms.web: >
      [{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^/api/v[0-9]+/(.*)$","replace":"/$1"}]}},
       {"type":"host-header-rewrite","hostHeaderRewriteConfig":{"rewrites":[{"regex":"^(.+)\\.example\\.com$","replace":"$1.internal"}]}}]
    alb.ingress.kubernetes.io/listener-attributes.HTTP-80: routing.http.response.x_frame_options.header_value=DENY,routing.http.response.server.enabled=false
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: "/^/api/v[0-9]+/", pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}
`

// TestALBTransforms: a path matching the rule's regex reaches the pod with
// the URL and host the transforms made of them (the echo server says what
// it received); a path the regex does not match gets the default 404; both
// answers carry the listener's X-Frame-Options and no awselb Server
// header. A transform RE2 cannot run gets a Warning naming the annotation
// and leaves the load balancer serving as it was.
func TestALBTransforms(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, albDeployment("web", 1)+"---\n"+transformsIngress)
	waitReadyPods(t, env, ns, "app=web", 1)
	host := ingressHostname(t, env, ns, "rewrites")
	lb := loadBalancerByDNS(t, env, host)

	curl := func(path string) (string, error) {
		return env.Shell(t.Context(), "", "curl", "-sS", "-i", "--max-time", "5", "-H", "Host: shop.example.com", "http://"+host+path)
	}
	framework.Eventually(t, 2*time.Minute, func() error {
		out, err := curl("/api/v2/users?id=7")
		if err != nil {
			return err
		}
		for _, want := range []string{"HTTP/1.1 200", "\treal path=/users\n", "\tquery=id=7\n", "\thost=shop.internal\n", "X-Frame-Options: DENY"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("answer to /api/v2/users?id=7 lacks %q:\n%s", want, out)
			}
		}
		return nil
	})
	out, err := curl("/api/vX/users")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "HTTP/1.1 404") || !strings.Contains(out, "X-Frame-Options: DENY") || strings.Contains(out, "awselb") {
		t.Errorf("answer to a path the regex does not match, want 404 with X-Frame-Options and no Server:\n%s", out)
	}

	// A lookahead: refused with a Warning, nothing changes.
	before := albConfig(t, env, lb.LoadBalancerArn)
	const key = "alb.ingress.kubernetes.io/transforms.web"
	bad := `[{"type":"url-rewrite","urlRewriteConfig":{"rewrites":[{"regex":"^/(?!x)(.*)$","replace":"/$1"}]}}]`
	env.Kubectl(t, "annotate", "--overwrite", "-n", ns, "ingress", "rewrites", key+"="+bad)
	framework.Eventually(t, time.Minute, func() error {
		for _, e := range events(t, env, ns, "rewrites") {
			if e.Type == "Warning" && e.Reason == "FailedBuildModel" && strings.Contains(e.Message, key) && strings.Contains(e.Message, "(?!") {
				return nil
			}
		}
		return fmt.Errorf("no FailedBuildModel Warning naming %s; events:\n%s", key, ingressEvents(t, env, ns, "rewrites"))
	})
	if after := albConfig(t, env, lb.LoadBalancerArn); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("load balancer changed after a transform RE2 cannot run")
	}
	if out, err := curl("/api/v1/a"); err != nil || !strings.Contains(out, "\treal path=/a\n") {
		t.Errorf("after the refused change, /api/v1/a: %v\n%s", err, out)
	}
}
