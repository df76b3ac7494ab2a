package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// nlbEnv returns the environment, skipping t when kelb controller does
// not run in it.
//
// The NLB tests that only look at their own namespace run in parallel;
// those that watch the whole environment (the ELBv2 API's write count
// over a controller restart) run alone, before them, as go test runs
// every sequential test first.
func nlbEnv(t *testing.T) *framework.Env {
	t.Helper()
	env := framework.Get(t)
	if !env.HasController(t) {
		t.Skip("kelb controller is not running in this environment")
	}
	return env
}

// nlbNamespace creates namespace ns with labels, deleted (and waited for,
// so that its load balancers are gone) when t ends.
func nlbNamespace(t *testing.T, env *framework.Env, ns string, labels ...string) {
	t.Helper()
	env.Kubectl(t, "create", "namespace", ns)
	if len(labels) > 0 {
		env.Kubectl(t, append([]string{"label", "namespace", ns}, labels...)...)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "namespace", ns, "--timeout=90s"); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
}

// nlbAWS runs the aws CLI inside the environment and decodes its JSON
// output into v.
func nlbAWS(ctx context.Context, env *framework.Env, v any, args ...string) error {
	out, err := env.Shell(ctx, "", append([]string{"aws", "elbv2", "--output", "json"}, args...)...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("aws elbv2 %s: decode %q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// nlbHealth is one entry of describe-target-health.
type nlbHealth struct {
	Target struct {
		Id               string
		Port             int
		AvailabilityZone string
	}
	HealthCheckPort string
	TargetHealth    struct {
		State, Reason, Description string
	}
}

func (h nlbHealth) String() string {
	return fmt.Sprintf("%s:%d %s", h.Target.Id, h.Target.Port, h.TargetHealth.State)
}

// nlbTargetHealth runs aws elbv2 describe-target-health, sorted by target.
func nlbTargetHealth(ctx context.Context, env *framework.Env, tgARN string) ([]nlbHealth, error) {
	var out struct{ TargetHealthDescriptions []nlbHealth }
	if err := nlbAWS(ctx, env, &out, "describe-target-health", "--target-group-arn", tgARN); err != nil {
		return nil, err
	}
	d := out.TargetHealthDescriptions
	sort.Slice(d, func(i, j int) bool { return d[i].String() < d[j].String() })
	return d, nil
}

// nlbHostname waits for Service ns/name to have a load balancer hostname.
func nlbHostname(t *testing.T, env *framework.Env, ns, name string) string {
	t.Helper()
	var host string
	framework.Eventually(t, time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "service", "-n", ns, name, "-o", "jsonpath={.status.loadBalancer.ingress[0].hostname}")
		if host = strings.TrimSpace(out); err != nil || host == "" {
			return fmt.Errorf("service %s/%s has no load balancer hostname yet (%v)", ns, name, err)
		}
		return nil
	})
	return host
}

// nlbTargetGroupARN waits for the Service's TargetGroupBinding (one port)
// and returns its target group.
func nlbTargetGroupARN(t *testing.T, env *framework.Env, ns, svc string) string {
	t.Helper()
	var arn string
	framework.Eventually(t, time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "targetgroupbindings", "-n", ns,
			"-o", `jsonpath={range .items[?(@.spec.serviceRef.name=="`+svc+`")]}{.spec.targetGroupARN}{"\n"}{end}`)
		arns := strings.Fields(out)
		if err != nil || len(arns) != 1 {
			return fmt.Errorf("target group bindings of %s/%s: %q (%v), want one", ns, svc, arns, err)
		}
		arn = arns[0]
		return nil
	})
	return arn
}

// nlbLoadBalancerARN returns the ARN of the load balancer whose DNS name
// is host.
func nlbLoadBalancerARN(ctx context.Context, env *framework.Env, host string) (string, error) {
	var out struct {
		LoadBalancers []struct{ LoadBalancerArn, DNSName string }
	}
	if err := nlbAWS(ctx, env, &out, "describe-load-balancers"); err != nil {
		return "", err
	}
	for _, lb := range out.LoadBalancers {
		if lb.DNSName == host {
			return lb.LoadBalancerArn, nil
		}
	}
	return "", fmt.Errorf("no load balancer has DNS name %s", host)
}

// nlbSpread runs the seed's loop of n curls to host and returns how many
// answers each pod gave (by the Hostname line) and the uniq -c table.
func nlbSpread(t *testing.T, env *framework.Env, host string, n int) (map[string]int, string) {
	t.Helper()
	script := fmt.Sprintf(`for i in $(seq 1 %d); do curl -s --max-time 5 %s | grep Hostname ; done | sort | uniq -c | sort -nr`, n, host)
	out, err := env.Shell(t.Context(), "", "bash", "-c", script)
	if err != nil {
		t.Fatalf("curl loop: %v", err)
	}
	counts := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var c int
		var pod string
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "%d Hostname: %s", &c, &pod); err == nil {
			counts[pod] = c
		}
	}
	return counts, out
}

// nlbEvents returns "Type Reason Message" of the events of Service
// ns/name.
func nlbEvents(t *testing.T, env *framework.Env, ns, name string) []string {
	t.Helper()
	out := env.Kubectl(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Service,involvedObject.name="+name,
		"-o", `jsonpath={range .items[*]}{.type} {.reason} {.message}{"\n"}{end}`)
	return strings.Split(strings.TrimSpace(out), "\n")
}
