// Package devcluster is kelb up: a local Kubernetes environment in a
// private network namespace, with a real control plane, simulated nodes
// and pods, kelb server and kelb controller.
//
// Up runs in two halves. The outer half, in the caller's network
// namespace, checks permissions, makes sure the Kubernetes binaries are
// built (package k8sbin; this needs the Go module proxy, so it cannot run
// inside the namespace), creates the state directory and the namespace
// kelb-<name> (loopback up, 198.18.0.0/15 routed locally so that every
// address of the plan is bindable without further setup), and writes
// /etc/netns/<namespace>/resolv.conf so that `ip netns exec` points name
// resolution at kelb's DNS. It then runs the kelb binary again inside the
// namespace (`ip netns exec kelb-<name> kelb up --in-netns`). That inner
// half starts every process detached, in its own session with its own log
// file under the state directory, records each PID (with its start time)
// in state.json as soon as it is started, and waits until each one is
// healthy before starting the next: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kelb server, kelb nodes, kelb
// controller.
//
// Without root, the namespace is an unprivileged user+network+mount
// namespace instead (see rootless.go), kept alive by a holder process and
// entered with nsenter. One kelb up or kelb down runs per environment at a
// time (a lock file beside the state directory).
//
// On any failure, and on Ctrl-C, the inner half stops what it started and
// the outer half removes the namespace, the resolv.conf and the state
// directory: a failed up leaves nothing behind. Down does the same for a
// running environment. Processes are only ever stopped by the recorded
// PID (and those still inside the environment's namespace), SIGTERM first
// and SIGKILL after a grace period.
//
// The address plan: control plane (kube-apiserver :6443, kelb API :9400,
// DNS :53) on 198.18.0.1; node N on 198.18.0.(10+N) with pods in
// 198.18.N.0/24, zones round-robin; service cluster IPs 198.18.240.0/20;
// load balancer addresses of zone Z (a=1) in 198.19.Z.0/24, and, for
// dualstack load balancers, in fd6b:656c:6200:Z::/64 (PlanCIDR6, routed to
// the namespace's loopback like the IPv4 plan; not with --lb-nodes).
//
// With Options.LBNodes (kelb up --lb-nodes N) kelb server runs as a fleet
// instead (fleet.go, fleetnet.go, fleetup.go): N nodes in namespaces of
// their own on a three-member etcd, behind a router namespace running BIRD
// 2, which the outer half builds before the inner half starts the
// processes; Down stops them and deletes the fleet's namespaces too. A
// node or etcd member that dies stays dead, as every component does
// (kelb status says so); the router withdraws a dead node's routes when
// its BGP session closes.
package devcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/kelb-io/kelb/internal/devcluster/proc"
	"github.com/kelb-io/kelb/internal/server"
)

// The address plan of the environment.
const (
	ControlPlaneIP = "198.18.0.1"
	ServiceCIDR    = "198.18.240.0/20"
	Region         = "us-west-2"
	DNSDomain      = "kelb.local"
	APIServerPort  = 6443
	ELBAPIPort     = 9400
	MetricsPort    = 9401
	// ControllerHealthPort and ControllerMetricsPort are kelb
	// controller's, on ControlPlaneIP.
	ControllerHealthPort  = 61779
	ControllerMetricsPort = 9402
	ControllerWebhookPort = 9443
	// PlanCIDR is routed to the namespace's loopback.
	PlanCIDR = "198.18.0.0/15"
	// PlanCIDR6 is the IPv6 plan (a ULA network), routed to the
	// namespace's loopback too: zone Z's load balancer IPv6 pool is
	// fd6b:656c:6200:Z::/64 (ZoneCIDR6), for dualstack load balancers. A
	// fleet (--lb-nodes) has no IPv6 plan: its zones take ipv4 load
	// balancers only.
	PlanCIDR6 = "fd6b:656c:6200::/48"
)

// DefaultZones are the availability zones nodes are spread over.
var DefaultZones = []string{"us-west-2a", "us-west-2b", "us-west-2c"}

// ELBEndpoint is the ELBv2 API endpoint inside the environment.
func ELBEndpoint() string { return fmt.Sprintf("http://%s:%d", ControlPlaneIP, ELBAPIPort) }

// Options configures an environment.
type Options struct {
	// Name names the environment; its namespace is kelb-<Name>. Default
	// "default".
	Name string
	// Nodes is the number of simulated nodes; default 3.
	Nodes int
	// Zones the nodes are spread over; default DefaultZones.
	Zones []string
	// K8sBinDir holds existing Kubernetes binaries; empty builds (once)
	// and uses the cached ones.
	K8sBinDir string
	// K8sVersion is the Kubernetes version to build; default k8sbin's.
	K8sVersion string
	// Kelb is the kelb binary run as server, nodes and controller;
	// default the running executable.
	Kelb string
	// Components says which kelb subcommands exist in this build.
	Components Components
	// NoController leaves kelb controller out even when it exists.
	NoController bool
	// LBC is an AWS Load Balancer Controller binary run in place of kelb
	// controller (lbc.go); CRDDir should then hold its own CRDs.
	LBC string `json:"lbc,omitempty"`
	// CRDDir holds CustomResourceDefinitions applied after the control
	// plane is up (kelb's config/crd/bases); empty applies none.
	CRDDir string
	// LBNodes is the number of kelb server nodes of a fleet (fleet.go);
	// 0 runs one kelb server in the environment's namespace.
	LBNodes int `json:"lbNodes,omitempty"`
	// Fleet says which fleet flags kelb server has in this build.
	Fleet FleetFeatures `json:"fleet,omitempty"`
	// ServerFlags are added to kelb server's arguments (kelb up
	// --server-flag), say --auth-ca-file; none by default.
	ServerFlags []string `json:"serverFlags,omitempty"`
}

// Components says which optional kelb subcommands the binary has.
type Components struct {
	Server, Nodes, Controller bool
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = "default"
	}
	if !validName.MatchString(o.Name) {
		return fmt.Errorf("environment name %q: use lower-case letters, digits and '-', at most 31", o.Name)
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > 239 {
		return fmt.Errorf("--nodes %d: the address plan has room for 1 to 239 nodes", o.Nodes)
	}
	if len(o.Zones) == 0 {
		o.Zones = DefaultZones
	}
	if o.LBNodes < 0 || o.LBNodes > MaxLBNodes {
		return fmt.Errorf("--lb-nodes %d: the address plan has room for 0 (one kelb server) to %d lb nodes", o.LBNodes, MaxLBNodes)
	}
	if o.LBNodes > 0 && len(o.Zones) > MaxFleetZones {
		return fmt.Errorf("--zones: with --lb-nodes the address plan has room for %d zones, not %d", MaxFleetZones, len(o.Zones))
	}
	if o.Kelb == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the kelb executable: %w", err)
		}
		o.Kelb = exe
	}
	return nil
}

// State is what an environment records in <state dir>/state.json between
// commands.
type State struct {
	Options   Options `json:"options"`
	Namespace string  `json:"namespace"`
	Dir       string  `json:"dir"`
	BinDir    string  `json:"binDir"`
	// EtcdPath is the etcd binary the control plane runs.
	EtcdPath  string      `json:"etcdPath,omitempty"`
	K8sVer    string      `json:"k8sVersion"`
	Processes []proc.Info `json:"processes"`
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig string `json:"kubeconfig"`
	// Ready is set once every component was healthy.
	Ready bool `json:"ready"`
	// Rootless environments live in a user namespace kept by Holder.
	Rootless bool      `json:"rootless,omitempty"`
	Holder   proc.Info `json:"holder,omitempty"`
}

// has reports whether the environment started a process named name.
func (st *State) has(name string) bool {
	for _, p := range st.Processes {
		if p.Name == name {
			return true
		}
	}
	return false
}

// Namespace returns the network namespace of environment name.
func Namespace(name string) string { return "kelb-" + name }

// StateDir returns $XDG_STATE_HOME/kelb/<name> (default
// ~/.local/state/kelb/<name>).
func StateDir(name string) (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kelb", name), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w", err)
	}
	return filepath.Join(home, ".local", "state", "kelb", name), nil
}

func statePath(dir string) string { return filepath.Join(dir, "state.json") }

// ErrNoEnvironment is returned by LoadState when the environment does not
// exist.
var ErrNoEnvironment = errors.New("no such environment")

// LoadState reads the state of environment name.
func LoadState(name string) (*State, error) {
	dir, err := StateDir(name)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(statePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("environment %q: %w (kelb up --name %s creates it)", name, ErrNoEnvironment, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read the state of environment %q: %w", name, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", statePath(dir), err)
	}
	return &st, nil
}

// save writes st atomically.
func (st *State) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp := statePath(st.Dir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.Rename(tmp, statePath(st.Dir)); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// CredentialsFile is the AWS credentials file (mode 0600, a [default]
// profile) holding the access key kelb server accepts. The key itself is
// kept nowhere else: not in the state, the environment or any output.
func (st *State) CredentialsFile() string { return filepath.Join(st.Dir, "credentials") }

// AuthorityFile is where kelb server writes the certificate of the CA
// that issues the certificates requested through its ACM API
// (<state dir>/kelb-server/kelb-ca.pem; lb node 1's data dir in a fleet,
// whose nodes share the CA through etcd). A shell's KELB_CA names it.
func (st *State) AuthorityFile() string {
	if st.Options.LBNodes > 0 {
		return filepath.Join(LBDataDir(st, 1), server.AuthorityFile)
	}
	return filepath.Join(st.Dir, "kelb-server", server.AuthorityFile)
}

// Env returns the environment variables of a shell inside the
// environment, as NAME=value: kelb server is the endpoint of the ELBv2,
// ACM, EC2, S3 and Resource Groups Tagging APIs it answers (and of no other service). The AWS SDKs and
// CLI read the access key
// from CredentialsFile; the key variables are set empty because the SDKs
// would prefer keys inherited from the caller's environment to the file.
func (st *State) Env() []string {
	return []string{
		"KUBECONFIG=" + st.Kubeconfig,
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=" + st.APIEndpoint(),
		"AWS_ENDPOINT_URL_ACM=" + st.APIEndpoint(),
		"AWS_ENDPOINT_URL_EC2=" + st.APIEndpoint(),
		"AWS_ENDPOINT_URL_S3=" + st.APIEndpoint(),
		"AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API=" + st.APIEndpoint(),
		"AWS_SHARED_CREDENTIALS_FILE=" + st.CredentialsFile(),
		"AWS_PROFILE=default",
		"AWS_ACCESS_KEY_ID=",
		"AWS_SECRET_ACCESS_KEY=",
		"AWS_SESSION_TOKEN=",
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_REGION=" + Region,
		"KELB_ENV=" + st.Options.Name,
		"KELB_CA=" + st.AuthorityFile(),
	}
}

// NodeZone returns the zone of node n (1-based): round-robin over zones.
func NodeZone(zones []string, n int) string { return zones[(n-1)%len(zones)] }

// NodeIP returns the InternalIP of node n (1-based).
func NodeIP(n int) string { return fmt.Sprintf("198.18.0.%d", 10+n) }

// PodCIDR returns the pod range of node n (1-based).
func PodCIDR(n int) string { return fmt.Sprintf("198.18.%d.0/24", n) }

// ZoneCIDR returns the load balancer address pool of the i-th zone
// (0-based): 198.19.(i+1).0/24.
func ZoneCIDR(i int) string { return fmt.Sprintf("198.19.%d.0/24", i+1) }

// ZoneCIDR6 returns the load balancer IPv6 pool of the i-th zone
// (0-based): fd6b:656c:6200:(i+1)::/64 (the group in hex).
func ZoneCIDR6(i int) string { return fmt.Sprintf("fd6b:656c:6200:%x::/64", i+1) }
