package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// rollingIngress fronts Service web with faster health checks than ALB's
// defaults (so the readiness gates open sooner) and a short deregistration
// delay.
const rollingIngress = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
    alb.ingress.kubernetes.io/healthcheck-interval-seconds: '5'
    alb.ingress.kubernetes.io/healthcheck-timeout-seconds: '2'
    alb.ingress.kubernetes.io/healthy-threshold-count: '2'
    alb.ingress.kubernetes.io/target-group-attributes: deregistration_delay.timeout_seconds=10
spec:
  ingressClassName: alb
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// rollingDeployment is the echo server set up for rollouts behind an ALB
// as on EKS: surge one pod at a time. With preStopSleep, the pods sleep 5
// seconds in preStop, as EKS users add so that a terminating pod keeps
// accepting until the load balancer has stopped sending it new requests.
// Without it the endpoint change, the deregistration and the data plane
// update race the pod's shutdown, and on AWS a request in a few thousand
// meets a refused connection (a 502); kelb sends such a request to another
// target of the group instead, so no request fails either way.
func rollingDeployment(preStopSleep bool) string {
	preStop := ""
	if preStopSleep {
		preStop = `
        lifecycle:
          preStop:
            sleep: {seconds: 5}`
	}
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: echo
        image: k8s.gcr.io/e2e-test-images/echoserver:2.5
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1` + preStop + "\n"
}

// loadScript sends requests to $1 until the file $2 exists, 4 minutes
// pass or 30000 requests are sent, and prints "code seconds connects" for
// each. Both modes send batches of 40 requests at 40/s from one curl, so
// the load does not depend on how fast the machine forks: "keepalive"
// sends them on one connection, "close" asks for the connection to be
// closed after each response, so every request opens a new one.
const loadScript = `url=$1 stop=$2 mode=$3
end=$((SECONDS+240)) n=0
close=()
[ "$mode" = close ] && close=(-H 'Connection: close')
while [ ! -e "$stop" ] && [ $SECONDS -lt $end ] && [ $n -lt 30000 ]; do
  curl -s -o /dev/null -w '%{http_code} %{time_total} %{num_connects}\n' --max-time 5 --rate 40/s "${close[@]}" "$url?batch=$n&n=[1-40]"
  n=$((n+40))
done
exit 0
`

// loadResult sums up the lines of loadScript.
type loadResult struct {
	requests int
	codes    map[string]int
	// connects is the number of connections opened.
	connects int
	// p99 and max are the 99th percentile and the longest request time.
	p99, max time.Duration
}

func (r loadResult) failed() int { return r.requests - r.codes["200"] }

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests on %d connections, %d failed %v, p99 %s, max %s", r.requests, r.connects, r.failed(), r.codes, r.p99, r.max)
}

func parseLoad(out string) (loadResult, error) {
	r := loadResult{codes: map[string]int{}}
	var times []time.Duration
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return r, fmt.Errorf("load line %q: want code, time, connects", line)
		}
		secs, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return r, fmt.Errorf("load line %q: %w", line, err)
		}
		conns, err := strconv.Atoi(f[2])
		if err != nil {
			return r, fmt.Errorf("load line %q: %w", line, err)
		}
		r.requests++
		r.codes[f[0]]++
		r.connects += conns
		times = append(times, time.Duration(secs*float64(time.Second)))
	}
	if len(times) > 0 {
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		r.p99 = times[len(times)*99/100]
		r.max = times[len(times)-1]
	}
	return r, nil
}

// TestALBRollingUpdateUnderLoad restarts a Deployment behind an Ingress
// while two clients send requests through its load balancer, one opening a
// connection per request, one keeping connections alive, in a namespace
// where kelb controller injects readiness gates: no request may fail, and
// afterwards the new pods answer. The pods sleep in preStop, as on EKS.
func TestALBRollingUpdateUnderLoad(t *testing.T) {
	testRollingUpdateUnderLoad(t, true)
}

// TestALBRollingUpdateWithoutPreStopUnderLoad is the same rollout with pods
// that stop accepting connections as soon as they are told to terminate,
// before their targets are deregistered: kelb moves the requests that meet
// a refused connection to another pod, so none may fail either.
func TestALBRollingUpdateWithoutPreStopUnderLoad(t *testing.T) {
	testRollingUpdateUnderLoad(t, false)
}

func testRollingUpdateUnderLoad(t *testing.T, preStopSleep bool) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	env.Kubectl(t, "label", "namespace", ns, "elbv2.k8s.aws/pod-readiness-gate-inject=enabled")

	// The binding exists before the pods, so every pod gets its gate.
	env.Apply(t, ns, rollingIngress)
	host := ingressHostname(t, env, ns, "web")
	var binding string
	framework.Eventually(t, time.Minute, func() error {
		binding = strings.TrimSpace(env.Kubectl(t, "get", "targetgroupbindings", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}"))
		if binding == "" || strings.Contains(binding, " ") {
			return fmt.Errorf("want one TargetGroupBinding, have %q", binding)
		}
		return nil
	})
	gate := corev1.PodConditionType("target-health.elbv2.k8s.aws/" + binding)
	env.Apply(t, ns, rollingDeployment(preStopSleep))
	before := waitGatedPods(t, env, ns, gate, 3)
	url := "http://" + host + "/"
	framework.Eventually(t, 2*time.Minute, func() error {
		if got := hostnames(t, env, url, 12); !cmp.Equal(keys(got), before) {
			return fmt.Errorf("answers %v, want one from each pod of %q", got, before)
		}
		return nil
	})

	retriesBefore := connectionRetries(t, env)
	stop := filepath.Join(t.TempDir(), "stop")
	results := runLoad(t, env, url, stop, "close", "keepalive")
	time.Sleep(3 * time.Second) // steady load before the rollout
	env.Kubectl(t, "rollout", "restart", "-n", ns, "deployment/web")
	env.Kubectl(t, "rollout", "status", "-n", ns, "deployment/web", "--timeout=4m")
	time.Sleep(3 * time.Second) // and after it
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := results()
	// Not asserted: whether a request meets a pod that stopped accepting
	// is a matter of timing.
	t.Logf("requests moved off a target that refused the connection: %v", connectionRetries(t, env)-retriesBefore)
	for mode, r := range res {
		t.Logf("%s: %s", mode, r)
		if r.failed() != 0 {
			t.Errorf("%s: %d of %d requests failed during the rollout: %v", mode, r.failed(), r.requests, r.codes)
		}
		if mode == "close" && r.connects != r.requests {
			t.Errorf("close: %d requests on %d connections, want one connection each", r.requests, r.connects)
		}
		if r.requests < 100 {
			t.Errorf("%s: only %d requests during the rollout; the load did not run", mode, r.requests)
		}
	}

	after := waitGatedPods(t, env, ns, gate, 3)
	for _, p := range after {
		for _, old := range before {
			if p == old {
				t.Fatalf("pod %s was not replaced by the rollout", p)
			}
		}
	}
	framework.Eventually(t, time.Minute, func() error {
		if got := hostnames(t, env, url, 12); !cmp.Equal(keys(got), after) {
			return fmt.Errorf("answers after the rollout %v, want one from each new pod of %q", got, after)
		}
		return nil
	})
}

// waitGatedPods waits until the app=web pods of ns are want, each with
// readiness gate gate True and Ready, and returns their names.
func waitGatedPods(t *testing.T, env *framework.Env, ns string, gate corev1.PodConditionType, want int) []string {
	t.Helper()
	var names []string
	framework.Eventually(t, 3*time.Minute, func() error {
		var list corev1.PodList
		env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app=web")
		names = nil
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s is terminating", p.Name)
			}
			gated := false
			for _, g := range p.Spec.ReadinessGates {
				gated = gated || g.ConditionType == gate
			}
			if !gated {
				return fmt.Errorf("pod %s has no readiness gate %s: %v", p.Name, gate, p.Spec.ReadinessGates)
			}
			if condition(p, gate) != corev1.ConditionTrue || condition(p, corev1.PodReady) != corev1.ConditionTrue {
				return fmt.Errorf("pod %s: %s %q, Ready %q", p.Name, gate, condition(p, gate), condition(p, corev1.PodReady))
			}
			names = append(names, p.Name)
		}
		if len(names) != want {
			return fmt.Errorf("%d pods ready, want %d", len(names), want)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// runLoad starts loadScript in each mode against url inside the
// environment. The returned function waits for them (they stop once the
// file stop exists) and returns their results by mode, failing t if one
// could not run.
func runLoad(t *testing.T, env *framework.Env, url, stop string, modes ...string) func() map[string]loadResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	var wg sync.WaitGroup
	outs := make([]strings.Builder, len(modes))
	errs := make([]error, len(modes))
	for i, mode := range modes {
		cmd := env.ShellCommand(ctx, "bash", "-c", loadScript, "load", url, stop, mode)
		cmd.Stdout = &outs[i]
		if err := cmd.Start(); err != nil {
			cancel()
			wg.Wait()
			t.Fatalf("start the %s load: %v", mode, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cmd.Wait()
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return func() map[string]loadResult {
		t.Helper()
		wg.Wait()
		out := map[string]loadResult{}
		for i, mode := range modes {
			if errs[i] != nil {
				t.Fatalf("%s load: %v", mode, errs[i])
			}
			r, err := parseLoad(outs[i].String())
			if err != nil {
				t.Fatalf("%s load: %v", mode, err)
			}
			out[mode] = r
		}
		return out
	}
}

// connectionRetries is kelb server's count of requests moved to another
// target because connecting to theirs failed, over every load balancer.
func connectionRetries(t *testing.T, env *framework.Env) float64 {
	t.Helper()
	samples, err := env.Metrics(t.Context(), framework.ServerMetricsURL())
	if err != nil {
		t.Fatalf("kelb server metrics: %v", err)
	}
	sum := 0.0
	for name, v := range samples {
		if strings.HasPrefix(name, "kelb_alb_target_connection_retries_total") {
			sum += v
		}
	}
	return sum
}
