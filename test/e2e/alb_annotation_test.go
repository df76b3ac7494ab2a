package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// plainIngress routes everything to Service web.
const plainIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// TestALBMalformedAnnotation gives a serving Ingress one malformed alb
// annotation at a time: each gets a FailedBuildModel Warning naming the
// annotation and its value, the load balancer's configuration stays as it
// was and keeps serving. A valid change afterwards is applied.
func TestALBMalformedAnnotation(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Apply(t, ns, albDeployment("web", 2)+"---\n"+plainIngress)
	host := ingressHostname(t, env, ns, "web")
	lb := loadBalancerByDNS(t, env, host)
	pods := waitReadyPods(t, env, ns, "app=web", 2)
	serves := func(t *testing.T) {
		t.Helper()
		framework.Eventually(t, time.Minute, func() error {
			if got := hostnames(t, env, "http://"+host+"/", 8); !cmp.Equal(keys(got), pods) {
				return fmt.Errorf("answers %v, want one from each pod of %q", got, pods)
			}
			return nil
		})
	}
	serves(t)
	before := albConfig(t, env, lb.LoadBalancerArn)

	for _, tc := range []struct {
		name, key, value string
	}{
		{"load balancer scheme", "alb.ingress.kubernetes.io/scheme", "public"},
		{"listen ports", "alb.ingress.kubernetes.io/listen-ports", `[{"HTTP": 8080`},
		{"health check interval", "alb.ingress.kubernetes.io/healthcheck-interval-seconds", "often"},
		{"success codes", "alb.ingress.kubernetes.io/success-codes", "200-oops"},
		{"load balancer attributes", "alb.ingress.kubernetes.io/load-balancer-attributes", "idle_timeout.timeout_seconds"},
		{"target group attributes", "alb.ingress.kubernetes.io/target-group-attributes", "deregistration_delay.timeout_seconds=soon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.Kubectl(t, "annotate", "-n", ns, "ingress", "web", tc.key+"="+tc.value)
			defer env.Kubectl(t, "annotate", "-n", ns, "ingress", "web", tc.key+"-")
			framework.Eventually(t, time.Minute, func() error {
				for _, e := range events(t, env, ns, "web") {
					if e.Type == "Warning" && e.Reason == "FailedBuildModel" && strings.Contains(e.Message, tc.key) && strings.Contains(e.Message, strconv.Quote(tc.value)) {
						return nil
					}
				}
				return fmt.Errorf("no FailedBuildModel Warning naming %s and %q; events:\n%s", tc.key, tc.value, ingressEvents(t, env, ns, "web"))
			})
			if diff := cmp.Diff(before, albConfig(t, env, lb.LoadBalancerArn)); diff != "" {
				t.Errorf("load balancer changed after a malformed %s (-before +after):\n%s", tc.key, diff)
			}
			serves(t)
		})
	}

	// Still reconciled: a valid change reaches the target group.
	env.Kubectl(t, "annotate", "-n", ns, "ingress", "web", "alb.ingress.kubernetes.io/healthcheck-interval-seconds=10")
	framework.Eventually(t, time.Minute, func() error {
		var out struct {
			TargetGroups []struct{ HealthCheckIntervalSeconds int }
		}
		if err := awsJSON(t, env, &out, "elbv2", "describe-target-groups", "--load-balancer-arn", lb.LoadBalancerArn); err != nil {
			return err
		}
		if len(out.TargetGroups) != 1 || out.TargetGroups[0].HealthCheckIntervalSeconds != 10 {
			return fmt.Errorf("target groups %+v, want one checked every 10 seconds", out.TargetGroups)
		}
		return nil
	})
	serves(t)
}

// albConfig returns what kelb server reports of load balancer arn's
// configuration, as the aws CLI prints it: the load balancer and its
// attributes, listeners, rules, target groups and their attributes. State
// is left out: it is not configuration.
func albConfig(t *testing.T, env *framework.Env, arn string) map[string]string {
	t.Helper()
	aws := func(args ...string) string {
		t.Helper()
		if !strings.Contains(strings.Join(args, " "), "--output") {
			args = append(args, "--output", "json")
		}
		out, err := env.Shell(t.Context(), "", append([]string{"aws", "elbv2"}, args...)...)
		if err != nil {
			t.Fatalf("aws elbv2 %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	cfg := map[string]string{
		"load balancer": aws("describe-load-balancers", "--load-balancer-arns", arn, "--query", "LoadBalancers[].[LoadBalancerName,DNSName,Scheme,Type,IpAddressType,AvailabilityZones]"),
		"attributes":    aws("describe-load-balancer-attributes", "--load-balancer-arn", arn),
		"listeners":     aws("describe-listeners", "--load-balancer-arn", arn),
		"target groups": aws("describe-target-groups", "--load-balancer-arn", arn),
	}
	for _, l := range strings.Fields(aws("describe-listeners", "--load-balancer-arn", arn, "--query", "Listeners[].ListenerArn", "--output", "text")) {
		cfg["rules of "+l] = aws("describe-rules", "--listener-arn", l)
	}
	for _, tg := range strings.Fields(aws("describe-target-groups", "--load-balancer-arn", arn, "--query", "TargetGroups[].TargetGroupArn", "--output", "text")) {
		cfg["attributes of "+tg] = aws("describe-target-group-attributes", "--target-group-arn", tg)
	}
	return cfg
}

// TestALBAWSOnlyAnnotations gives an Ingress annotations for AWS-only
// resources (WAF; security groups are kelb's own, through its EC2 API, and
// have tests of their own): its load balancer is made and serves,
// and an IgnoredAnnotation event names each of them.
func TestALBAWSOnlyAnnotations(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	ignored := map[string]string{
		"alb.ingress.kubernetes.io/wafv2-acl-arn": "arn:aws:wafv2:us-west-2:123456789012:regional/webacl/web/0123",
		"alb.ingress.kubernetes.io/waf-acl-id":    "web-acl-0123",
	}
	manifest := plainIngress
	for k, v := range ignored {
		manifest = strings.Replace(manifest, "  annotations:\n", fmt.Sprintf("  annotations:\n    %s: %s\n", k, v), 1)
	}
	env.Apply(t, ns, albDeployment("web", 1)+"---\n"+manifest)
	pods := waitReadyPods(t, env, ns, "app=web", 1)
	host := ingressHostname(t, env, ns, "web")
	framework.Eventually(t, time.Minute, func() error {
		if got := hostnames(t, env, "http://"+host+"/", 3); !cmp.Equal(keys(got), pods) {
			return fmt.Errorf("answers %v, want %q", got, pods)
		}
		return nil
	})
	for k, v := range ignored {
		framework.Eventually(t, time.Minute, func() error {
			for _, e := range events(t, env, ns, "web") {
				if e.Reason == "IgnoredAnnotation" && strings.Contains(e.Message, k) && strings.Contains(e.Message, strconv.Quote(v)) {
					return nil
				}
			}
			return fmt.Errorf("no IgnoredAnnotation event naming %s; events:\n%s", k, ingressEvents(t, env, ns, "web"))
		})
	}
}
