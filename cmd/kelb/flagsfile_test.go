package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/kelb-io/kelb/internal/announce/bgp"
	"github.com/kelb-io/kelb/internal/dataplane/kernel"
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
	names := map[string]bool{}
	zones, _ := fs.GetStringArray("zone")
	for _, z := range zones {
		zone, err := server.ParseZone(z)
		if err != nil {
			t.Errorf("%s: --zone %s: %v", what, z, err)
		}
		names[zone.Name] = true
	}
	nodeZones, _ := fs.GetStringSlice("node-zones")
	for _, z := range nodeZones {
		if !names[z] {
			t.Errorf("%s: --node-zones %s is not a --zone of %v", what, z, zones)
		}
	}
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
