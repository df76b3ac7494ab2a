package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// classIngresses are three Ingresses to Service web: one of the class
// whose IngressClassParams set the scheme (overriding its annotation), one
// with only the legacy kubernetes.io/ingress.class: alb annotation, and
// one of another controller's class.
const classIngresses = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: params
  annotations:
    alb.ingress.kubernetes.io/scheme: internal
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: %[1]s
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy
  annotations:
    kubernetes.io/ingress.class: alb
    alb.ingress.kubernetes.io/target-type: ip
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: other
  annotations:
    kubernetes.io/ingress.class: nginx
spec:
  defaultBackend: {service: {name: web, port: {number: 80}}}
`

// TestALBIngressClasses checks which Ingresses kelb controller takes and
// with which settings: an IngressClass of controller ingress.k8s.aws/alb
// with IngressClassParams whose scheme overrides the Ingress's annotation,
// the legacy kubernetes.io/ingress.class: alb annotation, and not an
// Ingress of another controller.
func TestALBIngressClasses(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	class := ns + "-params"
	if _, err := env.Shell(t.Context(), fmt.Sprintf(`apiVersion: elbv2.k8s.aws/v1beta1
kind: IngressClassParams
metadata:
  name: %[1]s
spec:
  scheme: internet-facing
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: %[1]s
spec:
  controller: ingress.k8s.aws/alb
  parameters:
    apiGroup: elbv2.k8s.aws
    kind: IngressClassParams
    name: %[1]s
`, class), "kubectl", "apply", "-f", "-"); err != nil {
		t.Fatalf("create IngressClass and IngressClassParams %s: %v", class, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "ingressclass,ingressclassparams", class, "--wait=false"); err != nil {
			t.Logf("delete class %s: %v", class, err)
		}
	})
	env.Apply(t, ns, albDeployment("web", 1)+"---\n"+fmt.Sprintf(classIngresses, class))
	pods := waitReadyPods(t, env, ns, "app=web", 1)

	for _, tc := range []struct{ ingress, scheme string }{
		{"params", "internet-facing"},
		{"legacy", "internal"},
	} {
		host := ingressHostname(t, env, ns, tc.ingress)
		if lb := loadBalancerByDNS(t, env, host); lb.Scheme != tc.scheme || lb.Type != "application" {
			t.Errorf("ingress %s: load balancer %+v, want an %s application load balancer", tc.ingress, lb, tc.scheme)
		}
		framework.Eventually(t, time.Minute, func() error {
			if got := hostnames(t, env, "http://"+host+"/any/path", 3); len(got) != 1 || got[pods[0]] != 3 {
				return fmt.Errorf("ingress %s: answers %v, want 3 from %s", tc.ingress, got, pods[0])
			}
			return nil
		})
	}

	// Both of ours are reconciled; the other one has neither a load
	// balancer nor a word from kelb controller.
	var other networkingv1.Ingress
	env.GetJSON(t, &other, "ingress", "-n", ns, "other")
	if len(other.Status.LoadBalancer.Ingress) != 0 || len(other.Finalizers) != 0 {
		t.Errorf("ingress of class nginx was taken: status %+v, finalizers %q", other.Status.LoadBalancer, other.Finalizers)
	}
	if evs := events(t, env, ns, "other"); len(evs) != 0 {
		t.Errorf("ingress of class nginx has events:\n%s", ingressEvents(t, env, ns, "other"))
	}
}
