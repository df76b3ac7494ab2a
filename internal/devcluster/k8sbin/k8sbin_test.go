package k8sbin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGoMod(t *testing.T) {
	tests := []struct {
		name    string
		version string
		staging []string
		want    string
		wantErr bool
	}{
		{
			name:    "maps staging modules to the v0 tag",
			version: "v1.36.3",
			staging: []string{"k8s.io/api", "k8s.io/client-go"},
			want: "module kelb.local/k8sbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v1.36.3\n\nreplace (\n" +
				"\tk8s.io/api => k8s.io/api v0.36.3\n\tk8s.io/client-go => k8s.io/client-go v0.36.3\n)\n",
		},
		{name: "rejects a pre-release", version: "v1.36.0-rc.1", wantErr: true},
		{name: "rejects a staging version", version: "v0.36.3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GoMod(tt.version, "1.26.0", tt.staging)
			if (err != nil) != tt.wantErr {
				t.Fatalf("GoMod error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GoMod mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLDFlags(t *testing.T) {
	got := strings.Fields(LDFlags("v1.36.3"))
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.36.3",
		"k8s.io/component-base/version.gitMajor=1",
		"k8s.io/component-base/version.gitMinor=36",
		"k8s.io/client-go/pkg/version.gitVersion=v1.36.3",
		"k8s.io/client-go/pkg/version.gitMinor=36",
	} {
		found := false
		for _, f := range got {
			found = found || f == want
		}
		if !found {
			t.Errorf("LDFlags(v1.36.3) = %q, missing %q", got, want)
		}
	}
}

func TestMissing(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"kube-apiserver", "kubectl"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Not executable: a half-written file must not count.
	if err := os.WriteFile(filepath.Join(dir, "kube-scheduler"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"kube-controller-manager", "kube-scheduler"}
	if diff := cmp.Diff(want, Missing(dir)); diff != "" {
		t.Errorf("Missing mismatch (-want +got):\n%s", diff)
	}
}

func TestEnsureReusesCachedBinaries(t *testing.T) {
	cache := t.TempDir()
	bin := filepath.Join(cache, "k8s", "v1.36.3", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range Binaries {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// With every binary present, Ensure needs neither Go nor the network.
	t.Setenv("PATH", "")
	got, err := Ensure(t.Context(), Options{Version: "v1.36.3", CacheDir: cache})
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if got != bin {
		t.Errorf("Ensure = %q, want %q", got, bin)
	}
}

func TestEnsureWithoutGo(t *testing.T) {
	t.Setenv("PATH", "")
	_, err := Ensure(t.Context(), Options{Version: "v1.36.3", CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Go toolchain") {
		t.Errorf("Ensure without go = %v, want an error naming the Go toolchain", err)
	}
}
