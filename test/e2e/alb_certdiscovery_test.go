package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// discoveredIngress serves app.example.test over HTTPS, naming neither a
// certificate ARN nor a Secret: its certificate is discovered in kelb's
// store by host.
const discoveredIngress = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: discovered
  annotations:
    alb.ingress.kubernetes.io/target-type: ip
spec:
  ingressClassName: alb
  tls:
  - hosts: [app.example.test]
  rules:
  - host: app.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`

// TestALBCertificateDiscovery requests a wildcard certificate with the aws
// CLI, as a user would, and checks that an Ingress whose spec.tls names
// app.example.test and nothing else is served over HTTPS with it: curl
// trusting only kelb's CA ($KELB_CA in kelb shell) gets the pod's answer,
// and the listener's certificate is the requested one.
func TestALBCertificateDiscovery(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	out, err := env.Shell(t.Context(), "", "sh", "-c", `aws acm request-certificate --domain-name '*.example.test' --query CertificateArn --output text`)
	if err != nil {
		t.Fatalf("aws acm request-certificate: %v", err)
	}
	certARN := strings.TrimSpace(out)
	t.Cleanup(func() {
		// t.Context() has ended by now. Once the Ingress's load balancer is
		// gone (kubectl waits for the controller's finalizer), the
		// certificate can go.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "ingress", "-n", ns, "discovered", "--ignore-not-found", "--timeout=60s"); err != nil {
			t.Errorf("delete the Ingress: %v", err)
		}
		if _, err := env.Shell(ctx, "", "aws", "acm", "delete-certificate", "--certificate-arn", certARN); err != nil {
			t.Errorf("delete the requested certificate: %v", err)
		}
	})
	env.Apply(t, ns, albDeployment("web", 1)+"---\n"+discoveredIngress)
	lbHost := ingressHostname(t, env, ns, "discovered")
	pods := waitReadyPods(t, env, ns, "app=web", 1)

	framework.Eventually(t, 2*time.Minute, func() error {
		body, err := env.Shell(t.Context(), "", "sh", "-c",
			`curl -sS --max-time 10 --fail --cacert "$KELB_CA" --connect-to app.example.test:443:`+lbHost+`:443 https://app.example.test/`)
		if err != nil {
			return err
		}
		if !strings.Contains(body, "Hostname: "+pods[0]+"\n") {
			return fmt.Errorf("https://app.example.test/ answered, but not from pod %s:\n%s", pods[0], body)
		}
		return nil
	})
	var listeners struct {
		Listeners []struct {
			Protocol     string
			Certificates []struct{ CertificateArn string }
		}
	}
	lb := loadBalancerByDNS(t, env, lbHost)
	if err := awsJSON(t, env, &listeners, "elbv2", "describe-listeners", "--load-balancer-arn", lb.LoadBalancerArn); err != nil {
		t.Fatal(err)
	}
	if len(listeners.Listeners) != 1 || listeners.Listeners[0].Protocol != "HTTPS" ||
		len(listeners.Listeners[0].Certificates) != 1 || listeners.Listeners[0].Certificates[0].CertificateArn != certARN {
		t.Errorf("listeners %+v, want one HTTPS listener with the requested certificate %s", listeners.Listeners, certARN)
	}
}
