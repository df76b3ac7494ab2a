package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// seed004 is the seed's echo Deployment and svc-nlb-ip-type Service, as
// written (loadBalancerClass, IP targets, health check port, the
// deprecated cross-zone annotation).
const seed004 = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: deploy-echo
spec:
  replicas: 2
  selector:
    matchLabels:
      app: deploy-websrv
  template:
    metadata:
      labels:
        app: deploy-websrv
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: akos-websrv
        image: k8s.gcr.io/echoserver:1.5
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: svc-nlb-ip-type
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-port: "8080"
    service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled: "true"
spec:
  ports:
  - port: 80
    targetPort: 8080
    protocol: TCP
  type: LoadBalancer
  loadBalancerClass: service.k8s.aws/nlb
  selector:
    app: deploy-websrv
`

// TestNLBSeed004Spread follows seed 004: 100 curls through the load
// balancer split between the two echo pods, and a third pod, once its
// target is healthy, gets its share.
func TestNLBSeed004Spread(t *testing.T) {
	env := nlbEnv(t)
	t.Parallel()
	const ns = "seed004"
	nlbNamespace(t, env, ns)
	env.Apply(t, ns, seed004)
	host := nlbHostname(t, env, ns, "svc-nlb-ip-type")
	tg := nlbTargetGroupARN(t, env, ns, "svc-nlb-ip-type")

	// waitHealthy waits until every pod is Ready and is a healthy target,
	// and returns the pods' names.
	waitHealthy := func(replicas int) []string {
		t.Helper()
		var names []string
		framework.Eventually(t, 2*time.Minute, func() error {
			var list corev1.PodList
			env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app=deploy-websrv")
			want := map[string]string{}
			names = nil
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil && condition(p, corev1.PodReady) == corev1.ConditionTrue {
					want[fmt.Sprintf("%s:8080", p.Status.PodIP)] = p.Name
					names = append(names, p.Name)
				}
			}
			if len(want) != replicas {
				return fmt.Errorf("%d Ready pods, want %d", len(want), replicas)
			}
			health, err := nlbTargetHealth(t.Context(), env, tg)
			if err != nil {
				return err
			}
			healthy := 0
			for _, h := range health {
				if _, ok := want[fmt.Sprintf("%s:%d", h.Target.Id, h.Target.Port)]; ok && h.TargetHealth.State == "healthy" {
					healthy++
				}
			}
			if healthy != replicas || len(health) != replicas {
				return fmt.Errorf("targets %v, want the %d pods healthy", health, replicas)
			}
			return nil
		})
		sort.Strings(names)
		return names
	}
	// checkSpread runs the seed's 100 curls and checks that every pod got
	// a fair share: each of n pods at least a third of an even split
	// (flows are hashed on their source port, so the split is binomial).
	checkSpread := func(pods []string) {
		t.Helper()
		counts, table := nlbSpread(t, env, host, 100)
		t.Logf("for i in {1..100}; do curl -s $NLB | grep Hostname ; done | sort | uniq -c | sort -nr\n%s", table)
		total := 0
		for _, c := range counts {
			total += c
		}
		if total != 100 {
			t.Errorf("%d of 100 requests answered", total)
		}
		for _, p := range pods {
			if min := 100 / len(pods) / 3; counts[p] < min {
				t.Errorf("pod %s answered %d of 100 requests, want at least %d", p, counts[p], min)
			}
		}
		if len(counts) != len(pods) {
			t.Errorf("answers came from %d pods, want %d (%v)", len(counts), len(pods), pods)
		}
	}

	checkSpread(waitHealthy(2))

	env.Kubectl(t, "scale", "-n", ns, "deployment/deploy-echo", "--replicas=3")
	checkSpread(waitHealthy(3))
}
