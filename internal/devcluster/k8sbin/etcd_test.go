package k8sbin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureEtcdReusesCachedBinary(t *testing.T) {
	cache := t.TempDir()
	want := filepath.Join(cache, "etcd", DefaultEtcdVersion, "bin", "etcd")
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// With the binary present, EnsureEtcd needs neither Go nor the network.
	t.Setenv("PATH", "")
	got, err := EnsureEtcd(t.Context(), Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("EnsureEtcd: %v", err)
	}
	if got != want {
		t.Errorf("EnsureEtcd = %q, want %q", got, want)
	}
	if p, _ := EtcdPath(Options{CacheDir: cache}); p != want {
		t.Errorf("EtcdPath = %q, want %q", p, want)
	}
}

func TestEnsureEtcdWithoutGo(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := EnsureEtcd(t.Context(), Options{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Go toolchain") {
		t.Errorf("EnsureEtcd without go = %v, want an error naming the Go toolchain", err)
	}
}

// TestEnsureEtcdBuilds builds etcd into kelb's cache, as kelb up does, and
// runs it. Building takes minutes the first time, so it runs only with
// KELB_TEST_BUILD_ETCD=1; once built, the cached binary is what it checks.
func TestEnsureEtcdBuilds(t *testing.T) {
	if os.Getenv("KELB_TEST_BUILD_ETCD") != "1" {
		t.Skip("set KELB_TEST_BUILD_ETCD=1 to build etcd into the cache (minutes the first time)")
	}
	var progress bytes.Buffer
	path, err := EnsureEtcd(t.Context(), Options{Progress: &progress})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("EnsureEtcd: %v", err)
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", path, err, out)
	}
	want := "etcd Version: " + strings.TrimPrefix(DefaultEtcdVersion, "v")
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "Git SHA: "+DefaultEtcdVersion) {
		t.Errorf("%s --version:\n%s\nwant %q and Git SHA %s", path, out, want, DefaultEtcdVersion)
	}
}
