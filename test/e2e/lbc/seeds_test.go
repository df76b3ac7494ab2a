package lbc

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// TestLBCSeed000IPMode follows seed 000 with the AWS Load Balancer
// Controller: the ui-nlb Service in IP mode gets a network load balancer
// whose targets are the ui pods, healthy, following kubectl scale, and
// answering through the load balancer's name (framework.Seed000, the
// walkthrough kelb controller passes too). Deleting the namespace deletes
// the load balancer, its target group and its security group.
func TestLBCSeed000IPMode(t *testing.T) {
	env := framework.Get(t)
	var lb loadBalancer
	var tgs []string
	t.Run("walkthrough", func(t *testing.T) {
		host := framework.Seed000(t, env)
		lb = loadBalancerByHostname(t, env, host)
		tgs = targetGroupsOf(t, env, lb.LoadBalancerArn)
		checkSteady(t, env, "service", "ui", "ui-nlb", "service")
		if lb.Type != "network" || lb.Scheme != "internet-facing" || !strings.HasPrefix(lb.LoadBalancerName, "k8s-ui-uinlb-") {
			t.Errorf("load balancer %+v: want an internet-facing network load balancer named k8s-ui-uinlb-<hash>", lb)
		}
		// Seed000 deletes the namespace when this subtest ends.
	})
	if lb.LoadBalancerArn == "" {
		t.FailNow()
	}
	waitGone(t, env, lb, tgs)
}

// seed003Service is seed 003's Service as written for the in-tree cloud
// provider: the aws-load-balancer-type "nlb" annotation and
// externalTrafficPolicy Local. The controller's Service webhook gives it
// the class service.k8s.aws/nlb, so the controller serves it in its
// default target type, instance.
const seed003Service = `apiVersion: v1
kind: Service
metadata:
  name: nginx
  labels:
    app: nginx
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: "nlb"
spec:
  externalTrafficPolicy: Local
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 80
  selector:
    app: nginx
  type: LoadBalancer
`

const seed003Deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 1
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
`

// TestLBCSeed003InstanceLocal follows seed 003 with the AWS Load Balancer
// Controller: an instance-mode network load balancer whose targets are the
// nodes' EC2 instance ids (their spec.providerID) on the NodePort, where
// only the node running the pod passes the health check on
// healthCheckNodePort, and traffic reaches the pod.
func TestLBCSeed003InstanceLocal(t *testing.T) {
	env := framework.Get(t)
	ns := env.Namespace(t)
	env.Apply(t, ns, seed003Deployment)
	env.Apply(t, ns, seed003Service)
	var svc corev1.Service
	env.GetJSON(t, &svc, "service", "-n", ns, "nginx")
	if svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass != "service.k8s.aws/nlb" {
		t.Fatalf("service nginx has loadBalancerClass %v, want service.k8s.aws/nlb from the controller's webhook", svc.Spec.LoadBalancerClass)
	}
	pod := readyPods(t, env, ns, "app=nginx", 1)[0]
	host := hostnameOf(t, env, "service", ns, "nginx")
	lb := loadBalancerByHostname(t, env, host)

	var want []string
	for name, n := range nodesByName(t, env) {
		state := "unhealthy"
		if name == pod.Spec.NodeName {
			state = "healthy"
		}
		id := n.Spec.ProviderID[strings.LastIndexByte(n.Spec.ProviderID, '/')+1:]
		want = append(want, fmt.Sprintf("%s:%d %s %s", id, svc.Spec.Ports[0].NodePort, n.Labels[corev1.LabelTopologyZone], state))
	}
	sort.Strings(want)
	framework.Eventually(t, 3*time.Minute, func() error {
		got, health, err := targetHealthOf(t.Context(), env, lb.LoadBalancerArn)
		if err != nil {
			return err
		}
		for _, h := range health {
			if h.HealthCheckPort != strconv.Itoa(int(svc.Spec.HealthCheckNodePort)) {
				return fmt.Errorf("target %s checked on port %s, want healthCheckNodePort %d", h.Target.Id, h.HealthCheckPort, svc.Spec.HealthCheckNodePort)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("targets (-want +got):\n%s", diff)
		}
		return nil
	})
	framework.Eventually(t, 2*time.Minute, func() error {
		code, body, err := env.Curl(t.Context(), "http://"+host+"/", "--max-time", "3")
		if err != nil || code != 200 || !strings.Contains(body, "Hostname: "+pod.Name+"\n") {
			return fmt.Errorf("curl http://%s/: status %d, err %v:\n%s", host, code, err, body)
		}
		return nil
	})

	checkSteady(t, env, "service", ns, "nginx", "service")
	tgs := targetGroupsOf(t, env, lb.LoadBalancerArn)
	env.Kubectl(t, "delete", "service", "-n", ns, "nginx", "--timeout=90s")
	waitGone(t, env, lb, tgs)
}

// TestLBCSeed004Game2048 follows seed 004's Ingress with the AWS Load
// Balancer Controller: an internet-facing application load balancer in IP
// mode, a TargetGroupBinding as the seed lists it, both pods healthy
// targets answering through the load balancer; deleting the namespace
// deletes the load balancer, its target group and its security group.
func TestLBCSeed004Game2048(t *testing.T) {
	env := framework.Get(t)
	const ns = "game-2048"
	if _, err := env.Shell(t.Context(), framework.Seed004Manifest, "kubectl", "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply seed 004's ingress1.yaml: %v", err)
	}
	deleted := false
	t.Cleanup(func() {
		if deleted {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "namespace", ns, "--timeout=60s"); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})
	var binding string
	framework.Eventually(t, 2*time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "targetgroupbindings", "-n", ns,
			"-o", `jsonpath={range .items[*]}{.metadata.name} {.spec.serviceRef.name} {.spec.serviceRef.port} {.spec.targetType}{"\n"}{end}`)
		if err != nil {
			return err
		}
		row := strings.Fields(out)
		if len(row) != 4 || !strings.HasPrefix(row[0], "k8s-game2048-service2-") || row[1] != "service-2048" || row[2] != "80" || row[3] != "ip" {
			return fmt.Errorf("bindings %q, want one k8s-game2048-service2-<hash> service-2048 80 ip", out)
		}
		binding = row[0]
		return nil
	})
	host := hostnameOf(t, env, "ingress", ns, "ingress-2048")
	lb := loadBalancerByHostname(t, env, host)
	if lb.Type != "application" || lb.Scheme != "internet-facing" || !strings.HasPrefix(lb.LoadBalancerName, "k8s-game2048-ingress2-") {
		t.Errorf("load balancer %+v: want an internet-facing application load balancer named k8s-game2048-ingress2-<hash>", lb)
	}
	pods := readyPods(t, env, ns, "app.kubernetes.io/name=app-2048", 2)
	nodes := nodesByName(t, env)
	var want []string
	names := map[string]bool{}
	for _, p := range pods {
		want = append(want, fmt.Sprintf("%s:80 %s healthy", p.Status.PodIP, nodes[p.Spec.NodeName].Labels[corev1.LabelTopologyZone]))
		names[p.Name] = true
	}
	sort.Strings(want)
	framework.Eventually(t, 3*time.Minute, func() error {
		got, _, err := targetHealthOf(t.Context(), env, lb.LoadBalancerArn)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("targets (-want +got):\n%s", diff)
		}
		return nil
	})
	framework.Eventually(t, 2*time.Minute, func() error {
		seen := map[string]bool{}
		for range 20 {
			code, body, err := env.Curl(t.Context(), "http://"+host+"/", "--max-time", "3")
			if err != nil || code != 200 {
				return fmt.Errorf("curl http://%s/: status %d, err %v", host, code, err)
			}
			for name := range names {
				if strings.Contains(body, "Hostname: "+name+"\n") {
					seen[name] = true
				}
			}
		}
		if len(seen) != len(names) {
			return fmt.Errorf("pods that answered http://%s/: %v, want %v", host, seen, names)
		}
		return nil
	})

	checkSteady(t, env, "ingress", ns, "ingress-2048", "ingress")
	checkSteady(t, env, "targetgroupbinding", ns, binding, "targetGroupBinding")
	tgs := targetGroupsOf(t, env, lb.LoadBalancerArn)
	env.Kubectl(t, "delete", "namespace", ns, "--timeout=120s")
	deleted = true
	waitGone(t, env, lb, tgs)
}
