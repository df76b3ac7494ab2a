// Package conformance runs the Gateway API conformance suite
// (sigs.k8s.io/gateway-api/conformance, the version in go.mod) against kelb
// controller in a kelb up environment, and writes the suite's reports where
// the upstream repository keeps implementations' reports:
// conformance/reports/<gateway API version>/kelb/.
//
// It runs only with KELB_CONFORMANCE=1 (make conformance), so that go test
// ./... is not slowed. TestMain brings the environment up through the e2e
// framework (kelb up --name <KELB_E2E_NAME>-conformance, which installs the
// Gateway API CRDs and the GatewayClasses aws-alb-gateway-class and
// aws-nlb-gateway-class). TestGatewayAPI then runs this same test binary
// inside the environment (kelb shell --), once per GatewayClass, as a user
// would run the suite from a machine of the cluster's network: the
// Gateways' DNS names resolve through kelb's DNS, and the backends are
// simulated pods running the suite's echo-basic image.
//
// The suite uses one GatewayClass per run, and kelb's classes split the
// route kinds as the AWS Load Balancer Controller does, so there are two
// runs (mode is the report's mode field):
//
//   - alb: aws-alb-gateway-class, profiles GATEWAY-HTTP and GATEWAY-GRPC
//   - nlb: aws-nlb-gateway-class, profile GATEWAY-TLS
//
// KELB_CONFORMANCE_MODES=alb (or nlb) runs only those, and
// KELB_CONFORMANCE_ARGS passes the suite more flags, e.g.
// "-run-test=HTTPRouteHTTPSListener" to run one test (its report is not
// kept). A run that fails tests fails TestGatewayAPI with the counts; the
// report is written either way. If the environment cannot come up, every
// test fails with kelb up's log.
package conformance

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/utils/kubernetes"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/consts"
	"sigs.k8s.io/gateway-api/pkg/features"
	"sigs.k8s.io/yaml"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// Environment variables between TestGatewayAPI and the suite it runs
// inside the environment.
const (
	enableEnv  = "KELB_CONFORMANCE"
	insideEnv  = "KELB_CONFORMANCE_RUN"    // the run's mode: alb or nlb
	reportEnv  = "KELB_CONFORMANCE_REPORT" // the report's path
	versionEnv = "KELB_CONFORMANCE_VERSION"
	// modesEnv restricts the runs to some modes (alb,nlb); all by default.
	modesEnv = "KELB_CONFORMANCE_MODES"
	// argsEnv holds more flags for the suite, space-separated (say
	// -run-test=HTTPRouteSimpleSameNamespace or -skip-tests=A,B): a run
	// with them writes its report to a temporary directory, not beside
	// the published ones.
	argsEnv = "KELB_CONFORMANCE_ARGS"
)

// run is one run of the suite.
type run struct {
	mode         string
	gatewayClass string
	profiles     []suite.ConformanceProfileName
	// skipBaseGateways marks the suite's base Gateways (every one has
	// HTTP or HTTPS listeners) gateway-api/skip-this-for-readiness: a
	// class that serves only TCP, UDP and TLS listeners refuses them, and
	// the suite's setup would wait for them forever. The profile's tests
	// bring Gateways of their own. The report's mode says so.
	skipBaseGateways bool
	// supported are the extended features kelb controller implements for
	// this class; the profiles' core features are always tested.
	supported []features.FeatureName
}

// runs are the suite's runs, by mode. The extended features are those
// kelb controller's Gateway API front-end (internal/controller/gateway)
// translates; what an ALB has no equivalent for (mirroring, CORS,
// timeouts, retries, 303/307/308 redirects, response header changes) is
// left out and its tests are skipped. So is HTTPRouteQueryParamMatching:
// an ALB's query-string condition compares names and values
// case-insensitively (kelb's data plane too, as AWS documents it), and the
// specification's match is exact, so ?ANIMAL=Whale would reach the route
// for animal=whale.
var runs = []run{
	{
		mode:         "alb",
		gatewayClass: devcluster.GatewayClassALB,
		profiles:     []suite.ConformanceProfileName{suite.GatewayHTTPConformanceProfileName, suite.GatewayGRPCConformanceProfileName},
		supported: []features.FeatureName{
			features.SupportHTTPRouteMethodMatching,
			features.SupportHTTPRouteHostRewrite,
			features.SupportHTTPRoutePathRewrite,
			features.SupportHTTPRoutePortRedirect,
			// A prefix-replacing redirect is a url-rewrite transform
			// before the redirect, which keeps the rewritten path.
			features.SupportHTTPRoutePathRedirect,
			features.SupportHTTPRouteSchemeRedirect,
			features.SupportHTTPRouteParentRefPort,
			// A parentRef's port selects the listeners (ALB listener
			// ports) a route attaches to.
			features.SupportHTTPRouteDestinationPortMatching,
			// Rule names are kept in the route and change nothing served.
			features.SupportHTTPRouteNamedRouteRule,
			// An ALB carries WebSocket upgrades; a kubernetes.io/h2c
			// backend port gets an HTTP2 target group (h2c), and kelb's
			// HTTP listeners take h2c with prior knowledge.
			features.SupportHTTPRouteBackendProtocolWebSocket,
			features.SupportHTTPRouteBackendProtocolH2C,
			features.SupportGatewayPort8080,
			// A ListenerSet's listeners join its Gateway's load
			// balancer.
			features.SupportListenerSet,
		},
	},
	{
		mode:         "nlb",
		gatewayClass: devcluster.GatewayClassNLB,
		profiles:     []suite.ConformanceProfileName{suite.GatewayTLSConformanceProfileName},
		// An NLB has no HTTP listeners.
		skipBaseGateways: true,
		// A TLS listener that terminates (its certificates from
		// Secrets) forwards the decrypted stream, as an NLB's TLS
		// listener does. Mixed termination on one port is
		// experimental and not claimed.
		supported: []features.FeatureName{features.SupportTLSRouteModeTerminate},
	},
}

var profilesByName = map[suite.ConformanceProfileName]suite.ConformanceProfile{
	suite.GatewayHTTPConformanceProfileName: suite.GatewayHTTPConformanceProfile,
	suite.GatewayGRPCConformanceProfileName: suite.GatewayGRPCConformanceProfile,
	suite.GatewayTLSConformanceProfileName:  suite.GatewayTLSConformanceProfile,
}

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(insideEnv) != "":
		// Inside the environment: TestSuite runs against KUBECONFIG.
		os.Exit(m.Run())
	case os.Getenv(enableEnv) != "1":
		os.Exit(m.Run())
	}
	os.Exit(framework.Main(m, framework.Options{NameSuffix: "-conformance"}))
}

// TestGatewayAPI runs the suite once per run inside the environment and
// fails when a run fails tests.
func TestGatewayAPI(t *testing.T) {
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("the Gateway API conformance suite runs with %s=1 (make conformance)", enableEnv)
	}
	if os.Getenv(insideEnv) != "" {
		t.Skip("inside the environment")
	}
	env := framework.Get(t)
	version := implementationVersion(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "conformance", "reports", consts.BundleVersion, "kelb"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	only := os.Getenv(modesEnv)
	for _, r := range runs {
		if only != "" && !slices.Contains(strings.Split(only, ","), r.mode) {
			continue
		}
		t.Run(r.mode, func(t *testing.T) {
			// The suite deletes its namespaces without waiting; the next
			// run cannot create its objects while they terminate.
			waitNamespacesGone(t, env)
			reportDir := dir
			extra := strings.Fields(os.Getenv(argsEnv))
			if len(extra) > 0 {
				reportDir = t.TempDir()
			}
			report := filepath.Join(reportDir, fmt.Sprintf("standard-%s-%s-report.yaml", version, r.mode))
			args := append([]string{self, "-test.run", "^TestSuite$", "-test.v", "-test.timeout", "80m"}, extra...)
			cmd := env.ShellCommand(t.Context(), args...)
			cmd.Env = append(os.Environ(), insideEnv+"="+r.mode, reportEnv+"="+report, versionEnv+"="+version)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			start := time.Now()
			runErr := cmd.Run()
			t.Logf("%s run took %s", r.mode, time.Since(start).Round(time.Second))
			rep, err := readReport(report)
			if err != nil {
				t.Fatalf("the suite wrote no report (%v): %v", runErr, err)
			}
			for _, p := range rep.ProfileReports {
				t.Logf("%s %s", p.Name, profileCounts(p))
			}
			if runErr != nil {
				t.Errorf("%s run: %v (report %s)", r.mode, runErr, report)
			}
		})
	}
}

// suiteNamespaces are the namespaces the suite's base manifests create.
var suiteNamespaces = []string{suite.InfrastructureNamespace, suite.AppBackendNamespace, suite.WebBackendNamespace}

// waitNamespacesGone waits (up to 5 minutes) until an earlier run's
// namespaces are deleted.
func waitNamespacesGone(t *testing.T, env *framework.Env) {
	t.Helper()
	framework.Eventually(t, 5*time.Minute, func() error {
		out, err := env.Shell(t.Context(), "", "kubectl", "get", "namespaces", "-o", "name")
		if err != nil {
			return err
		}
		for _, ns := range suiteNamespaces {
			if strings.Contains(out, "namespace/"+ns+"\n") {
				return fmt.Errorf("namespace %s of an earlier run still terminating", ns)
			}
		}
		return nil
	})
}

// TestSuite is the suite itself, run by TestGatewayAPI inside the
// environment.
func TestSuite(t *testing.T) {
	mode := os.Getenv(insideEnv)
	if mode == "" {
		t.Skip("run by TestGatewayAPI inside the environment")
	}
	var r *run
	for i := range runs {
		if runs[i].mode == mode {
			r = &runs[i]
		}
	}
	if r == nil {
		t.Fatalf("%s=%q: no such run", insideEnv, mode)
	}
	opts := conformance.DefaultOptions(t)
	opts.GatewayClassName = r.gatewayClass
	opts.ConformanceProfiles = r.profiles
	// Declared, never inferred: the profiles' core features and the
	// extended ones kelb implements.
	opts.SupportedFeatures = append([]features.FeatureName(nil), r.supported...)
	for _, name := range r.profiles {
		p, ok := profilesByName[name]
		if !ok {
			t.Fatalf("profile %s unknown", name)
		}
		opts.SupportedFeatures = append(opts.SupportedFeatures, p.CoreFeatures.UnsortedList()...)
	}
	opts.Mode = r.mode
	opts.ReportOutputPath = os.Getenv(reportEnv)
	opts.CleanupBaseResources = true
	opts.CleanupTestResources = true
	opts.Implementation = confv1.Implementation{
		Organization: "kelb-io",
		Project:      "kelb",
		URL:          "https://github.com/kelb-io/kelb",
		Version:      os.Getenv(versionEnv),
		Contact:      []string{"https://github.com/kelb-io/kelb"},
	}
	if r.skipBaseGateways {
		base, err := baseWithoutGatewayReadiness()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "kelb-base.yaml"), base, 0o600); err != nil {
			t.Fatal(err)
		}
		opts.ManifestFS = append([]fs.FS{os.DirFS(dir)}, opts.ManifestFS...)
		opts.BaseManifests = "kelb-base.yaml"
	}
	conformance.RunConformanceWithOptions(t, opts)
}

// baseWithoutGatewayReadiness returns the suite's base manifests with
// every Gateway annotated gateway-api/skip-this-for-readiness=true.
func baseWithoutGatewayReadiness() ([]byte, error) {
	b, err := fs.ReadFile(&conformance.Manifests, "base/manifests.yaml")
	if err != nil {
		return nil, err
	}
	docs := strings.Split(string(b), "\n---\n")
	for i, doc := range docs {
		if !strings.Contains(doc, "\nkind: Gateway\n") {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("base manifest %d: %w", i, err)
		}
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			return nil, fmt.Errorf("base manifest %d: a Gateway without metadata", i)
		}
		ann, _ := meta["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann[kubernetes.GatewayExcludedFromReadinessChecks] = "true"
		meta["annotations"] = ann
		out, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		docs[i] = string(out)
	}
	return []byte(strings.Join(docs, "\n---\n")), nil
}

// implementationVersion is the commit under test (the reports name a
// snapshot, never a branch), with -dirty when the tree has changes.
func implementationVersion(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		t.Fatalf("the report names the commit under test: git rev-parse: %v", err)
	}
	v := strings.TrimSpace(string(out))
	if err := exec.CommandContext(ctx, "git", "diff", "--quiet", "HEAD").Run(); err != nil {
		v += "-dirty"
	}
	return v
}

func readReport(path string) (*confv1.ConformanceReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep confv1.ConformanceReport
	if err := yaml.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return &rep, nil
}

// profileCounts says a profile's passed, failed and skipped tests, core
// and extended.
func profileCounts(p confv1.ProfileReport) string {
	s := fmt.Sprintf("core %s: %d passed, %d failed, %d skipped", p.Core.Result,
		p.Core.Statistics.Passed, p.Core.Statistics.Failed, p.Core.Statistics.Skipped)
	if p.Extended != nil {
		s += fmt.Sprintf("; extended %s: %d passed, %d failed, %d skipped", p.Extended.Result,
			p.Extended.Statistics.Passed, p.Extended.Statistics.Failed, p.Extended.Statistics.Skipped)
	}
	return s
}
