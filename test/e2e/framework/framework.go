// Package framework brings a kelb environment (kelb up) up once per test
// binary and gives tests kubectl and curl inside it.
//
// Main builds the kelb command into a temporary directory, removes any
// environment left behind by an earlier run, runs `kelb up --name e2e`,
// runs the tests, and runs `kelb down --name e2e` at the end. Tests reach
// the environment only the way a user does: through `kelb shell --`, so
// kubectl and curl run inside its network namespace.
//
// The environment needs root or unprivileged user namespaces (for its
// network namespace) and the cached
// Kubernetes binaries; without them every test skips and says why. The
// first build of the Kubernetes binaries takes several minutes, longer
// than go test's default timeout, so Main only builds them when
// KELB_E2E_BUILD=1 (kelb up builds them too). KELB_E2E_KEEP=1 leaves the
// environment up after the run for inspection (kelb shell --name e2e).
// If bringing the environment up fails, every test fails with that error
// and the log of kelb up.
package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kelb-io/kelb/internal/devcluster"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

// Name is the environment the e2e tests bring up (namespace kelb-e2e), or
// KELB_E2E_NAME when set, so that two runs can share a machine.
var Name = envOr("KELB_E2E_NAME", "e2e")

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Env is a running environment.
type Env struct {
	// Kelb is the kelb binary built for this run.
	Kelb string
	// Name is the environment's name.
	Name string
	// Nodes is the number of simulated nodes.
	Nodes int
}

var (
	current  *Env
	skipWhy  string
	setupErr error
)

// Options configures Main.
type Options struct {
	// Nodes is the number of simulated nodes; default 3.
	Nodes int
	// ExtraUpArgs are added to kelb up.
	ExtraUpArgs []string
	// NameSuffix is added to Name: a test binary with an environment of
	// its own (say -fleet). Test binaries of one Name bring their
	// environments up one at a time (a lock file), so that go test ./...
	// never runs two environments at once on a small machine.
	NameSuffix string
	// Commands are programs the environment needs beyond kelb up's own,
	// with how to install each; without one every test skips, saying so.
	Commands map[string]string
	// Prepare runs once the environment can run here, before kelb up
	// (within 40 minutes), and returns more arguments for kelb up (say, a
	// program it builds); its error fails every test.
	Prepare func(ctx context.Context) (upArgs []string, err error)
}

// Main brings the environment up, runs the tests and tears it down. Use it
// from TestMain: os.Exit(framework.Main(m, framework.Options{})).
func Main(m *testing.M, opts Options) int {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if reason := unsupported(); reason != "" {
		skipWhy = reason
		return m.Run()
	}
	for cmd, install := range opts.Commands {
		if _, err := exec.LookPath(cmd); err != nil {
			skipWhy = fmt.Sprintf("%s is not installed (%s)", cmd, install)
			return m.Run()
		}
	}
	unlock, err := lockName(Name)
	if err != nil {
		setupErr = err
		return m.Run()
	}
	defer unlock()
	tmp, err := os.MkdirTemp("", "kelb-e2e-")
	if err != nil {
		setupErr = err
		return m.Run()
	}
	defer os.RemoveAll(tmp)
	name := Name + opts.NameSuffix
	env := &Env{Kelb: filepath.Join(tmp, "kelb"), Name: name, Nodes: opts.Nodes}
	if opts.Prepare != nil {
		// A first build may take long on a small machine: it has its own
		// bound, within go test's -timeout.
		pctx, pcancel := context.WithTimeout(context.Background(), 40*time.Minute)
		more, err := opts.Prepare(pctx)
		pcancel()
		if err != nil {
			setupErr = err
			return m.Run()
		}
		opts.ExtraUpArgs = append(append([]string(nil), opts.ExtraUpArgs...), more...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := setup(ctx, env, opts); err != nil {
		setupErr = err
	} else {
		current = env
	}
	code := m.Run()
	if os.Getenv("KELB_E2E_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "e2e: leaving environment %q up (KELB_E2E_KEEP=1); kelb down --name %s removes it\n", name, name)
		return code
	}
	downCtx, downCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer downCancel()
	if out, err := exec.CommandContext(downCtx, env.Kelb, "down", "--name", name).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: kelb down: %v\n%s", err, out)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// unsupported says why the environment cannot run here, or "".
func unsupported() string {
	if os.Geteuid() != 0 {
		// kelb up falls back to an unprivileged user namespace.
		if err := exec.Command("unshare", "--user", "--map-root-user", "--net", "--mount", "true").Run(); err != nil {
			return "the e2e tests need root or unprivileged user namespaces, and neither is available here: kelb up creates a network namespace (run go test as root, e.g. in CI)"
		}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		return "etcd is not installed (apt-get install etcd-server)"
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return "curl is not installed"
	}
	if os.Getenv("KELB_E2E_BUILD") != "1" {
		dir, err := k8sbin.BinDir(k8sbin.Options{})
		if err != nil {
			return err.Error()
		}
		if m := k8sbin.Missing(dir); len(m) > 0 {
			return fmt.Sprintf("the Kubernetes binaries are not built yet (%s missing in %s): run kelb up once, or set KELB_E2E_BUILD=1 with a long -timeout", strings.Join(m, ", "), dir)
		}
	}
	return ""
}

func setup(ctx context.Context, env *Env, opts Options) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", env.Kelb, "github.com/kelb-io/kelb/cmd/kelb")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build kelb: %w\n%s", err, out)
	}
	if os.Getenv("KELB_E2E_REUSE") != "1" {
		if out, err := exec.CommandContext(ctx, env.Kelb, "down", "--name", env.Name).CombinedOutput(); err != nil {
			return fmt.Errorf("remove a previous e2e environment: %w\n%s", err, out)
		}
	}
	args := append([]string{"up", "--name", env.Name, "--nodes", fmt.Sprint(opts.Nodes)}, opts.ExtraUpArgs...)
	up := exec.CommandContext(ctx, env.Kelb, args...)
	var out bytes.Buffer
	up.Stdout = &out
	up.Stderr = &out
	if err := up.Run(); err != nil {
		return fmt.Errorf("kelb %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// Get returns the environment, skipping t when it cannot run here and
// failing it when it did not come up.
func Get(t testing.TB) *Env {
	t.Helper()
	if skipWhy != "" {
		t.Skip(skipWhy)
	}
	if setupErr != nil {
		t.Fatalf("the e2e environment did not come up: %v", setupErr)
	}
	if current == nil {
		t.Fatal("framework.Main did not run: call it from TestMain")
	}
	return current
}

// Shell runs args inside the environment (kelb shell --) with stdin as
// its standard input, and returns its standard output.
func (e *Env) Shell(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.Kelb, append([]string{"shell", "--name", e.Name, "--"}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ShellCommand returns an unstarted command that runs args inside the
// environment, for requests that must run in the background.
func (e *Env) ShellCommand(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.Kelb, append([]string{"shell", "--name", e.Name, "--"}, args...)...)
}

// Kubectl runs kubectl with args inside the environment and fails t if it
// fails.
func (e *Env) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.Shell(t.Context(), "", append([]string{"kubectl"}, args...)...)
	if err != nil {
		t.Fatalf("kubectl: %v", err)
	}
	return out
}

// Apply applies manifest (YAML) in namespace ns.
func (e *Env) Apply(t testing.TB, ns, manifest string) {
	t.Helper()
	if _, err := e.Shell(t.Context(), manifest, "kubectl", "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, manifest)
	}
}

// GetJSON runs kubectl get ... -o json and decodes the result into v.
func (e *Env) GetJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := e.Kubectl(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decode kubectl get %s: %v", strings.Join(args, " "), err)
	}
}

// HasController reports whether a load balancer controller runs in the
// environment: kelb controller, or the AWS Load Balancer Controller (kelb
// up --aws-load-balancer-controller).
func (e *Env) HasController(t testing.TB) bool {
	t.Helper()
	st, err := devcluster.LoadState(e.Name)
	if err != nil {
		t.Fatalf("read the environment's state: %v", err)
	}
	for _, p := range st.Processes {
		if p.Name == "kelb-controller" || p.Name == devcluster.LBCName {
			return true
		}
	}
	return false
}

// Namespace creates a Kubernetes namespace for t, deleted when t ends. A
// suffix names a second namespace of the same test.
func (e *Env) Namespace(t testing.TB, suffix ...string) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	for _, s := range suffix {
		name += "-" + s
	}
	e.Kubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := e.Shell(ctx, "", "kubectl", "delete", "namespace", name, "--wait=false"); err != nil {
			t.Logf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

// Curl runs curl inside the environment and returns the HTTP status code
// and body. An error means no HTTP answer (refused, timed out).
func (e *Env) Curl(ctx context.Context, url string, extra ...string) (code int, body string, err error) {
	args := append([]string{"curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"}, extra...)
	out, err := e.Shell(ctx, "", append(args, url)...)
	if err != nil {
		return 0, out, err
	}
	i := strings.LastIndexByte(out, '\n')
	if _, err := fmt.Sscan(out[i+1:], &code); err != nil {
		return 0, out, fmt.Errorf("curl %s: no status code in %q", url, out)
	}
	return code, out[:i], nil
}

// Eventually calls check until it returns nil or timeout passes, then
// fails t with the last error.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %s: %v", timeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// lockName takes the lock of the e2e environments of name, waiting while
// another test binary holds it.
func lockName(name string) (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "kelb-e2e-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("e2e lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: waiting for another test binary's environment of %s to finish (%s)\n", name, path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("e2e lock %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}
