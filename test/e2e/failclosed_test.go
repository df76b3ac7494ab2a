package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// refusedMessage is what a FailedBuildModel Warning for an annotation kelb
// refuses says.
const refusedMessage = "does not implement it yet and refuses"

// waitRefused waits for a FailedBuildModel Warning on ns/name that names
// key and value and says kelb refuses it.
func waitRefused(t *testing.T, env *framework.Env, ns, name, key, value string) {
	t.Helper()
	framework.Eventually(t, time.Minute, func() error {
		for _, e := range events(t, env, ns, name) {
			if e.Type == "Warning" && e.Reason == "FailedBuildModel" && strings.Contains(e.Message, key) &&
				strings.Contains(e.Message, strconv.Quote(value)) && strings.Contains(e.Message, refusedMessage) {
				t.Logf("event: %s", e.Message)
				return nil
			}
		}
		return fmt.Errorf("no FailedBuildModel Warning refusing %s=%q; events:\n%s", key, value, ingressEvents(t, env, ns, name))
	})
}

// noLoadBalancerNamed checks that kelb server holds no load balancer
// called name.
func noLoadBalancerNamed(t *testing.T, env *framework.Env, name string) {
	t.Helper()
	for _, lb := range loadBalancers(t, env) {
		if lb.LoadBalancerName == name {
			t.Errorf("kelb server holds load balancer %s (%s) for a refused object", name, lb.LoadBalancerArn)
		}
	}
}

// TestALBRefusesAuthentication: an Ingress that asks for OIDC
// authentication gets a FailedBuildModel Warning naming auth-type and no
// load balancer, rather than one serving its paths to anyone; a serving
// Ingress given the annotation later keeps its load balancer exactly as it
// was, still serving.
func TestALBRefusesAuthentication(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	const authType, oidc = "alb.ingress.kubernetes.io/auth-type", "oidc"
	const guardedName = "failclosed-guarded"
	guarded := strings.NewReplacer("name: web\n", "name: guarded\n", "  annotations:\n",
		"  annotations:\n    "+authType+": "+oidc+"\n    alb.ingress.kubernetes.io/load-balancer-name: "+guardedName+"\n").Replace(plainIngress)
	env.Apply(t, ns, albDeployment("web", 2)+"---\n"+plainIngress+"---\n"+guarded)

	host := ingressHostname(t, env, ns, "web")
	lb := loadBalancerByDNS(t, env, host)
	pods := waitReadyPods(t, env, ns, "app=web", 2)
	serves := func(t *testing.T) {
		t.Helper()
		framework.Eventually(t, time.Minute, func() error {
			if got := hostnames(t, env, "http://"+host+"/", 8); !cmp.Equal(keys(got), pods) {
				return fmt.Errorf("answers %v, want one from each pod of %q", got, pods)
			}
			return nil
		})
	}
	serves(t)

	t.Run("new Ingress", func(t *testing.T) {
		waitRefused(t, env, ns, "guarded", authType, oidc)
		noLoadBalancerNamed(t, env, guardedName)
		var status struct {
			Status struct {
				LoadBalancer struct{ Ingress []any }
			}
		}
		env.GetJSON(t, &status, "ingress", "-n", ns, "guarded")
		if got := status.Status.LoadBalancer.Ingress; len(got) != 0 {
			t.Errorf("refused Ingress reports a load balancer: %v", got)
		}
	})

	t.Run("serving Ingress", func(t *testing.T) {
		before := albConfig(t, env, lb.LoadBalancerArn)
		env.Kubectl(t, "annotate", "-n", ns, "ingress", "web", authType+"="+oidc)
		defer env.Kubectl(t, "annotate", "-n", ns, "ingress", "web", authType+"-")
		waitRefused(t, env, ns, "web", authType, oidc)
		if diff := cmp.Diff(before, albConfig(t, env, lb.LoadBalancerArn)); diff != "" {
			t.Errorf("load balancer changed after %s=%s (-before +after):\n%s", authType, oidc, diff)
		}
		serves(t)
	})
}

// nlbTLSService is a Service whose ssl-cert and ssl-ports would make its
// port 443 a TLS listener.
const nlbTLSService = `apiVersion: v1
kind: Service
metadata:
  name: tls
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: external
    service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip
    service.beta.kubernetes.io/aws-load-balancer-name: failclosed-tls
    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:us-west-2:000000000000:certificate/11111111-2222-3333-4444-555555555555
    service.beta.kubernetes.io/aws-load-balancer-ssl-ports: "443"
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: https, port: 443, targetPort: 8080}
`

// nlbPlainService is the serving Service of TestNLBRefusesTLSListener. Its
// port is named from the start, so that adding a second port later renames
// nothing.
var nlbPlainService = strings.Replace(nlbLifecycleService, "  - {port: 80, targetPort: 8080}\n", "  - {name: http, port: 80, targetPort: 8080}\n", 1)

// TestNLBRefusesTLSListener: a Service whose ssl-cert and ssl-ports ask for
// a TLS listener gets a FailedBuildModel Warning naming ssl-cert and no
// load balancer, rather than a plain TCP listener on 443; a serving
// Service given a TLS port and the annotations later keeps its load
// balancer as it was (no listener on 443, no ELBv2 write), still serving.
func TestNLBRefusesTLSListener(t *testing.T) {
	env := nlbEnv(t)
	const ns = "nlb-failclosed"
	const sslCert = annotationPrefix + "aws-load-balancer-ssl-cert"
	const cert = "arn:aws:acm:us-west-2:000000000000:certificate/11111111-2222-3333-4444-555555555555"
	nlbNamespace(t, env, ns)
	env.Apply(t, ns, echoDeployment("web", 2))
	env.Apply(t, ns, nlbPlainService)
	env.Apply(t, ns, nlbTLSService)
	host := nlbHostname(t, env, ns, "web")
	lbARN, err := nlbLoadBalancerARN(t.Context(), env, host)
	if err != nil {
		t.Fatal(err)
	}
	pods := waitReadyPods(t, env, ns, "app=web", 2)
	serves := func(t *testing.T) {
		t.Helper()
		framework.Eventually(t, time.Minute, func() error {
			if got, table := nlbSpread(t, env, host, 8); !cmp.Equal(keys(got), pods) {
				return fmt.Errorf("answers:\n%s\nwant one from each pod of %q", table, pods)
			}
			return nil
		})
	}
	serves(t)

	t.Run("new Service", func(t *testing.T) {
		waitRefused(t, env, ns, "tls", sslCert, cert)
		noLoadBalancerNamed(t, env, "failclosed-tls")
		out := env.Kubectl(t, "get", "service", "-n", ns, "tls", "-o", "jsonpath={.status.loadBalancer.ingress}")
		if strings.TrimSpace(out) != "" {
			t.Errorf("refused Service reports a load balancer: %s", out)
		}
	})

	t.Run("serving Service", func(t *testing.T) {
		listeners := func() []string {
			var out struct{ Listeners []struct{ Port int } }
			if err := nlbAWS(t.Context(), env, &out, "describe-listeners", "--load-balancer-arn", lbARN); err != nil {
				t.Fatal(err)
			}
			var ports []string
			for _, l := range out.Listeners {
				ports = append(ports, strconv.Itoa(l.Port))
			}
			return ports
		}
		tgARN := nlbTargetGroupARN(t, env, ns, "web")
		before, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
		if err != nil {
			t.Fatal(err)
		}
		writes := nlbSettle(t, env)
		withTLS := strings.Replace(nlbPlainService, "  annotations:\n",
			"  annotations:\n    "+sslCert+": "+cert+"\n    "+annotationPrefix+"aws-load-balancer-ssl-ports: \"443\"\n", 1) +
			"  - {name: https, port: 443, targetPort: 8080}\n"
		if !strings.Contains(withTLS, "name: http,") || !strings.Contains(withTLS, sslCert) {
			t.Fatalf("manifest not rewritten:\n%s", withTLS)
		}
		env.Apply(t, ns, withTLS)
		waitRefused(t, env, ns, "web", sslCert, cert)
		if after := nlbSettle(t, env); !cmp.Equal(writes, after) {
			t.Errorf("kelb server took writes after a TLS listener was asked for: %v -> %v", writes, after)
		}
		if got := listeners(); !cmp.Equal(got, []string{"80"}) {
			t.Errorf("listeners on ports %v, want only 80", got)
		}
		after, err := nlbDescribe(t.Context(), env, lbARN, tgARN)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before, after); diff != "" {
			t.Errorf("the load balancer changed (-before +after):\n%s", diff)
		}
		serves(t)
		if t.Failed() {
			return
		}
		// Without the annotations the new port is deployed as plain TCP,
		// which is what the Service then asks for.
		env.Apply(t, ns, strings.Replace(withTLS, "  annotations:\n    "+sslCert+": "+cert+"\n", "  annotations:\n", 1))
		framework.Eventually(t, time.Minute, func() error {
			if got := listeners(); !cmp.Equal(got, []string{"443", "80"}) && !cmp.Equal(got, []string{"80", "443"}) {
				return fmt.Errorf("listeners on ports %v, want 80 and 443", got)
			}
			return nil
		})
	})
}
