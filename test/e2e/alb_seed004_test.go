package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// TestALBSeed004Game2048 follows seed 004: the game-2048 manifest, applied
// unchanged, gets an internet-facing application load balancer whose
// TargetGroupBinding is in IP mode, and the Ingress hostname answers from
// both pods, and from a third once the Deployment is scaled. Deleting the
// Ingress removes the load balancer and the binding.
func TestALBSeed004Game2048(t *testing.T) {
	env := framework.Get(t)
	requireController(t, env)
	const ns = "game-2048"
	if _, err := env.Shell(t.Context(), framework.Seed004Manifest, "kubectl", "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply seed 004's ingress1.yaml: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if _, err := env.Shell(ctx, "", "kubectl", "delete", "namespace", ns, "--timeout=60s"); err != nil {
			t.Logf("delete namespace %s: %v", ns, err)
		}
	})

	// $ kubectl get targetgroupbindings -n game-2048
	// NAME                               SERVICE-NAME   SERVICE-PORT   TARGET-TYPE   AGE
	// k8s-game2048-service2-85c505d625   service-2048   80             ip            7m27s
	var binding string
	framework.Eventually(t, time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "targetgroupbindings", "-n", ns)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("want a header and one binding, got:\n%s", out)
		}
		if got, want := strings.Fields(lines[0]), []string{"NAME", "SERVICE-NAME", "SERVICE-PORT", "TARGET-TYPE", "AGE"}; !cmp.Equal(got, want) {
			return fmt.Errorf("columns %q, want %q", got, want)
		}
		row := strings.Fields(lines[1])
		if len(row) != 5 || !strings.HasPrefix(row[0], "k8s-game2048-service2-") || row[1] != "service-2048" || row[2] != "80" || row[3] != "ip" {
			return fmt.Errorf("binding row %q, want k8s-game2048-service2-<hash> service-2048 80 ip", row)
		}
		binding = row[0]
		return nil
	})

	host := ingressHostname(t, env, ns, "ingress-2048")
	lb := loadBalancerByDNS(t, env, host)
	if lb.Type != "application" || lb.Scheme != "internet-facing" || !strings.HasPrefix(lb.LoadBalancerName, "k8s-game2048-ingress2-") {
		t.Errorf("load balancer %+v: want an internet-facing application load balancer named k8s-game2048-ingress2-<hash>", lb)
	}

	want := waitReadyPods(t, env, ns, "app.kubernetes.io/name=app-2048", 2)
	framework.Eventually(t, 2*time.Minute, func() error {
		got := hostnames(t, env, "http://"+host+"/", 20)
		if diff := cmp.Diff(want, keys(got)); diff != "" {
			return fmt.Errorf("pods that answered http://%s/ (-pods +answers): %v\n%s", host, got, diff)
		}
		return nil
	})

	// The targets follow kubectl scale.
	env.Kubectl(t, "scale", "-n", ns, "deployment/deployment-2048", "--replicas=3")
	want = waitReadyPods(t, env, ns, "app.kubernetes.io/name=app-2048", 3)
	framework.Eventually(t, 2*time.Minute, func() error {
		got := hostnames(t, env, "http://"+host+"/", 24)
		if diff := cmp.Diff(want, keys(got)); diff != "" {
			return fmt.Errorf("pods that answered http://%s/ after scaling to 3 (-pods +answers): %v\n%s", host, got, diff)
		}
		return nil
	})

	// Deleting the Ingress deletes what it made.
	env.Kubectl(t, "delete", "ingress", "-n", ns, "ingress-2048", "--timeout=60s")
	framework.Eventually(t, time.Minute, func() error {
		for _, l := range loadBalancers(t, env) {
			if l.LoadBalancerArn == lb.LoadBalancerArn {
				return fmt.Errorf("load balancer %s still exists", lb.LoadBalancerName)
			}
		}
		if out := env.Kubectl(t, "get", "targetgroupbindings", "-n", ns, "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("bindings left: %s (was %s)", out, binding)
		}
		return nil
	})
}
