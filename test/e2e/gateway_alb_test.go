package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// albGateway is an ALB Gateway whose HTTP listener takes routes from every
// namespace.
const albGateway = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: alb
spec:
  gatewayClassName: aws-alb-gateway-class
  listeners:
  - name: http
    protocol: HTTP
    port: 80
    allowedRoutes:
      namespaces: {from: All}
`

// splitRoute sends requests with X-Version: v2 to Service v2 and splits
// the others 3:1 between v1 and v2.
const splitRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: split
spec:
  parentRefs: [{name: alb}]
  hostnames: [split.example]
  rules:
  - matches:
    - headers: [{name: X-Version, value: v2}]
    backendRefs: [{name: v2, port: 80}]
  - backendRefs:
    - {name: v1, port: 80, weight: 3}
    - {name: v2, port: 80, weight: 1}
`

// TestGatewayHTTPRoutes runs an ALB Gateway's routes with real traffic:
// a header match and a weighted split between two Services; a backendRef
// into another namespace refused (RefNotPermitted, 500) until a
// ReferenceGrant there permits it; and a route with a 307 redirect, which
// an ALB cannot give, refused (UnsupportedValue) without changing what
// the load balancer serves.
func TestGatewayHTTPRoutes(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, albDeployment("v1", 1)+"---\n"+albDeployment("v2", 1)+"---\n"+albGateway+"---\n"+splitRoute)
	v1 := waitReadyPods(t, env, ns, "app=v1", 1)[0]
	v2 := waitReadyPods(t, env, ns, "app=v2", 1)[0]
	host := gatewayAddress(t, env, ns, "alb")
	waitRouteCondition(t, env, "httproute", ns, "split", "Accepted", "True", "Accepted")
	url := "http://" + host + "/"
	// The cross-namespace backend's namespace lives as long as the test, so
	// that its removal does not change the load balancer while a later
	// subtest compares its configuration.
	backends := env.Namespace(t, "backends")

	t.Run("header and weights", func(t *testing.T) {
		framework.Eventually(t, 2*time.Minute, func() error {
			got := hostnames(t, env, url, 5, "-H", "Host: split.example", "-H", "X-Version: v2")
			if got[v2] != 5 {
				return fmt.Errorf("X-Version: v2 answered by %v, want %s only", got, v2)
			}
			return nil
		})
		got := hostnames(t, env, url, 60, "-H", "Host: split.example")
		if got[v1]+got[v2] != 60 || got[v2] == 0 || got[v1] <= got[v2] {
			t.Errorf("60 requests split 3:1 answered by %v, want both %s (more) and %s", got, v1, v2)
		}
		if code, _, err := env.Curl(t.Context(), url, "-H", "Host: other.example"); err != nil || code != 404 {
			t.Errorf("a host no route serves: %d %v, want 404", code, err)
		}
	})

	t.Run("cross-namespace backend", func(t *testing.T) {
		env.Apply(t, backends, albDeployment("api", 1))
		api := waitReadyPods(t, env, backends, "app=api", 1)[0]
		env.Apply(t, ns, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cross
spec:
  parentRefs: [{name: alb}]
  hostnames: [cross.example]
  rules:
  - backendRefs: [{name: api, namespace: %s, port: 80}]
`, backends))
		waitRouteCondition(t, env, "httproute", ns, "cross", "ResolvedRefs", "False", "RefNotPermitted")
		framework.Eventually(t, time.Minute, func() error {
			if code, _, err := env.Curl(t.Context(), url, "-H", "Host: cross.example"); err != nil || code != 500 {
				return fmt.Errorf("without a ReferenceGrant: %d %v, want 500", code, err)
			}
			return nil
		})
		env.Apply(t, backends, fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata:
  name: routes-from-%[1]s
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: %[1]s}]
  to: [{group: "", kind: Service}]
`, ns))
		waitRouteCondition(t, env, "httproute", ns, "cross", "ResolvedRefs", "True", "ResolvedRefs")
		framework.Eventually(t, 2*time.Minute, func() error {
			if got := hostnames(t, env, url, 3, "-H", "Host: cross.example"); got[api] != 3 {
				return fmt.Errorf("with a ReferenceGrant answered by %v, want %s", got, api)
			}
			return nil
		})
	})

	t.Run("malformed route", func(t *testing.T) {
		lb := loadBalancerByDNS(t, env, host)
		before := albConfig(t, env, lb.LoadBalancerArn)
		env.Apply(t, ns, `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bad
spec:
  parentRefs: [{name: alb}]
  hostnames: [bad.example]
  rules:
  - filters:
    - type: RequestRedirect
      requestRedirect: {statusCode: 307, hostname: elsewhere.example}
`)
		msg := waitRouteCondition(t, env, "httproute", ns, "bad", "Accepted", "False", "UnsupportedValue")
		if !strings.Contains(msg, "statusCode") {
			t.Errorf("the condition's message %q does not name the field", msg)
		}
		if after := albConfig(t, env, lb.LoadBalancerArn); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("the load balancer changed after a route it cannot serve:\nbefore %v\nafter  %v", before, after)
		}
		if got := hostnames(t, env, url, 3, "-H", "Host: split.example", "-H", "X-Version: v2"); got[v2] != 3 {
			t.Errorf("after the refused route, X-Version: v2 answered by %v", got)
		}
	})
}
