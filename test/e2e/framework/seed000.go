package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// seed000Targets are the seed's commands, as written, that list the
// targets of the ui-nlb load balancer.
const seed000Targets = `ALB_ARN=$(aws elbv2 describe-load-balancers --query 'LoadBalancers[?contains(LoadBalancerName, ` + "`k8s-ui-uinlb`" + `) == ` + "`true`" + `].LoadBalancerArn' | jq -r '.[0]')
TARGET_GROUP_ARN=$(aws elbv2 describe-target-groups --load-balancer-arn $ALB_ARN | jq -r '.TargetGroups[0].TargetGroupArn')
aws elbv2 describe-target-health --target-group-arn $TARGET_GROUP_ARN`

// Seed000 follows seed 000's walkthrough of an NLB in IP mode, as
// written: the Service's load balancer registers each pod of the ui
// Deployment as a target, follows kubectl scale, and answers on its DNS
// name. It returns that name. The namespace ui is deleted when t ends.
// Every environment runs it: one kelb server, or a fleet (--lb-nodes).
func Seed000(t *testing.T, env *Env) (hostname string) {
	t.Helper()
	if !env.HasController(t) {
		t.Skip("kelb controller is not running in this environment")
	}
	const ns = "ui"
	env.Kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "namespace", ns, "--timeout=60s"); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
	env.Apply(t, ns, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ui
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/component: service
      app.kubernetes.io/instance: ui
      app.kubernetes.io/name: ui
  template:
    metadata:
      labels:
        app.kubernetes.io/component: service
        app.kubernetes.io/instance: ui
        app.kubernetes.io/name: ui
    spec:
      containers:
      - name: ui
        image: public.ecr.aws/aws-containers/retail-store-sample-ui:0.4.0
        ports:
        - {name: http, containerPort: 8080}
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
    service.beta.kubernetes.io/aws-load-balancer-type: external
  name: ui-nlb
spec:
  ports:
  - name: http
    port: 80
    targetPort: 8080
  selector:
    app.kubernetes.io/component: service
    app.kubernetes.io/instance: ui
    app.kubernetes.io/name: ui
  type: LoadBalancer
`)
	Eventually(t, time.Minute, func() error {
		if n := len(podTargets(t, env, ns)); n != 1 {
			return fmt.Errorf("%d pods, want 1", n)
		}
		return nil
	})
	env.Kubectl(t, "wait", "--for=condition=Ready", "pod", "-n", ns, "-l", "app.kubernetes.io/name=ui", "--timeout=120s")
	checkTargets := func() {
		t.Helper()
		Eventually(t, 2*time.Minute, func() error {
			// Every target turns healthy, as the workshop's output shows
			// once registration is over.
			var want []string
			for _, target := range podTargets(t, env, ns) {
				want = append(want, target+" healthy")
			}
			out, err := env.Shell(t.Context(), "", "sh", "-c", seed000Targets)
			if err != nil {
				return err
			}
			var health struct {
				TargetHealthDescriptions []struct {
					Target struct {
						Id               string
						Port             int
						AvailabilityZone string
					}
					TargetHealth struct{ State string }
				}
			}
			if err := json.Unmarshal([]byte(out), &health); err != nil {
				return fmt.Errorf("describe-target-health: %v: %q", err, out)
			}
			var got []string
			for _, d := range health.TargetHealthDescriptions {
				got = append(got, fmt.Sprintf("%s:%d %s %s", d.Target.Id, d.Target.Port, d.Target.AvailabilityZone, d.TargetHealth.State))
			}
			sort.Strings(got)
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("targets (-pods +registered):\n%s", diff)
			}
			return nil
		})
	}
	checkTargets()

	env.Kubectl(t, "scale", "-n", ns, "deployment/ui", "--replicas=3")
	Eventually(t, time.Minute, func() error {
		if n := len(podTargets(t, env, ns)); n != 3 {
			return fmt.Errorf("%d pods, want 3", n)
		}
		return nil
	})
	env.Kubectl(t, "wait", "--for=condition=Ready", "pod", "-n", ns, "-l", "app.kubernetes.io/name=ui", "--timeout=60s")
	checkTargets()

	hostname = strings.TrimSpace(env.Kubectl(t, "get", "service", "-n", ns, "ui-nlb", "-o", "jsonpath={.status.loadBalancer.ingress[*].hostname}"))
	if hostname == "" {
		t.Fatal("service ui-nlb has no load balancer hostname")
	}
	Eventually(t, 2*time.Minute, func() error {
		code, body, err := env.Curl(t.Context(), "http://"+hostname+"/", "--max-time", "3")
		if err != nil || code != 200 || !strings.Contains(body, "Hostname: ui-") {
			return fmt.Errorf("curl http://%s/: status %d, err %v", hostname, code, err)
		}
		return nil
	})
	return hostname
}

// podTargets returns "podIP:8080 zone" for every pod of ui in ns, sorted.
func podTargets(t *testing.T, env *Env, ns string) []string {
	t.Helper()
	var nodes corev1.NodeList
	env.GetJSON(t, &nodes, "nodes")
	byName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		byName[n.Name] = n
	}
	var list corev1.PodList
	env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app.kubernetes.io/name=ui")
	var targets []string
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		zone := byName[p.Spec.NodeName].Labels[corev1.LabelTopologyZone]
		targets = append(targets, fmt.Sprintf("%s:8080 %s", p.Status.PodIP, zone))
	}
	sort.Strings(targets)
	return targets
}
