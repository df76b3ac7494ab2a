package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// echoDeployment is a Deployment of the echo server spread one pod per
// node, with an HTTP readiness probe.
func echoDeployment(name string, replicas int) string {
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
      terminationGracePeriodSeconds: 30
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: kubernetes.io/hostname
        whenUnsatisfiable: DoNotSchedule
        labelSelector:
          matchLabels: {app: %[1]s}
      containers:
      - name: echo
        image: k8s.gcr.io/e2e-test-images/echoserver:2.5
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
`, name, replicas)
}

// pods returns the pods of app in ns, sorted by name.
func pods(t *testing.T, env *framework.Env, ns, app string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	env.GetJSON(t, &list, "pods", "-n", ns, "-l", "app="+app)
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

func condition(pod corev1.Pod, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

// nodes returns the Nodes by name.
func nodes(t *testing.T, env *framework.Env) map[string]corev1.Node {
	t.Helper()
	var list corev1.NodeList
	env.GetJSON(t, &list, "nodes")
	byName := map[string]corev1.Node{}
	for _, n := range list.Items {
		byName[n.Name] = n
	}
	return byName
}

func internalIP(n corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// waitPods waits until app in ns has want pods, then until kubectl wait
// says they are Ready.
func waitPods(t *testing.T, env *framework.Env, ns, app string, want int) []corev1.Pod {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func() error {
		if got := len(pods(t, env, ns, app)); got != want {
			return fmt.Errorf("%d pods of %s, want %d", got, app, want)
		}
		return nil
	})
	env.Kubectl(t, "wait", "-n", ns, "--for=condition=Ready", "pod", "-l", "app="+app, "--timeout=120s")
	return pods(t, env, ns, app)
}

// checkPods checks that every pod runs, is Ready, sits on a node of its
// own, has an IP in its node's pod range of the plan, and answers HTTP with
// its own name.
func checkPods(t *testing.T, env *framework.Env, list []corev1.Pod) {
	t.Helper()
	byName := nodes(t, env)
	seen := map[string]string{}
	plan := netip.MustParsePrefix("198.18.0.0/16")
	for _, p := range list {
		if p.Status.Phase != corev1.PodRunning || condition(p, corev1.PodReady) != corev1.ConditionTrue {
			t.Errorf("pod %s: phase %s, Ready %q; want Running and Ready", p.Name, p.Status.Phase, condition(p, corev1.PodReady))
		}
		if other, ok := seen[p.Spec.NodeName]; ok {
			t.Errorf("pods %s and %s share node %s", other, p.Name, p.Spec.NodeName)
		}
		seen[p.Spec.NodeName] = p.Name
		node, ok := byName[p.Spec.NodeName]
		if !ok {
			t.Errorf("pod %s: node %q not found", p.Name, p.Spec.NodeName)
			continue
		}
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil {
			t.Errorf("pod %s: pod IP %q: %v", p.Name, p.Status.PodIP, err)
			continue
		}
		cidr, err := netip.ParsePrefix(node.Spec.PodCIDR)
		if err != nil || !cidr.Contains(ip) || !plan.Contains(ip) || cidr.Bits() != 24 {
			t.Errorf("pod %s: IP %s not in its node's pod range %q of the plan", p.Name, ip, node.Spec.PodCIDR)
		}
		code, body, err := env.Curl(t.Context(), "http://"+p.Status.PodIP+":8080/")
		if err != nil || code != 200 || !strings.Contains(body, "Hostname: "+p.Name+"\n") {
			t.Errorf("pod %s at %s: status %d, err %v, body:\n%s\nwant 200 with Hostname: %s", p.Name, ip, code, err, body, p.Name)
		}
	}
}

func TestDeploymentScalesAndServes(t *testing.T) {
	env := framework.Get(t)
	ns := env.Namespace(t)
	env.Apply(t, ns, echoDeployment("echo", 2))
	checkPods(t, env, waitPods(t, env, ns, "echo", 2))

	env.Kubectl(t, "scale", "-n", ns, "deployment/echo", "--replicas=3")
	list := waitPods(t, env, ns, "echo", 3)
	checkPods(t, env, list)
}

func TestNodePortTrafficPolicy(t *testing.T) {
	env := framework.Get(t)
	ns := env.Namespace(t)
	env.Apply(t, ns, echoDeployment("echo", 1))
	pod := waitPods(t, env, ns, "echo", 1)[0]
	// A class no controller claims: the Service only gets node ports and a
	// health check node port, as with kube-proxy alone.
	env.Apply(t, ns, `apiVersion: v1
kind: Service
metadata:
  name: cluster
spec:
  type: NodePort
  externalTrafficPolicy: Cluster
  selector: {app: echo}
  ports:
  - {port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: local
spec:
  type: LoadBalancer
  loadBalancerClass: e2e.kelb.io/none
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports:
  - {port: 80, targetPort: 8080}
`)
	var cluster, local corev1.Service
	env.GetJSON(t, &cluster, "service", "-n", ns, "cluster")
	env.GetJSON(t, &local, "service", "-n", ns, "local")
	if local.Spec.HealthCheckNodePort == 0 {
		t.Fatalf("service local has no healthCheckNodePort")
	}

	for name, node := range nodes(t, env) {
		ip := internalIP(node)
		hasPod := name == pod.Spec.NodeName
		t.Run(name, func(t *testing.T) {
			framework.Eventually(t, time.Minute, func() error {
				url := fmt.Sprintf("http://%s:%d/", ip, cluster.Spec.Ports[0].NodePort)
				code, body, err := env.Curl(t.Context(), url)
				if err != nil || code != 200 || !strings.Contains(body, "Hostname: "+pod.Name) {
					return fmt.Errorf("Cluster policy, %s: status %d, err %v", url, code, err)
				}
				return nil
			})
			framework.Eventually(t, time.Minute, func() error {
				url := fmt.Sprintf("http://%s:%d/", ip, local.Spec.Ports[0].NodePort)
				code, body, err := env.Curl(t.Context(), url, "--max-time", "3")
				answered := err == nil && code == 200 && strings.Contains(body, "Hostname: "+pod.Name)
				if answered != hasPod {
					return fmt.Errorf("Local policy, %s (node has the pod: %v): status %d, err %v", url, hasPod, code, err)
				}
				return nil
			})
			framework.Eventually(t, time.Minute, func() error {
				url := fmt.Sprintf("http://%s:%d/healthz", ip, local.Spec.HealthCheckNodePort)
				code, _, err := env.Curl(t.Context(), url)
				want := 503
				if hasPod {
					want = 200
				}
				if err != nil || code != want {
					return fmt.Errorf("%s: status %d, err %v; want %d", url, code, err, want)
				}
				return nil
			})
		})
	}
}

func TestReadinessGateHoldsPod(t *testing.T) {
	env := framework.Get(t)
	ns := env.Namespace(t)
	const gate = "e2e.kelb.io/gate"
	env.Apply(t, ns, `apiVersion: v1
kind: Pod
metadata:
  name: gated
  labels: {app: gated}
spec:
  readinessGates:
  - conditionType: `+gate+`
  containers:
  - name: echo
    image: k8s.gcr.io/e2e-test-images/echoserver:2.5
    ports:
    - containerPort: 8080
`)
	env.Kubectl(t, "wait", "-n", ns, "--for=condition=ContainersReady", "pod/gated", "--timeout=120s")
	var pod corev1.Pod
	env.GetJSON(t, &pod, "pod", "-n", ns, "gated")
	if got := condition(pod, corev1.PodReady); got != corev1.ConditionFalse {
		t.Fatalf("pod with an unset readiness gate: Ready %q, want False", got)
	}

	patch := `[{"op":"add","path":"/status/conditions/-","value":{"type":"` + gate + `","status":"True"}}]`
	env.Kubectl(t, "patch", "-n", ns, "pod/gated", "--subresource=status", "--type=json", "-p", patch)
	env.Kubectl(t, "wait", "-n", ns, "--for=condition=Ready", "pod/gated", "--timeout=60s")
	env.GetJSON(t, &pod, "pod", "-n", ns, "gated")
	got := map[corev1.PodConditionType]corev1.ConditionStatus{}
	for _, c := range pod.Status.Conditions {
		got[c.Type] = c.Status
	}
	want := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodReady: corev1.ConditionTrue, corev1.ContainersReady: corev1.ConditionTrue, gate: corev1.ConditionTrue,
	}
	for typ := range got {
		if _, ok := want[typ]; !ok {
			delete(got, typ)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("conditions after the gate was set (-want +got):\n%s", diff)
	}
}

func TestDeletedPodFinishesInflightRequest(t *testing.T) {
	env := framework.Get(t)
	ns := env.Namespace(t)
	env.Apply(t, ns, echoDeployment("slow", 1))
	pod := waitPods(t, env, ns, "slow", 1)[0]
	url := "http://" + pod.Status.PodIP + ":8080/"

	// A request the pod answers after 6 seconds, started before the delete.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	slow := env.ShellCommand(ctx, "curl", "-sS", "--max-time", "30", "-w", "\n%{http_code}", url+"?delay=6s")
	var out strings.Builder
	slow.Stdout = &out
	if err := slow.Start(); err != nil {
		t.Fatalf("start slow request: %v", err)
	}
	var slowErr error
	waited := make(chan struct{})
	go func() {
		slowErr = slow.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		cancel()
		<-waited
	})
	// Let the request reach the pod before it is deleted; the pod only
	// stops accepting after the delete.
	time.Sleep(2 * time.Second)
	env.Kubectl(t, "delete", "pod", "-n", ns, pod.Name, "--wait=false")

	// New connections are refused once the pod got its stop signal...
	framework.Eventually(t, 30*time.Second, func() error {
		if _, _, err := env.Curl(t.Context(), url, "--max-time", "2"); err == nil {
			return errors.New("deleted pod still accepts new connections")
		}
		return nil
	})
	// ...while the request in flight completes.
	<-waited
	if slowErr != nil {
		t.Fatalf("slow request to the deleted pod: %v\n%s", slowErr, out.String())
	}
	body := out.String()
	if !strings.HasSuffix(body, "\n200") || !strings.Contains(body, "Hostname: "+pod.Name) {
		t.Errorf("slow request to the deleted pod answered:\n%s\nwant 200 from %s", body, pod.Name)
	}
}
