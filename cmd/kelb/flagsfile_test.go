package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/kelb-io/kelb/internal/announce/bgp"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/server"
)

func TestFlagsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "flags")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`# kelb server flags
--region=eu-west-1
--zone=eu-west-1a=198.19.0.0/24

--zone eu-west-1b=198.19.1.0/24
--api-addr=0.0.0.0:9400
--store etcd
`)
	cmd := newServerCmd()
	if err := cmd.ParseFlags([]string{"--api-addr=127.0.0.1:9500", "--zone=eu-west-1c=198.19.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	fs := cmd.Flags()
	if err := applyFlagsFile(fs, file); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"region": "eu-west-1", "api-addr": "127.0.0.1:9500", "store": "etcd"} {
		if got, _ := fs.GetString(flag); got != want {
			t.Errorf("--%s = %q, want %q", flag, got, want)
		}
	}
	if !fs.Changed("store") {
		t.Error("--store from the file is not marked as given")
	}
	zones, _ := fs.GetStringArray("zone")
	if want := []string{"eu-west-1c=198.19.2.0/24", "eu-west-1a=198.19.0.0/24", "eu-west-1b=198.19.1.0/24"}; !slices.Equal(zones, want) {
		t.Errorf("--zone = %q, want %q", zones, want)
	}

	for _, tt := range []struct{ file, want string }{
		{"--no-such-flag=1\n", ":1: unknown flag --no-such-flag"},
		{"\n--region\n", ":2: flag --region needs a value"},
		{"region=x\n", `"region=x" is not a flag`},
		{"--flags-file=/etc/other\n", "cannot be given in a flags file"},
		{"--max-flows=many\n", "--max-flows"},
	} {
		write(tt.file)
		if err := applyFlagsFile(newServerCmd().Flags(), file); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("file %q: %v, want an error with %q", tt.file, err, tt.want)
		}
	}
	if err := applyFlagsFile(newServerCmd().Flags(), filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing flags file was accepted")
	}
}

// checkServerFlags checks that args (and the flags file they name, if any)
// are valid kelb server flags: known, with zones, BGP peers and the node's
// zones that parse.
func checkServerFlags(t *testing.T, what string, args []string, flagsFile string) {
	t.Helper()
	if err := serverNodeZones(what, args, flagsFile); err != nil {
		t.Error(err)
	}
	cmd := newServerCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	fs := cmd.Flags()
	if flagsFile != "" {
		if err := applyFlagsFile(fs, flagsFile); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	zones, _ := fs.GetStringArray("zone")
	peers, _ := fs.GetStringArray("bgp-peer")
	for _, p := range peers {
		if _, err := bgp.ParsePeer(p); err != nil {
			t.Errorf("%s: --bgp-peer %s: %v", what, p, err)
		}
	}
	for flag, want := range map[string]string{"store": server.StoreEtcd, "announce": server.AnnounceBGP, "snat-source": kernel.SNATNode} {
		if got, _ := fs.GetString(flag); got != want {
			t.Errorf("%s: --%s %q, want %q", what, flag, got, want)
		}
	}
	if len(zones) == 0 || len(peers) == 0 {
		t.Errorf("%s: zones %q, BGP peers %q: want some of each", what, zones, peers)
	}
}

// serverNodeZones parses kelb server's args and flags file and checks
// --node-zones as kelb server does.
func serverNodeZones(what string, args []string, flagsFile string) error {
	cmd := newServerCmd()
	if err := cmd.ParseFlags(args); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fs := cmd.Flags()
	if flagsFile != "" {
		if err := applyFlagsFile(fs, flagsFile); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	var zones []elb.Zone
	specs, _ := fs.GetStringArray("zone")
	for _, z := range specs {
		zone, err := server.ParseZone(z)
		if err != nil {
			return fmt.Errorf("%s: --zone %s: %w", what, z, err)
		}
		zones = append(zones, zone)
	}
	if err := checkNodeZones(fs, zones); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// TestShippedServerFlags: the DaemonSet of config/server with its flags file,
// and the systemd unit's example environment file, give kelb server flags it
// accepts.
func TestShippedServerFlags(t *testing.T) {
	raw, err := os.ReadFile("../../config/server/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	// The values the kubelet puts in for $(VAR).
	vars := strings.NewReplacer("$(KELB_NODE_NAME)", "lb-1", "$(KELB_NODE_ZONE)", "us-west-2b", "$(KELB_POD_IP)", "10.0.0.21")
	var args []string
	for _, a := range ds.Spec.Template.Spec.Containers[0].Args {
		args = append(args, vars.Replace(a))
	}
	if len(args) == 0 || args[0] != "server" {
		t.Fatalf("DaemonSet args %q do not run kelb server", args)
	}
	checkServerFlags(t, "config/server", args[1:], "../../config/server/server.flags")
	// On a node without the topology.kubernetes.io/zone label the kubelet
	// puts in an empty KELB_NODE_ZONE: kelb server refuses to start rather
	// than serve every zone.
	var unlabelled []string
	for _, a := range ds.Spec.Template.Spec.Containers[0].Args[1:] {
		unlabelled = append(unlabelled, strings.NewReplacer("$(KELB_NODE_NAME)", "lb-1", "$(KELB_NODE_ZONE)", "", "$(KELB_POD_IP)", "10.0.0.21").Replace(a))
	}
	if err := serverNodeZones("config/server without a zone label", unlabelled, "../../config/server/server.flags"); err == nil || !strings.Contains(err.Error(), "--node-zones is empty") {
		t.Errorf("config/server on a node without a zone label: %v, want --node-zones refused as empty", err)
	}

	// The unit's ExecStart with the example environment file, as systemd
	// expands it: $VAR splits the variable's value at white space.
	unit, err := os.ReadFile("../../config/systemd/kelb-server.service")
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile("../../config/systemd/kelb-server.env")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			values[k] = strings.TrimSpace(v)
		}
	}
	var exec []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			exec = strings.Fields(v)
		}
	}
	var sargs []string
	for _, w := range exec {
		if name, ok := strings.CutPrefix(w, "$"); ok {
			v, set := values[name]
			if !set {
				t.Errorf("kelb-server.service names $%s, which kelb-server.env does not set", name)
			}
			sargs = append(sargs, strings.Fields(v)...)
		} else {
			sargs = append(sargs, w)
		}
	}
	if len(sargs) < 2 || sargs[1] != "server" {
		t.Fatalf("ExecStart %q does not run kelb server", exec)
	}
	checkServerFlags(t, "config/systemd", sargs[2:], "")
}

// TestNodeZonesFlag: only an absent --node-zones means every zone; given
// empty it is refused, naming the flag.
func TestNodeZonesFlag(t *testing.T) {
	zones := []string{"--zone", "us-west-2a=198.19.1.0/24", "--zone", "us-west-2b=198.19.2.0/24"}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{args: nil},
		{args: []string{"--node-zones", "us-west-2b"}},
		{args: []string{"--node-zones=us-west-2a,us-west-2b"}},
		{args: []string{"--node-zones="}, wantErr: "--node-zones is empty: name the zones (of --zone) this node serves, or leave the flag out for every zone"},
		{args: []string{"--node-zones", ""}, wantErr: "--node-zones is empty"},
		{args: []string{"--node-zones=us-west-2a,,us-west-2b"}, wantErr: `--node-zones: an empty zone name in "us-west-2a,,us-west-2b"`},
		{args: []string{"--node-zones=us-west-2z"}, wantErr: `--node-zones: zone "us-west-2z" is not a zone of --zone (us-west-2a, us-west-2b)`},
	} {
		err := serverNodeZones("kelb server", append(slices.Clone(zones), tc.args...), "")
		if tc.wantErr == "" && err != nil {
			t.Errorf("%q: %v", tc.args, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.wantErr)
		}
	}
}
