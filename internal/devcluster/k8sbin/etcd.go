package k8sbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// DefaultEtcdVersion is the etcd kelb pins for its local environments: a
// v3.6 release, the etcd minor Kubernetes 1.36 is tested with, whose
// server module builds with kelb's Go toolchain from the module proxy.
const DefaultEtcdVersion = "v3.6.17"

// etcdPackage is etcd's main package: the server module's root.
const etcdPackage = "go.etcd.io/etcd/server/v3"

// EtcdPath returns where the etcd of opts.EtcdVersion is (or will be):
// $XDG_CACHE_HOME/kelb/etcd/<version>/bin/etcd.
func EtcdPath(opts Options) (string, error) {
	if err := opts.defaults(); err != nil {
		return "", err
	}
	return filepath.Join(opts.CacheDir, "etcd", opts.EtcdVersion, "bin", "etcd"), nil
}

// EnsureEtcd returns the path of the etcd binary of opts.EtcdVersion,
// building it first if it is not in the cache. As for the Kubernetes
// binaries, the build module is generated (it requires
// go.etcd.io/etcd/server/v3 at the pinned version), the binary is built to
// a temporary name and renamed when complete, and a file lock serialises
// concurrent builds.
func EnsureEtcd(ctx context.Context, opts Options) (string, error) {
	if err := opts.defaults(); err != nil {
		return "", err
	}
	root := filepath.Join(opts.CacheDir, "etcd", opts.EtcdVersion)
	bin := filepath.Join(root, "bin")
	path := filepath.Join(bin, "etcd")
	if isExecutable(path) {
		return path, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("etcd %s is not built yet (%s) and building it needs the Go toolchain, which is not on PATH", opts.EtcdVersion, path)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", bin, err)
	}
	unlock, err := lock(ctx, filepath.Join(root, ".lock"), "etcd", opts.Progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(path) { // another build finished meanwhile
		return path, nil
	}
	b := &builder{goTool: goTool, opts: opts, version: opts.EtcdVersion, src: filepath.Join(root, "src"), bin: bin}
	if err := b.prepareEtcd(ctx); err != nil {
		return "", err
	}
	if err := b.build(ctx, "etcd", etcdPackage, EtcdLDFlags(opts.EtcdVersion), "1/1"); err != nil {
		return "", err
	}
	return path, nil
}

// EtcdLDFlags stamps the version into etcd's GitSHA, which etcd --version
// prints (its version number is in the source already).
func EtcdLDFlags(version string) string {
	return "-X go.etcd.io/etcd/api/v3/version.GitSHA=" + version
}

// EtcdGoMod returns the go.mod of etcd's build module.
func EtcdGoMod(version string) string {
	return fmt.Sprintf("module kelb.local/etcdbuild\n\ngo 1.24\n\nrequire %s %s\n", etcdPackage, version)
}

// prepareEtcd writes etcd's build module into b.src, unless a previous run
// did.
func (b *builder) prepareEtcd(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(b.src, "go.sum")); err == nil {
		return nil
	}
	fmt.Fprintf(b.opts.Progress, "preparing the etcd %s build in %s\n", b.version, b.src)
	if err := os.MkdirAll(b.src, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", b.src, err)
	}
	tools := "//go:build tools\n\npackage tools\n\nimport _ \"" + etcdPackage + "\"\n"
	for name, data := range map[string]string{"go.mod": EtcdGoMod(b.version), "tools.go": tools} {
		if err := os.WriteFile(filepath.Join(b.src, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("write build module: %w", err)
		}
	}
	fmt.Fprintf(b.opts.Progress, "resolving the dependencies of %s %s (go mod tidy)\n", etcdPackage, b.version)
	if out, err := b.goCmd(ctx, b.src, "mod", "tidy"); err != nil {
		return fmt.Errorf("go mod tidy in %s: %w\n%s", b.src, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
