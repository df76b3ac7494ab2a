package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// groupIngresses are two Ingresses of one IngressGroup: alpha routes the
// host alpha.example.com to Service alpha, beta routes the path /beta (of
// any host) to Service beta.
const groupIngresses = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: alpha
  annotations:
    alb.ingress.kubernetes.io/group.name: %[1]s
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: alb
  rules:
  - host: alpha.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: beta
  annotations:
    alb.ingress.kubernetes.io/group.name: %[1]s
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /beta, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
`

// TestALBIngressGroup checks that two Ingresses of one group share one
// application load balancer whose host and path rules route to their two
// Services; that an exclusive annotation set differently by one member
// fails the group with a Warning on every member and leaves the load
// balancer serving; and that a member leaving takes only its own rule.
func TestALBIngressGroup(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	group := "shop-" + fmt.Sprint(time.Now().UnixNano()%100000)
	env.Apply(t, ns, albDeployment("alpha", 2)+"---\n"+albDeployment("beta", 2)+"---\n"+fmt.Sprintf(groupIngresses, group))

	host := ingressHostname(t, env, ns, "alpha")
	if other := ingressHostname(t, env, ns, "beta"); other != host {
		t.Fatalf("the group's Ingresses have different load balancers: alpha %s, beta %s", host, other)
	}
	lb := loadBalancerByDNS(t, env, host)
	if got := groupLoadBalancers(t, env, group); !cmp.Equal(got, []string{lb.LoadBalancerArn}) {
		t.Fatalf("load balancers of group %s: %q, want exactly %s", group, got, lb.LoadBalancerArn)
	}

	alpha := waitReadyPods(t, env, ns, "app=alpha", 2)
	beta := waitReadyPods(t, env, ns, "app=beta", 2)
	routes := func(t *testing.T, withBeta bool) {
		t.Helper()
		framework.Eventually(t, 2*time.Minute, func() error {
			if got := hostnames(t, env, "http://"+host+"/shop/cart", 8, "-H", "Host: alpha.example.com"); !cmp.Equal(keys(got), alpha) {
				return fmt.Errorf("host alpha.example.com answered by %v, want the pods of alpha %q", got, alpha)
			}
			wantBeta := beta
			if !withBeta {
				// Nothing else matches /beta/items of the load balancer's
				// own name: the default action's 404, no pod.
				wantBeta = []string{""}
			}
			if got := hostnames(t, env, "http://"+host+"/beta/items", 8); !cmp.Equal(keys(got), wantBeta) {
				return fmt.Errorf("path /beta/items answered by %v, want %q", got, wantBeta)
			}
			code, _, err := env.Curl(t.Context(), "http://"+host+"/other")
			if err != nil || code != 404 {
				return fmt.Errorf("/other without a matching rule: status %d, err %v; want the default 404", code, err)
			}
			return nil
		})
	}
	routes(t, true)

	t.Run("conflicting scheme fails the whole group", func(t *testing.T) {
		// Members that leave scheme out take the others' value; two members
		// that set it must agree.
		env.Kubectl(t, "annotate", "-n", ns, "ingress", "alpha", "alb.ingress.kubernetes.io/scheme=internal")
		env.Kubectl(t, "annotate", "-n", ns, "ingress", "beta", "alb.ingress.kubernetes.io/scheme=internet-facing")
		for _, name := range []string{"alpha", "beta"} {
			framework.Eventually(t, time.Minute, func() error {
				for _, e := range events(t, env, ns, name) {
					if e.Type == "Warning" && strings.Contains(e.Message, "alb.ingress.kubernetes.io/scheme") {
						return nil
					}
				}
				return fmt.Errorf("no Warning naming alb.ingress.kubernetes.io/scheme on ingress %s; events:\n%s", name, ingressEvents(t, env, ns, name))
			})
		}
		if got := loadBalancerByDNS(t, env, host); got != lb {
			t.Errorf("load balancer changed by a failed group: %+v, was %+v", got, lb)
		}
		routes(t, true)
		env.Kubectl(t, "annotate", "-n", ns, "ingress", "beta", "alb.ingress.kubernetes.io/scheme-")
		env.Kubectl(t, "annotate", "-n", ns, "ingress", "alpha", "alb.ingress.kubernetes.io/scheme-")
	})

	t.Run("a member leaves", func(t *testing.T) {
		env.Kubectl(t, "delete", "ingress", "-n", ns, "beta", "--timeout=60s")
		routes(t, false)
		if got := groupLoadBalancers(t, env, group); !cmp.Equal(got, []string{lb.LoadBalancerArn}) {
			t.Errorf("load balancers of group %s after beta left: %q, want %s", group, got, lb.LoadBalancerArn)
		}
	})
}

// groupLoadBalancers returns the ARNs of the load balancers tagged as the
// stack of IngressGroup group. Other tests run alongside and delete their
// load balancers, so one listed may be gone when its tags are asked for:
// then it lists again.
func groupLoadBalancers(t *testing.T, env *framework.Env, group string) []string {
	t.Helper()
	var found []string
	framework.Eventually(t, time.Minute, func() error {
		var arns []string
		for _, lb := range loadBalancers(t, env) {
			arns = append(arns, lb.LoadBalancerArn)
		}
		found = nil
		// DescribeTags takes at most 20 resources.
		for len(arns) > 0 {
			n := min(20, len(arns))
			var out struct {
				TagDescriptions []struct {
					ResourceArn string
					Tags        []struct{ Key, Value string }
				}
			}
			if err := awsJSON(t, env, &out, append([]string{"elbv2", "describe-tags", "--resource-arns"}, arns[:n]...)...); err != nil {
				return fmt.Errorf("describe-tags: %w", err)
			}
			for _, d := range out.TagDescriptions {
				for _, tag := range d.Tags {
					if tag.Key == "ingress.k8s.aws/stack" && tag.Value == group {
						found = append(found, d.ResourceArn)
					}
				}
			}
			arns = arns[n:]
		}
		return nil
	})
	return found
}
