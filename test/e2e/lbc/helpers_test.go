package lbc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// awsJSON runs `aws elbv2|ec2 args... --output json` inside the
// environment and decodes its answer into v.
func awsJSON(ctx context.Context, env *framework.Env, v any, args ...string) error {
	out, err := env.Shell(ctx, "", append(append([]string{"aws"}, args...), "--output", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("aws %s: %v: %q", strings.Join(args, " "), err, out)
	}
	return nil
}

type loadBalancer struct {
	LoadBalancerArn, LoadBalancerName, DNSName, Type, Scheme string
	SecurityGroups                                           []string
}

// loadBalancers lists kelb's load balancers.
func loadBalancers(ctx context.Context, env *framework.Env) ([]loadBalancer, error) {
	var out struct{ LoadBalancers []loadBalancer }
	err := awsJSON(ctx, env, &out, "elbv2", "describe-load-balancers")
	return out.LoadBalancers, err
}

// targetGroupsOf returns the ARNs of the target groups of load balancer
// lbARN.
func targetGroupsOf(t *testing.T, env *framework.Env, lbARN string) []string {
	t.Helper()
	var out struct {
		TargetGroups []struct{ TargetGroupArn string }
	}
	if err := awsJSON(t.Context(), env, &out, "elbv2", "describe-target-groups", "--load-balancer-arn", lbARN); err != nil {
		t.Fatalf("describe-target-groups of %s: %v", lbARN, err)
	}
	var arns []string
	for _, tg := range out.TargetGroups {
		arns = append(arns, tg.TargetGroupArn)
	}
	return arns
}

// loadBalancerByHostname waits for the load balancer whose DNS name is
// host.
func loadBalancerByHostname(t *testing.T, env *framework.Env, host string) loadBalancer {
	t.Helper()
	var found loadBalancer
	framework.Eventually(t, time.Minute, func() error {
		lbs, err := loadBalancers(t.Context(), env)
		if err != nil {
			return err
		}
		for _, lb := range lbs {
			if lb.DNSName == host {
				found = lb
				return nil
			}
		}
		return fmt.Errorf("no load balancer has DNS name %s", host)
	})
	return found
}

// hostnameOf waits for object kind ns/name (service, ingress) to have a
// load balancer hostname in its status.
func hostnameOf(t *testing.T, env *framework.Env, kind, ns, name string) string {
	t.Helper()
	var host string
	framework.Eventually(t, 3*time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", kind, "-n", ns, name, "-o", "jsonpath={.status.loadBalancer.ingress[0].hostname}")
		if host = strings.TrimSpace(out); err != nil || host == "" {
			return fmt.Errorf("%s %s/%s has no load balancer hostname yet (%v)", kind, ns, name, err)
		}
		return nil
	})
	return host
}

type targetHealth struct {
	Target struct {
		Id               string
		Port             int
		AvailabilityZone string
	}
	HealthCheckPort string
	TargetHealth    struct{ State string }
}

// targetHealthOf returns "id:port zone state" for every target of the
// only target group of load balancer lbARN, sorted, and the health
// descriptions themselves.
func targetHealthOf(ctx context.Context, env *framework.Env, lbARN string) ([]string, []targetHealth, error) {
	var tgs struct {
		TargetGroups []struct{ TargetGroupArn string }
	}
	if err := awsJSON(ctx, env, &tgs, "elbv2", "describe-target-groups", "--load-balancer-arn", lbARN); err != nil {
		return nil, nil, err
	}
	if len(tgs.TargetGroups) != 1 {
		return nil, nil, fmt.Errorf("load balancer %s has %d target groups, want 1", lbARN, len(tgs.TargetGroups))
	}
	var out struct{ TargetHealthDescriptions []targetHealth }
	if err := awsJSON(ctx, env, &out, "elbv2", "describe-target-health", "--target-group-arn", tgs.TargetGroups[0].TargetGroupArn); err != nil {
		return nil, nil, err
	}
	var lines []string
	for _, d := range out.TargetHealthDescriptions {
		lines = append(lines, fmt.Sprintf("%s:%d %s %s", d.Target.Id, d.Target.Port, d.Target.AvailabilityZone, d.TargetHealth.State))
	}
	sort.Strings(lines)
	return lines, out.TargetHealthDescriptions, nil
}

// nodesByName returns the environment's nodes.
func nodesByName(t *testing.T, env *framework.Env) map[string]corev1.Node {
	t.Helper()
	var list corev1.NodeList
	env.GetJSON(t, &list, "nodes")
	out := map[string]corev1.Node{}
	for _, n := range list.Items {
		out[n.Name] = n
	}
	return out
}

// readyPods waits for n Ready pods matching selector in ns and returns
// them.
func readyPods(t *testing.T, env *framework.Env, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	framework.Eventually(t, 2*time.Minute, func() error {
		var list corev1.PodList
		env.GetJSON(t, &list, "pods", "-n", ns, "-l", selector)
		ready = ready[:0]
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = append(ready, p)
				}
			}
		}
		if len(ready) != n {
			return fmt.Errorf("%d Ready pods of %s in %s, want %d", len(ready), selector, ns, n)
		}
		return nil
	})
	return ready
}

// waitGone deletes nothing: it waits until kelb has no load balancer lb,
// none of the target groups tgs and none of the security groups lb had
// (but the controller's shared backend group), as the controller's
// finalizers leave it once the Kubernetes objects are deleted.
func waitGone(t *testing.T, env *framework.Env, lb loadBalancer, tgs []string) {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func() error {
		lbs, err := loadBalancers(t.Context(), env)
		if err != nil {
			return err
		}
		for _, l := range lbs {
			if l.LoadBalancerArn == lb.LoadBalancerArn {
				return fmt.Errorf("load balancer %s still exists", lb.LoadBalancerName)
			}
		}
		var out struct {
			TargetGroups []struct{ TargetGroupArn string }
		}
		if err := awsJSON(t.Context(), env, &out, "elbv2", "describe-target-groups"); err != nil {
			return err
		}
		for _, tg := range out.TargetGroups {
			if slices.Contains(tgs, tg.TargetGroupArn) {
				return fmt.Errorf("target group %s still exists", tg.TargetGroupArn)
			}
		}
		return nil
	})
	// The frontend security group the controller made for the load
	// balancer goes with it.
	for _, sg := range lb.SecurityGroups {
		framework.Eventually(t, time.Minute, func() error {
			var out struct {
				SecurityGroups []struct{ GroupId, GroupName string }
			}
			if err := awsJSON(t.Context(), env, &out, "ec2", "describe-security-groups", "--filters", "Name=group-id,Values="+sg); err != nil {
				return err
			}
			for _, g := range out.SecurityGroups {
				if strings.HasPrefix(g.GroupName, "k8s-traffic-") {
					return nil // the shared backend group stays while others use it
				}
				return fmt.Errorf("security group %s (%s) of the deleted load balancer still exists", g.GroupId, g.GroupName)
			}
			return nil
		})
	}
}

// readOnly reports whether an AWS operation only reads.
func readOnly(op string) bool {
	for _, p := range []string{"Describe", "Get", "List"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// apiCalls returns the controller's AWS calls so far by
// "service|operation|status" (its aws_api_calls_total), and its
// successful reconciles of controller.
func apiCalls(t *testing.T, env *framework.Env, controller string) (calls map[string]float64, reconciles float64) {
	t.Helper()
	m, err := env.Metrics(t.Context(), framework.ControllerMetricsURL())
	if err != nil {
		t.Fatalf("the controller's metrics: %v", err)
	}
	calls = map[string]float64{}
	for k, v := range m {
		if strings.HasPrefix(k, "aws_api_calls_total{") {
			calls[labelOf(k, "service")+"|"+labelOf(k, "operation")+"|"+labelOf(k, "status_code")] += v
		}
		if strings.HasPrefix(k, "controller_runtime_reconcile_total{") && labelOf(k, "controller") == controller && labelOf(k, "result") == "success" {
			reconciles += v
		}
	}
	return calls, reconciles
}

// labelOf returns the value of label name in a sample name with labels.
func labelOf(sample, name string) string {
	_, rest, ok := strings.Cut(sample, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// checkSteady makes the controller reconcile object kind ns/name again
// (an annotation of its own changes) and checks that it changes nothing
// in kelb: every AWS call of that reconcile only reads. A call that
// writes means the controller found kelb's answer different from what it
// asked for: a divergence from AWS.
func checkSteady(t *testing.T, env *framework.Env, kind, ns, name, controller string) {
	t.Helper()
	before, n := apiCalls(t, env, controller)
	env.Kubectl(t, "annotate", "--overwrite", kind, "-n", ns, name, "kelb.io/e2e-touch="+time.Now().Format("150405.000000"))
	var after map[string]float64
	framework.Eventually(t, time.Minute, func() error {
		var m float64
		after, m = apiCalls(t, env, controller)
		if m <= n {
			return fmt.Errorf("the controller has not reconciled %s %s/%s again", kind, ns, name)
		}
		return nil
	})
	var writes []string
	for k, v := range after {
		op := strings.Split(k, "|")[1]
		if !readOnly(op) && v > before[k] {
			writes = append(writes, fmt.Sprintf("%s x%v", k, v-before[k]))
		}
	}
	sort.Strings(writes)
	if len(writes) > 0 {
		t.Errorf("reconciling the unchanged %s %s/%s, the controller changed kelb's resources: %s", kind, ns, name, strings.Join(writes, ", "))
	}
}
