package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// The application load balancer tests drive the environment as a user of
// the AWS Load Balancer Controller does: kubectl for the Ingresses, the
// aws CLI for what kelb server holds, curl for the traffic, all through
// kelb shell.

// albDeployment is a Deployment of the echo server answering on 8080, with
// an HTTP readiness probe, and its Service on port 80.
func albDeployment(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: echo
        image: k8s.gcr.io/e2e-test-images/echoserver:2.5
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
spec:
  selector: {app: %[1]s}
  ports:
  - {port: 80, targetPort: 8080}
`, name, replicas)
}

// requireController skips t when kelb controller does not run in env.
func requireController(t *testing.T, env *framework.Env) {
	t.Helper()
	if !env.HasController(t) {
		t.Skip("kelb controller is not running in this environment")
	}
}

// ingressHostname waits until Ingress ns/name reports its load balancer's
// hostname in its status, and returns it.
func ingressHostname(t *testing.T, env *framework.Env, ns, name string) string {
	t.Helper()
	var host string
	framework.Eventually(t, 2*time.Minute, func() error {
		var ing networkingv1.Ingress
		env.GetJSON(t, &ing, "ingress", "-n", ns, name)
		if lbs := ing.Status.LoadBalancer.Ingress; len(lbs) > 0 && lbs[0].Hostname != "" {
			host = lbs[0].Hostname
			return nil
		}
		return fmt.Errorf("ingress %s/%s has no load balancer hostname yet; events:\n%s", ns, name, ingressEvents(t, env, ns, name))
	})
	return host
}

// ingressEvents returns the events of Ingress ns/name, one per line, as
// "Type Reason: message".
func ingressEvents(t *testing.T, env *framework.Env, ns, name string) string {
	t.Helper()
	var b strings.Builder
	for _, e := range events(t, env, ns, name) {
		fmt.Fprintf(&b, "%s %s: %s\n", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// events returns the events whose involved object is ns/name.
func events(t *testing.T, env *framework.Env, ns, name string) []corev1.Event {
	t.Helper()
	var list corev1.EventList
	env.GetJSON(t, &list, "events", "-n", ns, "--field-selector", "involvedObject.name="+name)
	return list.Items
}

// awsJSON runs the aws CLI inside the environment with JSON output and
// decodes its answer into v.
func awsJSON(t *testing.T, env *framework.Env, v any, args ...string) error {
	t.Helper()
	out, err := env.Shell(t.Context(), "", append(append([]string{"aws"}, args...), "--output", "json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("aws %s: decode %q: %w", strings.Join(args, " "), out, err)
	}
	return nil
}

// loadBalancer is what describe-load-balancers reports of one load
// balancer.
type loadBalancer struct {
	LoadBalancerArn  string
	LoadBalancerName string
	DNSName          string
	Type             string
	Scheme           string
	State            struct{ Code string }
}

// loadBalancers returns every load balancer kelb server holds.
func loadBalancers(t *testing.T, env *framework.Env) []loadBalancer {
	t.Helper()
	var out struct{ LoadBalancers []loadBalancer }
	if err := awsJSON(t, env, &out, "elbv2", "describe-load-balancers"); err != nil {
		t.Fatalf("describe-load-balancers: %v", err)
	}
	return out.LoadBalancers
}

// loadBalancerByDNS returns the load balancer whose DNS name is dns.
func loadBalancerByDNS(t *testing.T, env *framework.Env, dns string) loadBalancer {
	t.Helper()
	for _, lb := range loadBalancers(t, env) {
		if lb.DNSName == dns {
			return lb
		}
	}
	t.Fatalf("no load balancer has the DNS name %s", dns)
	return loadBalancer{}
}

// hostnames sends n requests with curl (one connection each) to url inside
// the environment and returns how many answers each pod gave, by the
// Hostname line of the echo server's answer. Requests that fail count
// under "".
func hostnames(t *testing.T, env *framework.Env, url string, n int, extra ...string) map[string]int {
	t.Helper()
	// The curl arguments travel as the script's positional parameters, so
	// none of them needs quoting.
	const script = `n=$1; shift; for i in $(seq 1 "$n"); do curl -sS --max-time 5 "$@" | grep '^Hostname: ' || echo 'Hostname: '; done`
	args := append(append([]string{"sh", "-c", script, "hostnames", fmt.Sprint(n)}, extra...), url)
	out, err := env.Shell(t.Context(), "", args...)
	if err != nil {
		t.Fatalf("requests to %s: %v\n%s", url, err, out)
	}
	got := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		got[strings.TrimSpace(strings.TrimPrefix(line, "Hostname:"))]++
	}
	return got
}

// podNames returns the names of the pods of ns selected by selector that
// are not being deleted, sorted.
func podNames(t *testing.T, env *framework.Env, ns, selector string) []string {
	t.Helper()
	var list corev1.PodList
	env.GetJSON(t, &list, "pods", "-n", ns, "-l", selector)
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// keys returns the keys of m, sorted.
func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitReadyPods waits until ns has want pods selected by selector, then
// until they are Ready, and returns their names, sorted. (kubectl wait
// alone fails when the pods are not created yet.)
func waitReadyPods(t *testing.T, env *framework.Env, ns, selector string, want int) []string {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func() error {
		if got := podNames(t, env, ns, selector); len(got) != want {
			return fmt.Errorf("%d pods %s, want %d", len(got), selector, want)
		}
		return nil
	})
	env.Kubectl(t, "wait", "-n", ns, "--for=condition=Ready", "pod", "-l", selector, "--timeout=120s")
	return podNames(t, env, ns, selector)
}
