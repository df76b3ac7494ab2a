package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
