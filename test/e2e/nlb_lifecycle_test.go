package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

const nlbLifecycleService = `apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
`

const annotationPrefix = "service.beta.kubernetes.io/"

// nlbSettings is what the test changes through annotations, as the aws
// CLI reports it.
type nlbSettings struct {
	LoadBalancerARN, TargetGroupARN string
	HealthCheckInterval             int
	CrossZone                       string
	ProxyProtocol                   string
	DeregistrationDelay             string
}

func nlbDescribe(ctx context.Context, env *framework.Env, lbARN, tgARN string) (nlbSettings, error) {
	s := nlbSettings{LoadBalancerARN: lbARN, TargetGroupARN: tgARN}
	var tgs struct {
		TargetGroups []struct {
			TargetGroupArn             string
			HealthCheckIntervalSeconds int
			LoadBalancerArns           []string
		}
	}
	if err := nlbAWS(ctx, env, &tgs, "describe-target-groups", "--load-balancer-arn", lbARN); err != nil {
		return s, err
	}
	if len(tgs.TargetGroups) != 1 {
		return s, fmt.Errorf("load balancer %s has %d target groups, want 1", lbARN, len(tgs.TargetGroups))
	}
	s.TargetGroupARN = tgs.TargetGroups[0].TargetGroupArn
	s.HealthCheckInterval = tgs.TargetGroups[0].HealthCheckIntervalSeconds
	type attrs struct{ Attributes []struct{ Key, Value string } }
	var lbAttrs, tgAttrs attrs
	if err := nlbAWS(ctx, env, &lbAttrs, "describe-load-balancer-attributes", "--load-balancer-arn", lbARN); err != nil {
		return s, err
	}
	if err := nlbAWS(ctx, env, &tgAttrs, "describe-target-group-attributes", "--target-group-arn", s.TargetGroupARN); err != nil {
		return s, err
	}
	for _, a := range lbAttrs.Attributes {
		if a.Key == "load_balancing.cross_zone.enabled" {
			s.CrossZone = a.Value
		}
	}
	for _, a := range tgAttrs.Attributes {
		switch a.Key {
		case "proxy_protocol_v2.enabled":
			s.ProxyProtocol = a.Value
		case "deregistration_delay.timeout_seconds":
			s.DeregistrationDelay = a.Value
		}
	}
	return s, nil
}

// nlbWrites sums kelb server's count of ELBv2 API requests that are not
// reads (every operation but Describe*), by operation.
func nlbWrites(ctx context.Context, env *framework.Env) (map[string]float64, error) {
	samples, err := env.Metrics(ctx, framework.ServerMetricsURL())
	if err != nil {
		return nil, err
	}
	writes := map[string]float64{}
	found := false
	for k, v := range samples {
		if !strings.HasPrefix(k, "kelb_api_requests_total{") {
			continue
		}
		found = true
		i := strings.Index(k, `operation="`)
		if i < 0 {
			continue
		}
		op := k[i+len(`operation="`):]
		op = op[:strings.IndexByte(op, '"')]
		if !strings.HasPrefix(op, "Describe") {
			writes[op] += v
		}
	}
	if !found {
		return nil, errors.New("kelb server exports no kelb_api_requests_total")
	}
	return writes, nil
}

// nlbReconciles returns kelb controller's count of finished reconciles of
// the service and targetgroupbinding controllers.
func nlbReconciles(ctx context.Context, env *framework.Env) (float64, error) {
	samples, err := env.Metrics(ctx, framework.ControllerMetricsURL())
	if err != nil {
		return 0, err
	}
	var n float64
	for k, v := range samples {
		if strings.HasPrefix(k, `controller_runtime_reconcile_total{controller="service"`) ||
			strings.HasPrefix(k, `controller_runtime_reconcile_total{controller="targetgroupbinding"`) {
			n += v
		}
	}
	return n, nil
}

// nlbSettle waits until kelb server's write count stays the same for a
// few seconds, and returns it.
func nlbSettle(t *testing.T, env *framework.Env) map[string]float64 {
	t.Helper()
	var last map[string]float64
	stable := 0
	framework.Eventually(t, 2*time.Minute, func() error {
		w, err := nlbWrites(t.Context(), env)
		if err != nil {
			return err
		}
		if cmp.Equal(w, last) {
			stable++
		} else {
			stable = 0
		}
		last = w
		if stable < 6 {
			return fmt.Errorf("kelb server still takes writes: %v", w)
		}
		return nil
	})
	return last
}

// TestNLBAnnotationsInPlaceRestartDelete changes a load balancer through
// annotations and checks that it is modified in place, that a malformed
// annotation is reported and changes nothing, that a restarted controller
// writes nothing, and that deleting the Service removes everything.
func TestNLBAnnotationsInPlaceRestartDelete(t *testing.T) {
	env := nlbEnv(t)
	const ns = "nlb-lifecycle"
	nlbNamespace(t, env, ns)
	env.Apply(t, ns, echoDeployment("web", 2))
	env.Apply(t, ns, nlbLifecycleService)
	host := nlbHostname(t, env, ns, "web")
	tgARN := nlbTargetGroupARN(t, env, ns, "web")
	lbARN, err := nlbLoadBalancerARN(t.Context(), env, host)
	if err != nil {
		t.Fatal(err)
	}
	before, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: %+v", before)

	env.Kubectl(t, "annotate", "-n", ns, "service/web",
		annotationPrefix+"aws-load-balancer-healthcheck-interval=5",
		annotationPrefix+"aws-load-balancer-attributes=load_balancing.cross_zone.enabled=true",
		annotationPrefix+"aws-load-balancer-target-group-attributes=deregistration_delay.timeout_seconds=30",
		annotationPrefix+"aws-load-balancer-proxy-protocol=*")
	want := nlbSettings{LoadBalancerARN: lbARN, TargetGroupARN: tgARN, HealthCheckInterval: 5,
		CrossZone: "true", ProxyProtocol: "true", DeregistrationDelay: "30"}
	framework.Eventually(t, time.Minute, func() error {
		got, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("after the annotation change (-want +got):\n%s", diff)
		}
		return nil
	})

	t.Run("malformed annotation", func(t *testing.T) {
		writes := nlbSettle(t, env)
		env.Kubectl(t, "annotate", "--overwrite", "-n", ns, "service/web", annotationPrefix+"aws-load-balancer-healthcheck-interval=often")
		framework.Eventually(t, time.Minute, func() error {
			for _, e := range nlbEvents(t, env, ns, "web") {
				if strings.HasPrefix(e, "Warning FailedBuildModel ") && strings.Contains(e, annotationPrefix+"aws-load-balancer-healthcheck-interval") && strings.Contains(e, `"often"`) {
					t.Logf("event: %s", e)
					return nil
				}
			}
			return errors.New("no Warning event naming the malformed annotation and its value")
		})
		if after := nlbSettle(t, env); !cmp.Equal(writes, after) {
			t.Errorf("kelb server took writes after a malformed annotation: %v -> %v", writes, after)
		}
		got, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the load balancer changed after a malformed annotation (-want +got):\n%s", diff)
		}
		env.Kubectl(t, "annotate", "--overwrite", "-n", ns, "service/web", annotationPrefix+"aws-load-balancer-healthcheck-interval=5")
	})

	t.Run("restart changes nothing", func(t *testing.T) {
		for range 2 {
			writes := nlbSettle(t, env)
			env.RestartController(t)
			// The new controller has reconciled every Service and binding
			// once the counts of its reconciles stop moving.
			var last float64 = -1
			stable := 0
			framework.Eventually(t, time.Minute, func() error {
				n, err := nlbReconciles(t.Context(), env)
				if err != nil {
					return err
				}
				if n == last && n > 0 {
					stable++
				} else {
					stable = 0
				}
				last = n
				if stable < 6 {
					return fmt.Errorf("kelb controller still reconciling (%v reconciles)", n)
				}
				return nil
			})
			after, err := nlbWrites(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(writes, after); diff != "" {
				t.Errorf("the restarted controller wrote through the ELBv2 API (-before +after):\n%s", diff)
			}
			t.Logf("restart: %v reconciles, writes by operation unchanged: %v", last, after)
			got, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the load balancer changed over a restart (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		var listeners struct {
			Listeners []struct{ ListenerArn string }
		}
		if err := nlbAWS(t.Context(), env, &listeners, "describe-listeners", "--load-balancer-arn", lbARN); err != nil {
			t.Fatal(err)
		}
		if len(listeners.Listeners) != 1 {
			t.Fatalf("%d listeners, want 1", len(listeners.Listeners))
		}
		env.Kubectl(t, "delete", "-n", ns, "service/web", "--timeout=60s")
		gone := func(what string, args ...string) {
			t.Helper()
			var out any
			err := nlbAWS(t.Context(), env, &out, args...)
			if err == nil || !strings.Contains(err.Error(), "NotFound") {
				t.Errorf("%s after the Service was deleted: %v (err %v), want NotFound", what, out, err)
			}
		}
		gone("load balancer", "describe-load-balancers", "--load-balancer-arns", lbARN)
		gone("listener", "describe-listeners", "--listener-arns", listeners.Listeners[0].ListenerArn)
		gone("target group", "describe-target-groups", "--target-group-arns", tgARN)
		out := env.Kubectl(t, "get", "targetgroupbindings", "-n", ns, "-o", "name")
		if strings.TrimSpace(out) != "" {
			t.Errorf("target group bindings left after the Service was deleted: %s", out)
		}
	})
}
