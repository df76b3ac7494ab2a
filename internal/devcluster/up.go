package devcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

// InNetnsFlag is the hidden flag of kelb up (and kelb status) that marks
// the run inside the environment's namespace.
const InNetnsFlag = "in-netns"

// Up brings environment opts.Name up, or reports it already is, and
// prints the environment to out.
func Up(ctx context.Context, opts Options, out io.Writer) (err error) {
	if err := opts.defaults(); err != nil {
		return err
	}
	rootless, err := privileges(ctx)
	if err != nil {
		return err
	}
	unlock, err := lockEnvironment(opts.Name)
	if err != nil {
		return err
	}
	defer func() {
		// A failed up leaves no trace, not even its lock file.
		if _, serr := LoadState(opts.Name); err != nil && errors.Is(serr, ErrNoEnvironment) {
			if dir, derr := StateDir(opts.Name); derr == nil {
				_ = os.Remove(dir + ".lock")
			}
		}
		unlock()
	}()
	ns := Namespace(opts.Name)
	if opts.LBNodes > 0 {
		if rootless {
			return errors.New("kelb up --lb-nodes needs root: it creates a network namespace per lb node and one for the router")
		}
		if err := checkFleetCommands(opts); err != nil {
			return err
		}
	}
	if st, err := LoadState(opts.Name); err == nil {
		if st.Ready && environmentExists(st) {
			if dead := deadProcesses(st); len(dead) > 0 {
				return fmt.Errorf("environment %q is up but %s stopped running (logs in %s/logs); run kelb down --name %s, then kelb up again",
					opts.Name, strings.Join(dead, ", "), st.Dir, opts.Name)
			}
			fmt.Fprintf(out, "kelb environment %q is already up.\n", opts.Name)
			if st.Options.Nodes != opts.Nodes || st.Options.NoController != opts.NoController || st.Options.LBNodes != opts.LBNodes {
				fmt.Fprintf(out, "It was brought up with other options; kelb down --name %s, then kelb up, applies the new ones.\n", opts.Name)
			}
			fmt.Fprintln(out)
			PrintEnv(out, st)
			return nil
		}
		return fmt.Errorf("environment %q was not brought up completely (state in %s); run kelb down --name %s, then kelb up again", opts.Name, st.Dir, opts.Name)
	} else if !errors.Is(err, ErrNoEnvironment) {
		return err
	}
	if !rootless {
		for _, n := range append([]string{ns}, fleetNamespaces(&State{Namespace: ns, Options: opts})...) {
			if namespaceExists(n) {
				return fmt.Errorf("network namespace %s exists but kelb has no state for it; if no kelb environment runs there, remove it with: ip netns delete %s", n, n)
			}
		}
	}
	binDir := opts.K8sBinDir
	if binDir == "" {
		var err error
		binDir, err = k8sbin.Ensure(ctx, k8sbin.Options{Version: opts.K8sVersion, Progress: out})
		if err != nil {
			return fmt.Errorf("kubernetes binaries: %w", err)
		}
	} else if m := k8sbin.Missing(binDir); len(m) > 0 && !(len(m) == 1 && m[0] == "kubectl") {
		return fmt.Errorf("--k8s-bin-dir %s lacks %s", binDir, strings.Join(m, ", "))
	}
	version, err := k8sbin.Version(ctx, binDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Kubernetes %s from %s\n", version, binDir)
	etcd, err := etcdBinary(ctx, binDir, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "etcd %s\n", etcd)

	dir, err := StateDir(opts.Name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("create the state directory: %w", err)
	}
	st := &State{Options: opts, Namespace: ns, Dir: dir, BinDir: binDir, EtcdPath: etcd, K8sVer: version, Rootless: rootless}
	if err := st.save(); err != nil {
		return err
	}
	if err := up(ctx, st, out); err != nil {
		fmt.Fprintf(out, "kelb up failed; removing what it started\n")
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if derr := down(cleanupCtx, opts.Name, io.Discard); derr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", derr))
		}
		return err
	}
	st, err = LoadState(opts.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nkelb environment %q is up.\n\n", opts.Name)
	PrintEnv(out, st)
	return nil
}

// up creates the namespace and runs the inner half inside it.
func up(ctx context.Context, st *State, out io.Writer) error {
	// The inner half gets its own stop signal (Ctrl-C reaches it through
	// the terminal's process group); this context only bounds the wait.
	inner := []string{st.Options.Kelb, "up", "--name", st.Options.Name, "--" + InNetnsFlag}
	var cmd *exec.Cmd
	if st.Rootless {
		fmt.Fprintf(out, "creating user and network namespaces for %s (not root: rootless mode)\n", st.Namespace)
		cmd = exec.Command("unshare", append([]string{"--user", "--map-root-user", "--net", "--mount", "--propagation", "private", "--"}, inner...)...)
	} else {
		fmt.Fprintf(out, "creating network namespace %s\n", st.Namespace)
		local := PlanCIDR
		if st.Options.LBNodes > 0 {
			local = fleetMainLocalCIDR
		}
		if err := createNamespace(ctx, st.Namespace, local, st.nameservers()); err != nil {
			return err
		}
		if st.Options.LBNodes == 0 {
			if err := ip(ctx, "-n", st.Namespace, "-6", "route", "add", "local", PlanCIDR6, "dev", "lo"); err != nil {
				return err
			}
		}
		if st.Options.LBNodes > 0 {
			fmt.Fprintf(out, "creating the router namespace %s and %d lb node namespaces %s..%s\n", RouterNamespace(st.Namespace),
				st.Options.LBNodes, LBNamespace(st.Namespace, 1), LBNamespace(st.Namespace, st.Options.LBNodes))
			if err := createFleetNetwork(ctx, st); err != nil {
				return err
			}
		}
		cmd = inNamespace(context.WithoutCancel(ctx), st.Namespace, inner[0], inner[1:]...)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kelb inside %s: %w", st.Namespace, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bring the environment up inside %s: %w", st.Namespace, err)
		}
		return nil
	case <-ctx.Done():
		// Interrupted: tell the inner half in case the signal did not
		// reach it, and wait for it to stop what it started.
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
}

// RunInside is the inner half of Up, run by `kelb up --in-netns` inside
// the namespace: it starts every component, recording each in the state,
// and stops them all if one fails or ctx ends.
func RunInside(ctx context.Context, name string, out io.Writer) (err error) {
	st, err := LoadState(name)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = stopAll(stopCtx, st, logf)
		}
	}()

	if st.Rootless {
		if err := rootlessInner(ctx, st); err != nil {
			return err
		}
	}
	cp, err := controlplane.Start(ctx, controlplane.Config{
		Dir:                   filepath.Join(st.Dir, "k8s"),
		BinDir:                st.BinDir,
		EtcdPath:              st.EtcdPath,
		Address:               ControlPlaneIP,
		APIServerPort:         APIServerPort,
		EtcdPort:              2379,
		EtcdPeerPort:          2380,
		ControllerManagerPort: 10257,
		SchedulerPort:         10259,
		ServiceCIDR:           ServiceCIDR,
		Detach:                true,
		Log:                   logf,
	})
	if err != nil {
		return err
	}
	for _, p := range cp.Processes {
		st.Processes = append(st.Processes, p.Info)
	}
	st.Kubeconfig = filepath.Join(st.Dir, "kubeconfig")
	if err := copyFile(cp.KubeconfigPath, st.Kubeconfig); err != nil {
		return err
	}
	if err := st.save(); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if st.Options.CRDDir != "" {
		if err := applyCRDs(ctx, st, logf); err != nil {
			return err
		}
	}

	if err := writeCredentials(st); err != nil {
		return err
	}
	if err := st.save(); err != nil {
		return err
	}
	c := st.Options.Components
	if c.Server && st.Options.LBNodes > 0 {
		if err := startFleet(ctx, st, logf); err != nil {
			return err
		}
	} else if c.Server {
		if _, err := startComponent(ctx, st, "kelb-server", ServerArgs(st), logf, func(ctx context.Context) error {
			return dialable(ctx, net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ELBAPIPort)))
		}); err != nil {
			return err
		}
	} else {
		logf("kelb server is not available in this build; skipping it")
	}
	if c.Nodes {
		args := []string{"nodes", "--kubeconfig", st.Kubeconfig, "--count", strconv.Itoa(st.Options.Nodes), "--zones", strings.Join(st.Options.Zones, ",")}
		if _, err := startComponent(ctx, st, "kelb-nodes", args, logf, func(ctx context.Context) error {
			ready, err := readyNodes(ctx, client)
			if err != nil {
				return err
			}
			if ready < st.Options.Nodes {
				return fmt.Errorf("%d of %d nodes Ready", ready, st.Options.Nodes)
			}
			return nil
		}); err != nil {
			return err
		}
	} else {
		logf("kelb nodes is not available in this build; the cluster has no nodes")
	}
	switch {
	case st.Options.LBC != "":
		if err := startLBC(ctx, st, client, logf); err != nil {
			return err
		}
		if err := createIngressClass(ctx, client); err != nil {
			return err
		}
		if err := createGatewayClasses(ctx, cp.RESTConfig, logf); err != nil {
			return err
		}
	case st.Options.NoController:
		logf("kelb controller left out (--no-controller); run your own with the environment below")
	case !c.Controller:
		logf("kelb controller is not available in this build; skipping it")
	case st.Options.CRDDir == "":
		logf("kelb controller needs its CustomResourceDefinitions: run kelb up from the kelb source tree or pass --crds <kelb>/config/crd/bases; starting without the controller")
	default:
		if _, err := startComponent(ctx, st, "kelb-controller", ControllerArgs(st), logf, func(ctx context.Context) error {
			return httpOK(ctx, ControllerHealthURL())
		}); err != nil {
			return err
		}
		if err := createIngressClass(ctx, client); err != nil {
			return err
		}
		if err := createGatewayClasses(ctx, cp.RESTConfig, logf); err != nil {
			return err
		}
	}
	st.Ready = true
	return st.save()
}

// IngressClassName is the IngressClass kelb up creates for kelb
// controller, as the AWS Load Balancer Controller's Helm chart does: the
// seeds' Ingresses name it (ingressClassName: alb) without creating it.
const IngressClassName = "alb"

// createIngressClass creates the alb IngressClass (spec.controller
// ingress.k8s.aws/alb) unless it exists.
func createIngressClass(ctx context.Context, client kubernetes.Interface) error {
	class := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:   IngressClassName,
			Labels: map[string]string{"app.kubernetes.io/name": "kelb-controller"},
		},
		Spec: networkingv1.IngressClassSpec{Controller: "ingress.k8s.aws/alb"},
	}
	_, err := client.NetworkingV1().IngressClasses().Create(ctx, class, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create IngressClass %s: %w", IngressClassName, err)
	}
	return nil
}

// etcdBinary picks the etcd of an environment: the one in binDir when it
// has one (envtest's assets do), else kelb's pinned build (built once and
// cached, see k8sbin.EnsureEtcd), else, only when that cannot be built,
// the one on PATH.
func etcdBinary(ctx context.Context, binDir string, out io.Writer) (string, error) {
	if p := filepath.Join(binDir, "etcd"); binDir != "" && isExecutable(p) {
		return p, nil
	}
	p, err := k8sbin.EnsureEtcd(ctx, k8sbin.Options{Progress: out})
	if err == nil || ctx.Err() != nil {
		return p, err
	}
	if path, lerr := exec.LookPath("etcd"); lerr == nil {
		fmt.Fprintf(out, "cannot build etcd (%v); using %s\n", err, path)
		return path, nil
	}
	return "", fmt.Errorf("etcd: %w; and no etcd on PATH", err)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// LoadBalancerQuota is kelb server's quota of network and of application
// load balancers in a kelb up environment.
const LoadBalancerQuota = 500

// ServerArgs returns the arguments of kelb server in environment st: the
// API, DNS and metrics on the control-plane address, one address pool per
// zone, and each zone's nodes and pod ranges as its targets.
func ServerArgs(st *State) []string {
	return serverArgs(st, ControlPlaneIP, filepath.Join(st.Dir, "kelb-server"))
}

// serverArgs returns the arguments of a kelb server of st listening on
// addr with its data in dataDir.
func serverArgs(st *State, addr, dataDir string) []string {
	args := []string{"server",
		"--api-addr", net.JoinHostPort(addr, strconv.Itoa(ELBAPIPort)),
		"--dns-addr", net.JoinHostPort(addr, "53"),
		"--metrics-addr", net.JoinHostPort(addr, strconv.Itoa(MetricsPort)),
		"--data-dir", dataDir,
		"--region", Region,
		"--credentials-file", st.CredentialsFile(),
		"--dns-domain", DNSDomain,
		// The VPC is the address plan: nodes, pods and cluster IPs.
		"--vpc-cidr", PlanCIDR,
		// A raised quota, as an account that asked AWS for one: room for
		// a cold start of hundreds of Services (--server-flag lowers it).
		"--max-load-balancers-per-type", strconv.Itoa(LoadBalancerQuota),
	}
	for i, z := range st.Options.Zones {
		zone := z + "=" + ZoneCIDR(i)
		if st.Options.LBNodes == 0 {
			zone += ",ipv6=" + ZoneCIDR6(i)
		}
		args = append(args, "--zone", zone)
	}
	for n := 1; n <= st.Options.Nodes; n++ {
		z := NodeZone(st.Options.Zones, n)
		args = append(args, "--zone-targets", z+"="+PodCIDR(n), "--zone-targets", z+"="+NodeIP(n)+"/32")
	}
	// Each node is an instance whose id is in its spec.providerID, so that
	// instance targets may name it, as the AWS Load Balancer Controller
	// does; its pods' range is delegated to its network interface.
	// Options.defaults checked the count and the zones: Plan fails for
	// an unchecked State only, which gets no instances.
	nodes, _ := kubelet.Plan(st.Options.Nodes, st.Options.Zones)
	for _, n := range nodes {
		args = append(args, "--instance", n.InstanceID()+"="+n.IP.String()+",prefix="+n.PodCIDR.String())
	}
	return append(args, st.Options.ServerFlags...)
}

// ControllerArgs returns the arguments of kelb controller in environment
// st. Its endpoints bind the control-plane address only: a wildcard bind
// would take their ports on every pod address of the namespace.
func ControllerArgs(st *State) []string {
	return []string{"controller",
		"--kubeconfig", st.Kubeconfig,
		"--cluster-name", "kelb-" + st.Options.Name,
		"--elb-endpoint", st.APIEndpoint(),
		"--leader-elect=false",
		"--health-probe-bind-address", net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ControllerHealthPort)),
		"--metrics-bind-address", net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ControllerMetricsPort)),
		// kube-apiserver reaches the readiness gate webhook directly, by URL:
		// the controller runs beside the cluster, not in a pod.
		"--webhook-bind-address", net.JoinHostPort(ControlPlaneIP, strconv.Itoa(ControllerWebhookPort)),
		"--webhook-host", ControlPlaneIP,
		"--webhook-cert-dir", filepath.Join(st.Dir, "kelb-controller", "webhook-certs"),
	}
}

// ControllerHealthURL is kelb controller's readiness endpoint.
func ControllerHealthURL() string {
	return fmt.Sprintf("http://%s:%d/readyz", ControlPlaneIP, ControllerHealthPort)
}

func httpOK(ctx context.Context, url string) error {
	return controlplane.Probe(ctx, http.DefaultClient, url)
}

// startComponent starts the kelb binary with args, records it, and waits
// until healthy (if given) answers nil.
func startComponent(ctx context.Context, st *State, name string, args []string, logf func(string, ...any), healthy func(context.Context) error) (*proc.Process, error) {
	logf("starting %s", name)
	p, err := proc.Start(proc.Spec{
		Name:    name,
		Path:    st.Options.Kelb,
		Args:    args,
		Env:     st.Env(),
		LogPath: filepath.Join(st.Dir, "logs", name+".log"),
		Detach:  true,
	})
	if err != nil {
		return nil, err
	}
	st.Processes = append(st.Processes, p.Info)
	if err := st.save(); err != nil {
		return p, err
	}
	if healthy == nil {
		// No health signal: give it a moment to fail on bad flags.
		healthy = func(context.Context) error { return nil }
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var last error
	for {
		if p.Exited() {
			return p, fmt.Errorf("%s exited\n%s", name, controlplane.LogTail(p.LogPath, 15))
		}
		if last = healthy(waitCtx); last == nil {
			logf("%s is healthy (pid %d)", name, p.PID)
			return p, nil
		}
		select {
		case <-waitCtx.Done():
			return p, fmt.Errorf("%s not healthy: %w (last: %v)\n%s", name, waitCtx.Err(), last, controlplane.LogTail(p.LogPath, 15))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// readyNodes counts the nodes whose Ready condition is True.
func readyNodes(ctx context.Context, client kubernetes.Interface) (int, error) {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return ready, nil
}

func dialable(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// applyCRDs applies the CustomResourceDefinitions of st.Options.CRDDir
// with the environment's kubectl (with the other objects the directory
// holds, such as the Gateway API's ValidatingAdmissionPolicy), and waits
// (up to 2 minutes) until kube-apiserver serves every CRD: kelb controller looks the route kinds up
// once when it starts, and one not yet established would go unwatched.
func applyCRDs(ctx context.Context, st *State, logf func(string, ...any)) error {
	logf("applying the CustomResourceDefinitions of %s", st.Options.CRDDir)
	kubectl := filepath.Join(st.BinDir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		kubectl = "kubectl"
	}
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", st.Kubeconfig, "apply", "--server-side", "-f", st.Options.CRDDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apply CRDs from %s: %w\n%s", st.Options.CRDDir, err, out)
	}
	wait := exec.CommandContext(ctx, kubectl, "--kubeconfig", st.Kubeconfig, "wait", "--for", "condition=Established", "--timeout", "2m", "customresourcedefinitions", "--all")
	if out, err := wait.CombinedOutput(); err != nil {
		return fmt.Errorf("wait for the CRDs of %s to be established: %w\n%s", st.Options.CRDDir, err, out)
	}
	return nil
}

// writeCredentials writes the AWS credentials file kelb server accepts and
// the environment's shell reads (State.CredentialsFile, mode 0600).
func writeCredentials(st *State) error {
	id := make([]byte, 8)
	secret := make([]byte, 20)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("generate credentials: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("generate credentials: %w", err)
	}
	ini := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		"AKIAKELB"+strings.ToUpper(hex.EncodeToString(id))[:12], hex.EncodeToString(secret))
	path := st.CredentialsFile()
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		return fmt.Errorf("copy to %s: %w", to, err)
	}
	return nil
}
