package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// nlbRollout is a 5-replica Deployment behind an IP-mode NLB, with a
// readiness probe, the default termination grace period and no preStop
// hook: the load balancer alone must keep requests from failing.
const nlbRollout = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 5
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: echo
        image: k8s.gcr.io/echoserver:1.5
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
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

// nlbLoad is a steady load through a load balancer: one curl per request
// (a new connection and a fresh DNS answer each time), one started every
// 50 ms whatever the previous one's latency, until $STOP exists or max
// requests were sent. Each request prints one line (shorter than a pipe
// write is atomic for): its status code (000 when there was no answer)
// and curl's error.
const nlbLoad = `i=0
while [ ! -e "$STOP" ] && [ $i -lt %d ]; do
  i=$((i+1))
  curl -s -o /dev/null --max-time 5 -w '%%{http_code} %%{errormsg}\n' http://%s/ &
  sleep 0.05
done
wait
`

// nlbLoadResult counts the requests of a load run.
type nlbLoadResult struct {
	Total, Failed int
	Errors        map[string]int
}

// startNLBLoad starts the load against host and returns a function that
// stops it and returns the counts. It stops by itself after max requests.
func startNLBLoad(t *testing.T, env *framework.Env, host string, max int) func() nlbLoadResult {
	t.Helper()
	stop := filepath.Join(t.TempDir(), "stop")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	cmd := env.ShellCommand(ctx, "env", "STOP="+stop, "sh", "-c", fmt.Sprintf(nlbLoad, max, host))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the load: %v", err)
	}
	res := nlbLoadResult{Errors: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			code, msg, _ := strings.Cut(sc.Text(), " ")
			mu.Lock()
			res.Total++
			if code != "200" {
				res.Failed++
				res.Errors[code+" "+msg]++
			}
			mu.Unlock()
		}
	}()
	var once sync.Once
	var final nlbLoadResult
	finish := func() nlbLoadResult {
		once.Do(func() {
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				t.Errorf("stop the load: %v", err)
				cancel()
			}
			wg.Wait()
			if err := cmd.Wait(); err != nil {
				t.Errorf("load: %v", err)
			}
			cancel()
			final = res
		})
		return final
	}
	t.Cleanup(func() { finish() })
	// Let it start before the caller changes anything.
	framework.Eventually(t, time.Minute, func() error {
		mu.Lock()
		defer mu.Unlock()
		if res.Total < 20 {
			return fmt.Errorf("%d requests sent so far", res.Total)
		}
		return nil
	})
	return finish
}

// TestNLBRollingUpdateUnderLoad restarts a 5-replica Deployment with
// readiness gates on while about 20 requests a second go through its load
// balancer, and expects every one of them to be answered.
func TestNLBRollingUpdateUnderLoad(t *testing.T) {
	env := nlbEnv(t)
	t.Parallel()
	const ns = "nlb-rollout"
	nlbNamespace(t, env, ns, "elbv2.k8s.aws/pod-readiness-gate-inject=enabled")
	// As with the AWS Load Balancer Controller, the gate is injected when
	// a pod is created, so the Service and its binding come first.
	deployment, service, _ := strings.Cut(nlbRollout, "---\n")
	env.Apply(t, ns, service)
	host := nlbHostname(t, env, ns, "web")
	tg := nlbTargetGroupARN(t, env, ns, "web")
	env.Apply(t, ns, deployment)
	env.Kubectl(t, "rollout", "status", "-n", ns, "deployment/web", "--timeout=3m")

	var list corev1.PodList
	env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app=web")
	for _, p := range list.Items {
		if len(p.Spec.ReadinessGates) != 1 || !strings.HasPrefix(string(p.Spec.ReadinessGates[0].ConditionType), "target-health.elbv2.k8s.aws/") {
			t.Fatalf("pod %s has readiness gates %v, want the load balancer's", p.Name, p.Spec.ReadinessGates)
		}
	}
	framework.Eventually(t, time.Minute, func() error {
		health, err := nlbTargetHealth(t.Context(), env, tg)
		if err != nil {
			return err
		}
		healthy := 0
		for _, h := range health {
			if h.TargetHealth.State == "healthy" {
				healthy++
			}
		}
		if healthy != 5 {
			return fmt.Errorf("targets %v, want 5 healthy", health)
		}
		return nil
	})

	finish := startNLBLoad(t, env, host, 6000)
	start := time.Now()
	env.Kubectl(t, "rollout", "restart", "-n", ns, "deployment/web")
	env.Kubectl(t, "rollout", "status", "-n", ns, "deployment/web", "--timeout=4m")
	rollout := time.Since(start)
	// The old pods drain for a while after the rollout is reported done;
	// keep the load on until none is left.
	framework.Eventually(t, time.Minute, func() error {
		var list corev1.PodList
		env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app=web")
		if len(list.Items) != 5 {
			return fmt.Errorf("%d pods, want the 5 new ones only", len(list.Items))
		}
		return nil
	})
	// A rollout can be over in seconds (new targets are confirmed healthy
	// within a second or two); keep the load on long enough that a
	// failure in the moments after it would show too.
	if rest := 20*time.Second - time.Since(start); rest > 0 {
		time.Sleep(rest)
	}
	res := finish()
	t.Logf("rolling update of 5 replicas took %s (rollout restart to rollout status); requests through the load balancer: %d, failed: %d %v",
		rollout.Round(time.Second), res.Total, res.Failed, res.Errors)
	if res.Failed > 0 {
		t.Errorf("%d of %d requests failed during the rolling update: %v", res.Failed, res.Total, res.Errors)
	}
	if res.Total < 100 {
		t.Errorf("only %d requests were sent during the rolling update; the load did not run", res.Total)
	}
}
