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

// waitRefused waits for a FailedBuildModel Warning on ns/name that names
// key and value and says why (why).
func waitRefused(t *testing.T, env *framework.Env, ns, name, key, value, why string) {
	t.Helper()
	framework.Eventually(t, time.Minute, func() error {
		for _, e := range events(t, env, ns, name) {
			if e.Type == "Warning" && e.Reason == "FailedBuildModel" && strings.Contains(e.Message, key) &&
				strings.Contains(e.Message, strconv.Quote(value)) && strings.Contains(e.Message, why) {
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
// authentication without saying which identity provider gets a
// FailedBuildModel Warning naming auth-type and no load balancer, rather
// than one serving its paths to anyone; a serving Ingress given the
// annotation later keeps its load balancer exactly as it was, still
// serving. (TestALBAuthOIDC logs in through a complete configuration.)
func TestALBRefusesAuthentication(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	ns := env.Namespace(t)
	const authType, oidc = "alb.ingress.kubernetes.io/auth-type", "oidc"
	const why = "auth-type oidc needs alb.ingress.kubernetes.io/auth-idp-oidc"
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
		waitRefused(t, env, ns, "guarded", authType, oidc, why)
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
		waitRefused(t, env, ns, "web", authType, oidc, why)
		if diff := cmp.Diff(before, albConfig(t, env, lb.LoadBalancerArn)); diff != "" {
			t.Errorf("load balancer changed after %s=%s (-before +after):\n%s", authType, oidc, diff)
		}
		serves(t)
	})
}
