package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kelb-io/kelb/internal/devcluster/proc"
)

func TestServerArgs(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		zones []string
		want  []string
	}{
		{
			name:  "one node",
			nodes: 1,
			zones: []string{"us-west-2a"},
			want: []string{
				"--zone", "us-west-2a=198.19.1.0/24,ipv6=fd6b:656c:6200:1::/64",
				"--zone-targets", "us-west-2a=198.18.1.0/24", "--zone-targets", "us-west-2a=198.18.0.11/32",
				"--instance", "i-e65a0bb4bbcd7f477=198.18.0.11,prefix=198.18.1.0/24",
			},
		},
		{
			name:  "four nodes over three zones wrap around",
			nodes: 4,
			zones: DefaultZones,
			want: []string{
				"--zone", "us-west-2a=198.19.1.0/24,ipv6=fd6b:656c:6200:1::/64",
				"--zone", "us-west-2b=198.19.2.0/24,ipv6=fd6b:656c:6200:2::/64",
				"--zone", "us-west-2c=198.19.3.0/24,ipv6=fd6b:656c:6200:3::/64",
				"--zone-targets", "us-west-2a=198.18.1.0/24", "--zone-targets", "us-west-2a=198.18.0.11/32",
				"--zone-targets", "us-west-2b=198.18.2.0/24", "--zone-targets", "us-west-2b=198.18.0.12/32",
				"--zone-targets", "us-west-2c=198.18.3.0/24", "--zone-targets", "us-west-2c=198.18.0.13/32",
				"--zone-targets", "us-west-2a=198.18.4.0/24", "--zone-targets", "us-west-2a=198.18.0.14/32",
				"--instance", "i-e65a0bb4bbcd7f477=198.18.0.11,prefix=198.18.1.0/24",
				"--instance", "i-493f35df1c0d5f71a=198.18.0.12,prefix=198.18.2.0/24",
				"--instance", "i-22d633b116ea7f672=198.18.0.13,prefix=198.18.3.0/24",
				"--instance", "i-ad7867703474f35ba=198.18.0.14,prefix=198.18.4.0/24",
			},
		},
	}
	common := []string{"server",
		"--api-addr", "198.18.0.1:9400",
		"--dns-addr", "198.18.0.1:53",
		"--metrics-addr", "198.18.0.1:9401",
		"--data-dir", "/state/kelb-server",
		"--region", "us-west-2",
		"--credentials-file", "/state/credentials",
		"--dns-domain", "kelb.local",
		"--vpc-cidr", "198.18.0.0/15",
		"--max-load-balancers-per-type", "500",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &State{Dir: "/state", Options: Options{Nodes: tt.nodes, Zones: tt.zones}}
			want := append(append([]string(nil), common...), tt.want...)
			if diff := cmp.Diff(want, ServerArgs(st)); diff != "" {
				t.Errorf("ServerArgs mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestControllerArgs(t *testing.T) {
	st := &State{Dir: "/state", Options: Options{Name: "dev"}}
	want := []string{"controller",
		"--kubeconfig", "",
		"--cluster-name", "kelb-dev",
		"--elb-endpoint", "http://198.18.0.1:9400",
		"--leader-elect=false",
		"--health-probe-bind-address", "198.18.0.1:61779",
		"--metrics-bind-address", "198.18.0.1:9402",
		"--webhook-bind-address", "198.18.0.1:9443",
		"--webhook-host", "198.18.0.1",
		"--webhook-cert-dir", "/state/kelb-controller/webhook-certs",
	}
	if diff := cmp.Diff(want, ControllerArgs(st)); diff != "" {
		t.Errorf("ControllerArgs mismatch (-want +got):\n%s", diff)
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "defaults", opts: Options{}},
		{name: "bad name", opts: Options{Name: "My Env"}, wantErr: "environment name"},
		{name: "too many nodes", opts: Options{Nodes: 240}, wantErr: "room for 1 to 239"},
		{name: "negative nodes", opts: Options{Nodes: -1}, wantErr: "room for 1 to 239"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.defaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("defaults: %v", err)
				}
				if tt.opts.Name != "default" || tt.opts.Nodes != 3 || len(tt.opts.Zones) != 3 || tt.opts.Kelb == "" {
					t.Errorf("defaults = %+v", tt.opts)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("defaults error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	if _, err := LoadState("x"); err == nil {
		t.Fatal("LoadState of a missing environment succeeded")
	}
	dir, err := StateDir("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := &State{
		Options:   Options{Name: "x", Nodes: 2, Zones: DefaultZones},
		Namespace: Namespace("x"), Dir: dir, Kubeconfig: dir + "/kubeconfig",
		Processes: []proc.Info{{Name: "etcd", PID: 42, StartTime: 7, LogPath: dir + "/logs/etcd.log"}},
		Ready:     true,
	}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState("x")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("state round trip (-want +got):\n%s", diff)
	}
}

func TestPrintEnv(t *testing.T) {
	st := &State{
		Options: Options{Name: "dev", Nodes: 3, Zones: DefaultZones}, Namespace: "kelb-dev",
		BinDir: "/cache/bin", Kubeconfig: "/state/kubeconfig", Dir: "/state",
	}
	var out bytes.Buffer
	PrintEnv(&out, st)
	for _, want := range []string{
		"export KUBECONFIG=/state/kubeconfig\n",
		"export AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2=http://198.18.0.1:9400\n",
		"export AWS_ENDPOINT_URL_ACM=http://198.18.0.1:9400\n",
		"export AWS_ENDPOINT_URL_EC2=http://198.18.0.1:9400\n",
		"export AWS_ENDPOINT_URL_S3=http://198.18.0.1:9400\n",
		"export AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API=http://198.18.0.1:9400\n",
		"export AWS_SHARED_CREDENTIALS_FILE=/state/credentials\n",
		"export AWS_PROFILE=default\n",
		"unset AWS_ACCESS_KEY_ID\n",
		"unset AWS_SECRET_ACCESS_KEY\n",
		"export AWS_DEFAULT_REGION=us-west-2\n",
		"kelb shell --name dev\n",
		"kelb down --name dev",
		"export KELB_CA=/state/kelb-server/kelb-ca.pem\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("PrintEnv output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLockEnvironment(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	unlock, err := lockEnvironment("x")
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	if _, err := lockEnvironment("x"); err == nil || !strings.Contains(err.Error(), "another kelb up or kelb down") {
		t.Errorf("second lock while held = %v, want an error naming the other command", err)
	}
	other, err := lockEnvironment("y")
	if err != nil {
		t.Fatalf("lock of another environment: %v", err)
	}
	other()
	unlock()
	again, err := lockEnvironment("x")
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

// TestNamespace creates a real network namespace and checks the plan's
// addresses are bindable there, name resolution points at kelb's DNS, and
// deletion leaves nothing behind.
func TestNamespace(t *testing.T) {
	if err := checkPrivileges(); err != nil {
		t.Skip(err)
	}
	ctx := t.Context()
	ns := fmt.Sprintf("kelb-test%d", os.Getpid())
	if err := createNamespace(ctx, ns, PlanCIDR, []string{ControlPlaneIP}); err != nil {
		t.Fatalf("createNamespace: %v", err)
	}
	t.Cleanup(func() { _ = deleteNamespace(context.Background(), ns) })
	if !namespaceExists(ns) {
		t.Fatalf("namespace %s not found after createNamespace", ns)
	}
	// Any address of the plan is bindable and reachable inside, with no
	// per-address setup.
	script := `import socket
for a in ("198.18.0.1", "198.18.7.9", "198.19.3.200"):
    s = socket.socket(); s.bind((a, 8080)); s.listen()
    c = socket.create_connection((a, 8080), timeout=2); c.close(); s.close()
print(open("/etc/resolv.conf").read())`
	out, err := inNamespace(ctx, ns, "python3", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bind plan addresses inside %s: %v\n%s", ns, err, out)
	}
	if !strings.Contains(string(out), "nameserver 198.18.0.1") {
		t.Errorf("resolv.conf inside %s:\n%s\nwant nameserver 198.18.0.1", ns, out)
	}
	// Outside, the plan's addresses are not local.
	if err := exec.CommandContext(ctx, "python3", "-c", `import socket; socket.socket().bind(("198.18.0.1", 0))`).Run(); err == nil {
		t.Errorf("198.18.0.1 is bindable outside the namespace")
	}
	if err := deleteNamespace(ctx, ns); err != nil {
		t.Fatalf("deleteNamespace: %v", err)
	}
	if namespaceExists(ns) {
		t.Errorf("namespace %s still exists", ns)
	}
	if _, err := os.Stat(resolvDir(ns)); !os.IsNotExist(err) {
		t.Errorf("%s still exists (err %v)", resolvDir(ns), err)
	}
}
