package devcluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

// TestEtcdBinary: --k8s-bin-dir's etcd first, then kelb's cached pinned
// build, and etcd on PATH only when that cannot be built (here: no Go on
// PATH).
func TestEtcdBinary(t *testing.T) {
	exe := func(t *testing.T, path string) string {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name                        string
		binDir, cached, onPath      bool
		want                        string // "binDir", "cached", "path" or "" (an error)
		wantErrHas, wantProgressHas string
	}{
		{name: "bin dir wins", binDir: true, cached: true, onPath: true, want: "binDir"},
		{name: "cached build before PATH", cached: true, onPath: true, want: "cached"},
		{name: "PATH when the build is impossible", onPath: true, want: "path", wantProgressHas: "cannot build etcd"},
		{name: "nothing", wantErrHas: "no etcd on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			t.Setenv("XDG_CACHE_HOME", filepath.Join(root, "cache"))
			want := map[string]string{}
			binDir := ""
			if tt.binDir {
				binDir = filepath.Join(root, "k8s-bin")
				want["binDir"] = exe(t, filepath.Join(binDir, "etcd"))
			}
			if tt.cached {
				p, err := k8sbin.EtcdPath(k8sbin.Options{})
				if err != nil {
					t.Fatal(err)
				}
				want["cached"] = exe(t, p)
			}
			pathDir := filepath.Join(root, "path")
			if err := os.MkdirAll(pathDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.onPath {
				want["path"] = exe(t, filepath.Join(pathDir, "etcd"))
			}
			t.Setenv("PATH", pathDir) // no go: building is impossible
			var progress bytes.Buffer
			got, err := etcdBinary(t.Context(), binDir, &progress)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrHas) {
					t.Fatalf("etcdBinary = %q, %v; want an error with %q", got, err, tt.wantErrHas)
				}
				return
			}
			if err != nil || got != want[tt.want] {
				t.Fatalf("etcdBinary = %q, %v; want %s", got, err, want[tt.want])
			}
			if !strings.Contains(progress.String(), tt.wantProgressHas) {
				t.Errorf("progress %q, want %q in it", progress.String(), tt.wantProgressHas)
			}
		})
	}
}
