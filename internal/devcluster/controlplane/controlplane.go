// Package controlplane runs a real Kubernetes control plane from binaries
// on disk: etcd, kube-apiserver, and optionally kube-controller-manager and
// kube-scheduler.
//
// Start generates a CA, serving and client certificates and a
// service-account key under Config.Dir (crypto/x509, no openssl), writes an
// admin kubeconfig (system:masters) and one kubeconfig per component, then
// starts each process and waits until it is healthy before starting the
// next: etcd /health, kube-apiserver /readyz, the components' /healthz.
// RBAC is on. Node CIDRs are not allocated: simulated nodes bring their own
// pod CIDR.
//
// It works on any address: tests use 127.0.0.1 and free ports, kelb up uses
// the control-plane address of its network namespace and the standard
// ports. If any step fails, or ctx ends before the control plane is healthy,
// Start stops every process it started and returns the error with the tail
// of the failing process's log.
package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/pki"
	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

// Config configures a control plane. The zero value of every field but Dir
// and BinDir has a working default.
type Config struct {
	// Dir holds certificates, kubeconfigs, etcd's data and the logs. It is
	// created if missing.
	Dir string
	// BinDir holds kube-apiserver, kube-controller-manager and
	// kube-scheduler (see package k8sbin).
	BinDir string
	// EtcdPath is the etcd binary; default: the one kelb up built into its
	// cache (k8sbin.EnsureEtcd), else etcd on PATH.
	EtcdPath string

	// Address is where kube-apiserver listens and what it advertises;
	// default 127.0.0.1.
	Address string
	// APIServerPort is kube-apiserver's secure port; 0 picks a free one.
	APIServerPort int
	// EtcdPort and EtcdPeerPort are etcd's ports on 127.0.0.1; 0 picks free ones.
	EtcdPort, EtcdPeerPort int
	// ControllerManagerPort and SchedulerPort are the components' secure
	// (health) ports on Address; 0 picks free ones.
	ControllerManagerPort, SchedulerPort int
	// ServiceCIDR is the service cluster IP range; default 198.18.240.0/20.
	ServiceCIDR string

	// WithoutControllerManager and WithoutScheduler leave those out.
	WithoutControllerManager, WithoutScheduler bool
	// Detach starts the processes so that they outlive the caller (kelb up);
	// otherwise they die with it and Stop must be called (tests).
	Detach bool
	// Log receives one line per step; nil discards them.
	Log func(format string, args ...any)
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	// KubeconfigPath is the admin kubeconfig (group system:masters).
	KubeconfigPath string
	// RESTConfig is the admin client configuration.
	RESTConfig *rest.Config
	// URL is kube-apiserver's address, e.g. https://127.0.0.1:6443.
	URL string
	// CACertPath and CAKeyPath are the cluster CA; other components may
	// issue their own client certificates from it (see IssueKubeconfig).
	CACertPath, CAKeyPath string
	// Processes are the started processes, in start order.
	Processes []*proc.Process
	// Health lists, per process name, the URL that answers 200 when healthy.
	Health map[string]string

	ca  *pki.CA
	cfg Config
}

// Start starts the control plane described by cfg and returns once it is
// healthy.
func Start(ctx context.Context, cfg Config) (cp *ControlPlane, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	cp = &ControlPlane{cfg: cfg, Health: map[string]string{}}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = cp.Stop(stopCtx)
			cp = nil
		}
	}()
	certs, err := cp.writeCredentials()
	if err != nil {
		return cp, err
	}
	client, err := cp.healthClient()
	if err != nil {
		return cp, err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(cfg.EtcdPort)
	etcdPeer := "http://127.0.0.1:" + strconv.Itoa(cfg.EtcdPeerPort)
	etcdEnv := []string{}
	if runtime.GOARCH != "amd64" {
		etcdEnv = append(etcdEnv, "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	if err := cp.run(ctx, client, proc.Spec{
		Name: "etcd",
		Path: cfg.EtcdPath,
		Args: []string{
			"--name=kelb",
			"--data-dir=" + filepath.Join(cfg.Dir, "etcd"),
			"--listen-client-urls=" + etcdURL,
			"--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + etcdPeer,
			"--initial-advertise-peer-urls=" + etcdPeer,
			"--initial-cluster=kelb=" + etcdPeer,
			"--listen-metrics-urls=",
		},
		Env: etcdEnv,
	}, etcdURL+"/health"); err != nil {
		return cp, err
	}

	cp.URL = "https://" + net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.APIServerPort))
	if err := cp.run(ctx, client, proc.Spec{
		Name: "kube-apiserver",
		Path: filepath.Join(cfg.BinDir, "kube-apiserver"),
		Args: []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=" + cfg.Address,
			"--advertise-address=" + cfg.Address,
			"--secure-port=" + strconv.Itoa(cfg.APIServerPort),
			"--tls-cert-file=" + certs["apiserver.crt"],
			"--tls-private-key-file=" + certs["apiserver.key"],
			"--client-ca-file=" + certs["ca.crt"],
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=" + cfg.ServiceCIDR,
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + certs["sa.pub"],
			"--service-account-signing-key-file=" + certs["sa.key"],
			"--allow-privileged=true",
			"--profiling=false",
		},
	}, cp.URL+"/readyz"); err != nil {
		return cp, err
	}

	if !cfg.WithoutControllerManager {
		kc := certs["controller-manager.kubeconfig"]
		if err := cp.run(ctx, client, proc.Spec{
			Name: "kube-controller-manager",
			Path: filepath.Join(cfg.BinDir, "kube-controller-manager"),
			Args: []string{
				"--kubeconfig=" + kc,
				"--authentication-kubeconfig=" + kc,
				"--authorization-kubeconfig=" + kc,
				"--bind-address=" + cfg.Address,
				"--secure-port=" + strconv.Itoa(cfg.ControllerManagerPort),
				"--cert-dir=" + filepath.Join(cfg.Dir, "controller-manager"),
				"--leader-elect=false",
				"--controllers=*",
				"--use-service-account-credentials=true",
				"--service-account-private-key-file=" + certs["sa.key"],
				"--root-ca-file=" + certs["ca.crt"],
				"--cluster-signing-cert-file=" + certs["ca.crt"],
				"--cluster-signing-key-file=" + certs["ca.key"],
				"--allocate-node-cidrs=false",
				"--service-cluster-ip-range=" + cfg.ServiceCIDR,
				"--profiling=false",
			},
		}, "https://"+net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.ControllerManagerPort))+"/healthz"); err != nil {
			return cp, err
		}
	}
	if !cfg.WithoutScheduler {
		kc := certs["scheduler.kubeconfig"]
		if err := cp.run(ctx, client, proc.Spec{
			Name: "kube-scheduler",
			Path: filepath.Join(cfg.BinDir, "kube-scheduler"),
			Args: []string{
				"--kubeconfig=" + kc,
				"--authentication-kubeconfig=" + kc,
				"--authorization-kubeconfig=" + kc,
				"--bind-address=" + cfg.Address,
				"--secure-port=" + strconv.Itoa(cfg.SchedulerPort),
				"--cert-dir=" + filepath.Join(cfg.Dir, "scheduler"),
				"--leader-elect=false",
				"--profiling=false",
			},
		}, "https://"+net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.SchedulerPort))+"/healthz"); err != nil {
			return cp, err
		}
	}
	return cp, nil
}

// Stop stops every process, the last started first. The state directory is
// left in place.
func (cp *ControlPlane) Stop(ctx context.Context) error {
	var errs []error
	for i := len(cp.Processes) - 1; i >= 0; i-- {
		if err := cp.Processes[i].Stop(ctx, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// IssueKubeconfig writes dir/name, a kubeconfig for user (in groups) signed
// by the cluster CA, and returns its path.
func (cp *ControlPlane) IssueKubeconfig(name, user string, groups ...string) (string, error) {
	kp, err := cp.ca.Issue(pki.CertRequest{CommonName: user, Organizations: groups})
	if err != nil {
		return "", err
	}
	path := filepath.Join(cp.cfg.Dir, name)
	return path, WriteKubeconfig(path, cp.URL, cp.ca.CertPEM, kp)
}

// WriteKubeconfig writes a kubeconfig with one cluster, user and context
// ("kelb") with the certificates embedded.
func WriteKubeconfig(path, server string, caPEM []byte, kp pki.KeyPair) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kelb"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["kelb"] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts["kelb"] = &clientcmdapi.Context{Cluster: "kelb", AuthInfo: "kelb"}
	cfg.CurrentContext = "kelb"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

func (cfg *Config) defaults() error {
	if cfg.Dir == "" || cfg.BinDir == "" {
		return errors.New("control plane: Dir and BinDir are required")
	}
	if cfg.EtcdPath == "" {
		p, err := defaultEtcd()
		if err != nil {
			return err
		}
		cfg.EtcdPath = p
	}
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "198.18.240.0/20"
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	for _, p := range []struct {
		port *int
		host string
	}{
		{&cfg.APIServerPort, cfg.Address},
		{&cfg.EtcdPort, "127.0.0.1"},
		{&cfg.EtcdPeerPort, "127.0.0.1"},
		{&cfg.ControllerManagerPort, cfg.Address},
		{&cfg.SchedulerPort, cfg.Address},
	} {
		if *p.port != 0 {
			continue
		}
		port, err := freePort(p.host)
		if err != nil {
			return err
		}
		*p.port = port
	}
	need := []string{"kube-apiserver"}
	if !cfg.WithoutControllerManager {
		need = append(need, "kube-controller-manager")
	}
	if !cfg.WithoutScheduler {
		need = append(need, "kube-scheduler")
	}
	for _, name := range need {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, name)); err != nil {
			return fmt.Errorf("control plane: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "logs"), 0o755); err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	return nil
}

// writeCredentials writes the PKI and kubeconfigs and returns their paths
// by file name.
func (cp *ControlPlane) writeCredentials() (map[string]string, error) {
	cfg := cp.cfg
	dir := filepath.Join(cfg.Dir, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	ca, err := pki.NewCA("kelb-ca")
	if err != nil {
		return nil, err
	}
	cp.ca = ca
	_, svcNet, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("control plane: service CIDR %q: %w", cfg.ServiceCIDR, err)
	}
	firstSvc := append(net.IP(nil), svcNet.IP.To4()...)
	firstSvc[3]++
	serving, err := ca.Issue(pki.CertRequest{
		CommonName: "kube-apiserver",
		DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local", "localhost"},
		IPs: []net.IP{net.ParseIP(cfg.Address), net.ParseIP("127.0.0.1"), firstSvc},
	})
	if err != nil {
		return nil, err
	}
	saKey, saPub, err := pki.ServiceAccountKey()
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for name, data := range map[string][]byte{
		"ca.crt": ca.CertPEM, "ca.key": ca.KeyPEM,
		"apiserver.crt": serving.CertPEM, "apiserver.key": serving.KeyPEM,
		"sa.key": saKey, "sa.pub": saPub,
	} {
		if paths[name], err = pki.WriteFile(dir, name, data); err != nil {
			return nil, err
		}
	}
	cp.CACertPath, cp.CAKeyPath = paths["ca.crt"], paths["ca.key"]
	cp.URL = "https://" + net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.APIServerPort))

	for _, kc := range []struct{ file, user, group string }{
		{"admin.kubeconfig", "kubernetes-admin", "system:masters"},
		{"controller-manager.kubeconfig", "system:kube-controller-manager", ""},
		{"scheduler.kubeconfig", "system:kube-scheduler", ""},
	} {
		var groups []string
		if kc.group != "" {
			groups = []string{kc.group}
		}
		path, err := cp.IssueKubeconfig(kc.file, kc.user, groups...)
		if err != nil {
			return nil, err
		}
		paths[kc.file] = path
	}
	cp.KubeconfigPath = paths["admin.kubeconfig"]
	cp.RESTConfig, err = clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("control plane: load admin kubeconfig: %w", err)
	}
	return paths, nil
}

func (cp *ControlPlane) healthClient() (*http.Client, error) {
	return HealthClient(cp.RESTConfig)
}

// HealthClient returns an HTTP client that authenticates as cfg's user and
// does not verify serving certificates: the components' serving
// certificates are self-signed, and a health endpoint carries no secret.
func HealthClient(cfg *rest.Config) (*http.Client, error) {
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("control plane: admin TLS config: %w", err)
	}
	tlsCfg.RootCAs = nil
	tlsCfg.InsecureSkipVerify = true //nolint:gosec // health probes only, see above
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil},
	}, nil
}

// run starts spec and waits until healthURL answers 200, the process exits,
// or ctx ends.
func (cp *ControlPlane) run(ctx context.Context, client *http.Client, spec proc.Spec, healthURL string) error {
	spec.LogPath = filepath.Join(cp.cfg.Dir, "logs", spec.Name+".log")
	spec.Detach = cp.cfg.Detach
	cp.cfg.Log("starting %s", spec.Name)
	p, err := proc.Start(spec)
	if err != nil {
		return err
	}
	cp.Processes = append(cp.Processes, p)
	cp.Health[spec.Name] = healthURL
	if err := WaitHealthy(ctx, client, p, healthURL, 3*time.Minute); err != nil {
		return fmt.Errorf("%w\n%s", err, LogTail(spec.LogPath, 15))
	}
	cp.cfg.Log("%s is healthy (pid %d)", spec.Name, p.PID)
	return nil
}

// WaitHealthy polls url until it answers 200, p exits, timeout passes or
// ctx ends.
func WaitHealthy(ctx context.Context, client *http.Client, p *proc.Process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited before it became healthy (log: %s)", p.Name, p.LogPath)
		}
		last = Probe(ctx, client, url)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not healthy at %s: %w (last: %v)", p.Name, url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// Probe returns nil if url answers 200.
func Probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// LogTail returns the last n lines of the log at path, for error messages.
func LogTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + path + " (last lines) ---\n" + string(bytes.Join(lines, []byte("\n")))
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("control plane: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// defaultEtcd returns kelb's cached etcd build if there is one, else etcd
// on PATH.
func defaultEtcd() (string, error) {
	if p, err := k8sbin.EtcdPath(k8sbin.Options{}); err == nil {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("control plane: no etcd built by kelb up and none on PATH (run kelb up --build-only, install etcd-server, or set its path): %w", err)
	}
	return p, nil
}
