package e2e

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// The figures of kelb controller's network load balancers. They only log
// what they measure, never assert a time, and run only when asked:
//
//	KELB_E2E_NAME=nlb KELB_E2E_FIGURES=1 go test ./test/e2e -run TestNLBFigure -v -timeout 30m
//
// KELB_E2E_SCALE=<services>x<pods> sizes the cold start figure (default
// 200x10).

func nlbFigures(t *testing.T) *framework.Env {
	t.Helper()
	if os.Getenv("KELB_E2E_FIGURES") != "1" {
		t.Skip("figures run with KELB_E2E_FIGURES=1")
	}
	return nlbEnv(t)
}

// nlbFigureService is an IP-mode NLB with the API's shortest health check
// interval and the smallest healthy threshold, cross-zone so that every
// pod gets requests whichever address the client picks.
const nlbFigureService = `apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval: "5"
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-healthy-threshold: "2"
    service.beta.kubernetes.io/aws-load-balancer-healthcheck-unhealthy-threshold: "2"
    service.beta.kubernetes.io/aws-load-balancer-attributes: load_balancing.cross_zone.enabled=true
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {port: 80, targetPort: 8080}
`

// nlbProbe is a request loop that prints, for every request started
// every 50 ms, the time it started (Unix seconds) and the pod that
// answered.
const nlbProbe = `i=0
while [ ! -e "$STOP" ] && [ $i -lt %d ]; do
  i=$((i+1))
  (t=$(date +%%s.%%N); echo "$t $(curl -s --max-time 5 http://%s/ | sed -n 's/^Hostname: //p')") &
  sleep 0.05
done
wait
`

// nlbAnswer is one request of nlbProbe.
type nlbAnswer struct {
	At  time.Time
	Pod string
}

// startNLBProbe runs nlbProbe against host until the returned function is
// called, and returns every answer.
func startNLBProbe(t *testing.T, env *framework.Env, host string) func() []nlbAnswer {
	t.Helper()
	stop := filepath.Join(t.TempDir(), "stop")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	cmd := env.ShellCommand(ctx, "env", "STOP="+stop, "sh", "-c", fmt.Sprintf(nlbProbe, 6000, host))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the requests: %v", err)
	}
	var answers []nlbAnswer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ts, pod, _ := strings.Cut(sc.Text(), " ")
			f, err := strconv.ParseFloat(ts, 64)
			if err != nil || pod == "" {
				continue
			}
			sec := int64(f)
			answers = append(answers, nlbAnswer{At: time.Unix(sec, int64((f-float64(sec))*1e9)), Pod: pod})
		}
	}()
	var once sync.Once
	finish := func() []nlbAnswer {
		once.Do(func() {
			if err := os.WriteFile(stop, nil, 0o644); err != nil {
				t.Errorf("stop the requests: %v", err)
				cancel()
			}
			wg.Wait()
			_ = cmd.Wait()
			cancel()
		})
		return answers
	}
	t.Cleanup(func() { finish() })
	return finish
}

// TestNLBFigureReadyToTraffic measures, for a pod added by kubectl scale,
// the time from its Ready condition (container readiness, no readiness
// gate) to the first request the load balancer sends it, and, for a pod
// deleted, the time from the delete to the last new connection it gets.
func TestNLBFigureReadyToTraffic(t *testing.T) {
	env := nlbFigures(t)
	const ns = "nlb-figures"
	nlbNamespace(t, env, ns)
	env.Apply(t, ns, nlbFigureService)
	env.Apply(t, ns, echoDeployment("web", 1))
	host := nlbHostname(t, env, ns, "web")
	tg := nlbTargetGroupARN(t, env, ns, "web")
	waitPods(t, env, ns, "web", 1)
	framework.Eventually(t, time.Minute, func() error {
		h, err := nlbTargetHealth(t.Context(), env, tg)
		if err != nil || len(h) != 1 || h[0].TargetHealth.State != "healthy" {
			return fmt.Errorf("targets %v (%v), want 1 healthy", h, err)
		}
		return nil
	})

	for round := range 3 {
		before := map[string]bool{}
		for _, p := range pods(t, env, ns, "web") {
			before[p.Name] = true
		}
		finish := startNLBProbe(t, env, host)
		env.Kubectl(t, "scale", "-n", ns, "deployment/web", fmt.Sprintf("--replicas=%d", len(before)+1))
		var added corev1.Pod
		framework.Eventually(t, 2*time.Minute, func() error {
			for _, p := range pods(t, env, ns, "web") {
				if !before[p.Name] && condition(p, corev1.PodReady) == corev1.ConditionTrue {
					added = p
					return nil
				}
			}
			return fmt.Errorf("no new Ready pod yet")
		})
		var ready time.Time
		for _, c := range added.Status.Conditions {
			if c.Type == corev1.PodReady {
				ready = c.LastTransitionTime.Time
			}
		}
		var first time.Time
		framework.Eventually(t, 2*time.Minute, func() error {
			// The probe's answers are read when it stops; peek through
			// the target's health instead and stop once it is healthy.
			h, err := nlbTargetHealth(t.Context(), env, tg)
			if err != nil {
				return err
			}
			for _, d := range h {
				if d.Target.Id == added.Status.PodIP && d.TargetHealth.State == "healthy" {
					return nil
				}
			}
			return fmt.Errorf("pod %s not a healthy target yet", added.Name)
		})
		time.Sleep(3 * time.Second)
		for _, a := range finish() {
			if a.Pod == added.Name && (first.IsZero() || a.At.Before(first)) {
				first = a.At
			}
		}
		if first.IsZero() {
			t.Errorf("round %d: pod %s got no request", round, added.Name)
			continue
		}
		t.Logf("round %d: pod %s Ready at %s (1 s resolution), first request through the load balancer %s later",
			round, added.Name, ready.Format(time.TimeOnly), first.Sub(ready).Round(100*time.Millisecond))
	}

	for round := range 2 {
		list := pods(t, env, ns, "web")
		victim := list[0]
		finish := startNLBProbe(t, env, host)
		time.Sleep(2 * time.Second)
		deleted := time.Now()
		env.Kubectl(t, "delete", "pod", "-n", ns, victim.Name, "--wait=false")
		// The pod keeps accepting through its grace period; give new
		// connections time to stop reaching it.
		time.Sleep(10 * time.Second)
		var last time.Time
		got := 0
		for _, a := range finish() {
			if a.Pod != victim.Name {
				continue
			}
			got++
			if a.At.After(last) {
				last = a.At
			}
		}
		switch {
		case got == 0:
			t.Errorf("round %d: pod %s got no request at all", round, victim.Name)
		case last.Before(deleted):
			t.Logf("round %d: pod %s deleted after %d requests; its last new connection started %s before the delete",
				round, victim.Name, got, deleted.Sub(last).Round(10*time.Millisecond))
		default:
			t.Logf("round %d: pod %s deleted; its last new connection started %s after the delete (%d requests in all)",
				round, victim.Name, last.Sub(deleted).Round(10*time.Millisecond), got)
		}
		waitPods(t, env, ns, "web", len(list))
		framework.Eventually(t, 2*time.Minute, func() error {
			h, err := nlbTargetHealth(t.Context(), env, tg)
			if err != nil {
				return err
			}
			healthy := 0
			for _, d := range h {
				if d.TargetHealth.State == "healthy" {
					healthy++
				}
			}
			if healthy != len(list) {
				return fmt.Errorf("targets %v, want %d healthy", h, len(list))
			}
			return nil
		})
	}
}

// TestNLBFigureColdStart stops kelb controller, creates many IP-mode
// Services over the same pods, starts the controller and measures the
// time until every Service has its load balancer and every target is
// healthy, and the controller's memory.
func TestNLBFigureColdStart(t *testing.T) {
	env := nlbFigures(t)
	services, replicas := 200, 10
	if v := os.Getenv("KELB_E2E_SCALE"); v != "" {
		if _, err := fmt.Sscanf(v, "%dx%d", &services, &replicas); err != nil {
			t.Fatalf("KELB_E2E_SCALE=%q: want <services>x<pods>", v)
		}
	}
	const ns = "nlb-scale"
	env.Kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "namespace", ns, "--timeout=9m"); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
		t.Logf("deleting %d Services (and their load balancers) took %s", services, time.Since(start).Round(time.Second))
	})
	env.Apply(t, ns, echoDeployment("web", replicas))
	waitPods(t, env, ns, "web", replicas)

	env.StopController(t)
	var manifest strings.Builder
	for i := range services {
		fmt.Fprintf(&manifest, "%s---\n", strings.Replace(nlbLifecycleService, "name: web\n", fmt.Sprintf("name: web-%03d\n", i), 1))
	}
	env.Apply(t, ns, manifest.String())

	serverBefore, err := env.Metrics(t.Context(), framework.ServerMetricsURL())
	if err != nil {
		t.Fatalf("kelb server metrics: %v", err)
	}
	loadBefore := loadAverage()
	start := time.Now()
	pid := env.StartController(t)
	t.Logf("kelb controller ready %s after start", time.Since(start).Round(100*time.Millisecond))
	var withLB, healthy float64
	var lbAt time.Duration
	framework.Eventually(t, 20*time.Minute, func() error {
		if lbAt == 0 {
			out, err := env.Shell(t.Context(), "", "kubectl", "get", "services", "-n", ns, "-o", "jsonpath={range .items[*]}{.status.loadBalancer.ingress[0].hostname}{\"\\n\"}{end}")
			if err != nil {
				return err
			}
			withLB = float64(len(strings.Fields(out)))
			if int(withLB) == services {
				lbAt = time.Since(start)
			}
		}
		samples, err := env.Metrics(t.Context(), framework.ServerMetricsURL())
		if err != nil {
			return err
		}
		healthy = 0
		for k, v := range samples {
			if strings.HasPrefix(k, "kelb_target_group_healthy_hosts{") {
				healthy += v
			}
		}
		if lbAt == 0 || int(healthy) < services*replicas {
			return fmt.Errorf("%v of %d Services have a load balancer, %v of %d targets healthy", withLB, services, healthy, services*replicas)
		}
		return nil
	})
	converged := time.Since(start)
	loadAfter := loadAverage()
	// The calls it took: the controller's own count (it started with
	// none) and kelb server's, as the difference since before the start.
	if ctl, err := env.Metrics(t.Context(), framework.ControllerMetricsURL()); err != nil {
		t.Logf("kelb controller metrics: %v", err)
	} else {
		total, lines := callCounts(ctl, nil, "aws_api_calls_total{")
		t.Logf("kelb controller's AWS API calls until converged: %v\n%s", total, strings.Join(lines, "\n"))
		_, lines = callLatencies(ctl)
		t.Logf("their time (sum of call durations, retries included, by operation):\n%s", strings.Join(lines, "\n"))
	}
	if srv, err := env.Metrics(t.Context(), framework.ServerMetricsURL()); err != nil {
		t.Logf("kelb server metrics: %v", err)
	} else {
		for _, prefix := range []string{"kelb_api_requests_total{", "kelb_tagging_api_requests_total{"} {
			total, lines := callCounts(srv, serverBefore, prefix)
			t.Logf("kelb server's %s... since the start: %v\n%s", strings.TrimSuffix(prefix, "{"), total, strings.Join(lines, "\n"))
		}
	}
	t.Logf("load average (1, 5, 15 min) before the start: %s; when converged: %s", loadBefore, loadAfter)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the controller's memory: %v", err)
	}
	var rss, hwm string
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "VmRSS":
			rss = strings.TrimSpace(v)
		case "VmHWM":
			hwm = strings.TrimSpace(v)
		}
	}
	t.Logf("cold start, %d Services x %d pods (%d targets): every Service has its load balancer %s after the controller started, every target healthy after %s; controller RSS %s (peak %s)",
		services, replicas, services*replicas, lbAt.Round(100*time.Millisecond), converged.Round(100*time.Millisecond), rss, hwm)
}

// loadAverage returns the machine's load averages, as /proc/loadavg
// gives them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// callCounts returns the sum of the samples named with prefix (less their
// value in before, when given) and one line per sample, largest first.
func callCounts(after, before map[string]float64, prefix string) (float64, []string) {
	type sample struct {
		name string
		n    float64
	}
	var all []sample
	total := 0.0
	for k, v := range after {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		n := v - before[k]
		if n == 0 {
			continue
		}
		total += n
		all = append(all, sample{k, n})
	}
	slices.SortFunc(all, func(a, b sample) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.name, b.name)) })
	lines := make([]string, len(all))
	for i, s := range all {
		lines[i] = fmt.Sprintf("  %6.0f %s", s.n, s.name)
	}
	return total, lines
}

// callLatencies returns the controller's time in AWS API calls by
// operation (aws_api_call_duration_seconds' sum and count), longest first.
func callLatencies(samples map[string]float64) (float64, []string) {
	type op struct {
		labels     string
		sum, count float64
	}
	ops := map[string]*op{}
	total := 0.0
	for k, v := range samples {
		labels, isSum := strings.CutPrefix(k, "aws_api_call_duration_seconds_sum")
		if !isSum {
			continue
		}
		o := &op{labels: labels, sum: v, count: samples["aws_api_call_duration_seconds_count"+labels]}
		ops[labels] = o
		total += v
	}
	all := slices.Collect(maps.Values(ops))
	slices.SortFunc(all, func(a, b *op) int { return cmp.Compare(b.sum, a.sum) })
	lines := make([]string, len(all))
	for i, o := range all {
		mean := 0.0
		if o.count > 0 {
			mean = o.sum / o.count
		}
		lines[i] = fmt.Sprintf("  %8.1f s in %5.0f calls (mean %.3f s) %s", o.sum, o.count, mean, o.labels)
	}
	return total, lines
}
