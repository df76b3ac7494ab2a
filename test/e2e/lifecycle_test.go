package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// TestUpAgainAndStatus checks that a second kelb up finds the environment
// and prints it again, and that kelb status reports every component
// healthy.
func TestUpAgainAndStatus(t *testing.T) {
	env := framework.Get(t)
	out, err := exec.CommandContext(t.Context(), env.Kelb, "up", "--name", env.Name, "--nodes", "3").CombinedOutput()
	if err != nil {
		t.Fatalf("second kelb up: %v\n%s", err, out)
	}
	for _, want := range []string{"is already up", "export KUBECONFIG=", "export AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=http://198.18.0.1:9400"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second kelb up printed no %q:\n%s", want, out)
		}
	}

	out, err = exec.CommandContext(t.Context(), env.Kelb, "status", "--name", env.Name).CombinedOutput()
	if err != nil {
		t.Fatalf("kelb status: %v\n%s", err, out)
	}
	for _, component := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kelb-server", "kelb-nodes"} {
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && f[0] == component {
				found = true
				if f[2] != "yes" || f[3] != "yes" {
					t.Errorf("kelb status: %s not alive and healthy: %q", component, line)
				}
			}
		}
		if !found {
			t.Errorf("kelb status does not list %s:\n%s", component, out)
		}
	}
	if !strings.Contains(string(out), "3/3 nodes Ready") {
		t.Errorf("kelb status does not report 3/3 nodes Ready:\n%s", out)
	}
}
