// Package lbc runs the seeds' walkthroughs with the unmodified AWS Load
// Balancer Controller in place of kelb controller: kelb up
// --aws-load-balancer-controller, the controller pointed at kelb server
// for its ELBv2, EC2 and ACM calls. What it proves is that kelb server
// answers the real controller as AWS does: load balancers, listeners,
// target groups and targets it creates carry traffic, report healthy
// targets, and are deleted cleanly with their Kubernetes objects.
//
// TestMain builds the controller from its module (LBCModule at
// LBCVersion, through the Go module proxy, with its own go.mod: its
// dependencies never meet kelb's) into ~/.cache/kelb/lbc/<version>, once;
// the Go build cache keeps its packages. Like the Kubernetes binaries, it
// is only built when KELB_E2E_BUILD=1 (make test sets it); otherwise an
// unbuilt controller skips every test, saying how to build it.
package lbc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kelb-io/kelb/test/e2e/framework"
)

// The AWS Load Balancer Controller release the tests run.
const (
	LBCModule  = "sigs.k8s.io/aws-load-balancer-controller/v3"
	LBCVersion = "v3.6.2"
)

func TestMain(m *testing.M) {
	os.Exit(framework.Main(m, framework.Options{
		Nodes:      3,
		NameSuffix: "-lbc",
		Prepare:    prepareLBC,
	}))
}

// prepareLBC builds (or finds) the controller and returns kelb up's
// arguments that run it with its own CRDs.
func prepareLBC(ctx context.Context) ([]string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(cache, "kelb", "lbc", LBCVersion)
	exe := filepath.Join(bin, "aws-load-balancer-controller")
	if _, err := os.Stat(exe); errors.Is(err, fs.ErrNotExist) || os.Getenv("KELB_E2E_BUILD") == "1" {
		if os.Getenv("KELB_E2E_BUILD") != "1" {
			return nil, fmt.Errorf("the AWS Load Balancer Controller is not built (%s): run with KELB_E2E_BUILD=1 and a long -timeout, or GOBIN=%s go install %s@%s", exe, bin, LBCModule, LBCVersion)
		}
		// go install pkg@version builds with the module's own go.mod, in
		// any directory: kelb's module graph is not involved.
		install := exec.CommandContext(ctx, "go", "install", LBCModule+"@"+LBCVersion)
		install.Dir = os.TempDir()
		install.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=-mod=mod", "GOWORK=off")
		if out, err := install.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build the AWS Load Balancer Controller: %w\n%s", err, out)
		}
	}
	// Its CRDs, from the same module.
	download := exec.CommandContext(ctx, "go", "mod", "download", "-json", LBCModule+"@"+LBCVersion)
	download.Dir = os.TempDir()
	download.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := download.Output()
	if err != nil {
		return nil, fmt.Errorf("find the AWS Load Balancer Controller's module: %w\n%s", err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return nil, fmt.Errorf("go mod download %s@%s: no directory in %q", LBCModule, LBCVersion, out)
	}
	return []string{"--aws-load-balancer-controller", exe, "--crds", filepath.Join(mod.Dir, "config", "crd", "bases")}, nil
}
