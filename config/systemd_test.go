package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnit: systemd-analyze verify accepts kelb-server.service with
// no warning (an unknown or misspelt directive is one), as shipped but for
// the binary's path, which verify requires to exist.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH (apt-get install systemd)")
	}
	unit, err := os.ReadFile("systemd/kelb-server.service")
	if err != nil {
		t.Fatal(err)
	}
	const bin = "/usr/local/bin/kelb"
	for _, want := range []string{"ExecStart=" + bin + " server ", "Restart=always", "LimitNOFILE=1048576",
		"CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW", "EnvironmentFile=/etc/kelb/kelb-server.env", "NoNewPrivileges=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("kelb-server.service lacks %s", want)
		}
	}
	dir := t.TempDir()
	kelb := filepath.Join(dir, "kelb")
	if err := os.WriteFile(kelb, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kelb-server.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), bin, kelb)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify kelb-server.service: %v\n%s", err, out)
	}
}
