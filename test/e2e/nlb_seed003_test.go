package e2e

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

// seed003Service is the seed's Service as the in-tree cloud provider's
// users wrote it, its indentation restored: the aws-load-balancer-type
// "nlb" annotation and externalTrafficPolicy Local.
const seed003Service = `apiVersion: v1
kind: Service
metadata:
  name: nginx
  namespace: default
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

// seed003Deployment is the nginx the Service selects; the seed assumes
// one exists.
const seed003Deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: default
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

// nlbClientIP is the address the test's client connects from: in the
// plan's range, but no node's, pod's or load balancer's.
const nlbClientIP = "198.18.0.254"

// TestNLBSeed003InstanceLocal follows seed 003: an instance-mode load
// balancer with one target per node on the NodePort, where only the node
// running the pod passes the health check on healthCheckNodePort, and the
// pod sees the client's own address.
func TestNLBSeed003InstanceLocal(t *testing.T) {
	env := nlbEnv(t)
	t.Parallel()
	env.Apply(t, "default", seed003Deployment)
	env.Apply(t, "default", seed003Service)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "-n", "default", "service/nginx", "deployment/nginx", "--timeout=90s"); err != nil {
			t.Logf("delete seed 003's objects: %v", err)
		}
	})
	env.Kubectl(t, "rollout", "status", "-n", "default", "deployment/nginx", "--timeout=2m")
	var pods corev1.PodList
	env.GetJSON(t, &pods, "pods", "-n", "default", "-l", "app=nginx")
	if len(pods.Items) != 1 {
		t.Fatalf("%d nginx pods, want 1", len(pods.Items))
	}
	pod := pods.Items[0]
	host := nlbHostname(t, env, "default", "nginx")
	tg := nlbTargetGroupARN(t, env, "default", "nginx")
	var svc corev1.Service
	env.GetJSON(t, &svc, "service", "-n", "default", "nginx")
	nodePort := svc.Spec.Ports[0].NodePort

	var want []string
	for name, n := range nodes(t, env) {
		state := "unhealthy"
		if name == pod.Spec.NodeName {
			state = "healthy"
		}
		want = append(want, fmt.Sprintf("%s:%d %s %s", internalIP(n), nodePort, n.Labels[corev1.LabelTopologyZone], state))
	}
	sort.Strings(want)
	framework.Eventually(t, 2*time.Minute, func() error {
		health, err := nlbTargetHealth(t.Context(), env, tg)
		if err != nil {
			return err
		}
		var got []string
		for _, h := range health {
			if h.HealthCheckPort != strconv.Itoa(int(svc.Spec.HealthCheckNodePort)) {
				return fmt.Errorf("target %s checked on port %s, want healthCheckNodePort %d", h, h.HealthCheckPort, svc.Spec.HealthCheckNodePort)
			}
			got = append(got, fmt.Sprintf("%s:%d %s %s", h.Target.Id, h.Target.Port, h.Target.AvailabilityZone, h.TargetHealth.State))
		}
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			return fmt.Errorf("targets (-want +got):\n%s", diff)
		}
		return nil
	})

	// The client connects from an address of its own, so that the pod can
	// only show it if the load balancer and the node proxy preserved it.
	for i := range 5 {
		code, body, err := env.Curl(t.Context(), "http://"+host+"/", "--interface", nlbClientIP)
		if err != nil || code != 200 {
			t.Fatalf("request %d through the load balancer: status %d, err %v", i, code, err)
		}
		if !strings.Contains(body, "Hostname: "+pod.Name+"\n") {
			t.Errorf("request %d answered by another than pod %s:\n%s", i, pod.Name, body)
		}
		if !strings.Contains(body, "client_address="+nlbClientIP+"\n") {
			t.Errorf("request %d: the pod did not see the client's address %s:\n%s", i, nlbClientIP, body)
		}
	}
}
