// Package k8sbin provides the Kubernetes binaries of a local environment
// (kube-apiserver, kube-controller-manager, kube-scheduler and kubectl),
// built from the k8s.io/kubernetes Go module at one pinned version and
// cached, and etcd, built the same way from go.etcd.io/etcd/server/v3
// (etcd.go), so that a machine needs no etcd package.
//
// k8s.io/kubernetes cannot be required like an ordinary module: its go.mod
// replaces every staging module (k8s.io/api, k8s.io/apiserver, ...) with a
// directory of its own repository. Build therefore reads that replace block
// (go mod download -json, then go mod edit -json on the downloaded go.mod),
// generates a small module that requires k8s.io/kubernetes and maps each
// staging module to the published v0.<minor>.<patch> tag, and builds the
// commands with the version ldflags set, so that kubectl version shows the
// real version rather than v0.0.0-master.
//
// The binaries go to $XDG_CACHE_HOME/kelb/k8s/<version>/bin (default
// ~/.cache). Each binary is built to a temporary name and renamed when
// complete, so an interrupted build never leaves a broken binary behind,
// and Ensure skips every binary already present. A file lock serialises
// concurrent builds of one version. Progress (which binary, elapsed time)
// goes to Options.Progress every few seconds.
package k8sbin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// DefaultVersion is the Kubernetes version kelb pins: the minor of the
// client-go kelb controller uses.
const DefaultVersion = "v1.36.3"

// Binaries are the commands Ensure provides, in build order.
var Binaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"}

// Options configures Ensure.
type Options struct {
	// Version is the k8s.io/kubernetes version; default DefaultVersion.
	Version string
	// CacheDir is the root of kelb's cache; default $XDG_CACHE_HOME/kelb
	// or ~/.cache/kelb.
	CacheDir string
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// ProgressEvery is the interval between progress lines during a
	// build; default 5s.
	ProgressEvery time.Duration
	// EtcdVersion is the go.etcd.io/etcd/server/v3 version EnsureEtcd
	// builds; default DefaultEtcdVersion.
	EtcdVersion string
}

// DefaultCacheDir returns $XDG_CACHE_HOME/kelb, or ~/.cache/kelb.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "kelb"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: %w", err)
	}
	return filepath.Join(home, ".cache", "kelb"), nil
}

func (o *Options) defaults() error {
	if o.Version == "" {
		o.Version = DefaultVersion
	}
	if o.CacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = d
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.EtcdVersion == "" {
		o.EtcdVersion = DefaultEtcdVersion
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return nil
}

// BinDir returns where the binaries of opts.Version are (or will be).
func BinDir(opts Options) (string, error) {
	if err := opts.defaults(); err != nil {
		return "", err
	}
	return filepath.Join(opts.CacheDir, "k8s", opts.Version, "bin"), nil
}

// Missing returns the binaries absent from dir.
func Missing(dir string) []string {
	var missing []string
	for _, b := range Binaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// Ensure returns the directory holding the binaries of opts.Version,
// building the missing ones first.
func Ensure(ctx context.Context, opts Options) (string, error) {
	if err := opts.defaults(); err != nil {
		return "", err
	}
	root := filepath.Join(opts.CacheDir, "k8s", opts.Version)
	bin := filepath.Join(root, "bin")
	if len(Missing(bin)) == 0 {
		return bin, nil
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the Kubernetes %s binaries are not built yet (%s) and building them needs the Go toolchain, which is not on PATH: install Go, or pass --k8s-bin-dir with existing binaries", opts.Version, bin)
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", bin, err)
	}
	unlock, err := lock(ctx, filepath.Join(root, ".lock"), "the Kubernetes binaries", opts.Progress)
	if err != nil {
		return "", err
	}
	defer unlock()
	missing := Missing(bin) // another build may have finished meanwhile
	if len(missing) == 0 {
		return bin, nil
	}
	b := &builder{goTool: goTool, opts: opts, version: opts.Version, src: filepath.Join(root, "src"), bin: bin}
	if err := b.prepare(ctx); err != nil {
		return "", err
	}
	for i, name := range missing {
		if err := b.build(ctx, name, "k8s.io/kubernetes/cmd/"+name, LDFlags(b.opts.Version), fmt.Sprintf("%d/%d", i+1, len(missing))); err != nil {
			return "", err
		}
	}
	return bin, nil
}

// Version runs "<dir>/kube-apiserver --version" and returns the version it
// reports, e.g. "v1.36.3".
func Version(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "kube-apiserver"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("kube-apiserver --version: %w", err)
	}
	// "Kubernetes v1.36.3"
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "Kubernetes "), nil
}

type builder struct {
	goTool   string
	opts     Options
	version  string // of what is built, for progress lines
	src, bin string
}

// stagingVersion maps v1.36.3 to v0.36.3, the tag of the staging modules.
func stagingVersion(version string) (string, error) {
	m := regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`).FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("kubernetes version %q: want v1.<minor>.<patch>", version)
	}
	return "v0." + m[1] + "." + m[2], nil
}

// LDFlags returns the -ldflags value that stamps version into the
// binaries.
func LDFlags(version string) string {
	major, minor := "1", ""
	if parts := strings.Split(strings.TrimPrefix(version, "v"), "."); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X "+pkg+".gitVersion="+version,
			"-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor,
			"-X "+pkg+".gitTreeState=clean",
		)
	}
	return strings.Join(flags, " ")
}

// GoMod returns the go.mod of the build module: it requires
// k8s.io/kubernetes at version and replaces each staging module with its
// published tag.
func GoMod(version, goVersion string, staging []string) (string, error) {
	sv, err := stagingVersion(version)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "module kelb.local/k8sbuild\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", goVersion, version)
	for _, m := range staging {
		fmt.Fprintf(&b, "\t%s => %s %s\n", m, m, sv)
	}
	b.WriteString(")\n")
	return b.String(), nil
}

func toolsGo() string {
	var b strings.Builder
	b.WriteString("//go:build tools\n\npackage tools\n\nimport (\n")
	for _, name := range Binaries {
		fmt.Fprintf(&b, "\t_ \"k8s.io/kubernetes/cmd/%s\"\n", name)
	}
	b.WriteString(")\n")
	return b.String()
}

// prepare writes the build module into b.src, unless a previous run did.
func (b *builder) prepare(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(b.src, "go.sum")); err == nil {
		return nil
	}
	fmt.Fprintf(b.opts.Progress, "preparing the Kubernetes %s build in %s\n", b.opts.Version, b.src)
	var dl struct {
		GoMod string
		Error string
	}
	out, err := b.goCmd(ctx, "", "mod", "download", "-json", "k8s.io/kubernetes@"+b.opts.Version)
	if jerr := json.Unmarshal(out, &dl); jerr != nil || dl.Error != "" || err != nil {
		return fmt.Errorf("download k8s.io/kubernetes@%s: %v %s", b.opts.Version, errors.Join(err, jerr), dl.Error)
	}
	out, err = b.goCmd(ctx, "", "mod", "edit", "-json", dl.GoMod)
	if err != nil {
		return fmt.Errorf("read %s: %w", dl.GoMod, err)
	}
	var mod struct {
		Go      string
		Replace []struct {
			Old struct{ Path string }
			New struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return fmt.Errorf("parse %s: %w", dl.GoMod, err)
	}
	var staging []string
	for _, r := range mod.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			staging = append(staging, r.Old.Path)
		}
	}
	if len(staging) == 0 {
		return fmt.Errorf("%s: no staging replacements found", dl.GoMod)
	}
	gomod, err := GoMod(b.opts.Version, mod.Go, staging)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(b.src, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", b.src, err)
	}
	for name, data := range map[string]string{"go.mod": gomod, "tools.go": toolsGo()} {
		if err := os.WriteFile(filepath.Join(b.src, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("write build module: %w", err)
		}
	}
	fmt.Fprintf(b.opts.Progress, "resolving the dependencies of k8s.io/kubernetes %s (go mod tidy)\n", b.opts.Version)
	if out, err := b.goCmd(ctx, b.src, "mod", "tidy"); err != nil {
		return fmt.Errorf("go mod tidy in %s: %w\n%s", b.src, err, out)
	}
	return nil
}

// build builds one binary, the main package pkg, to a temporary name and
// renames it into place.
func (b *builder) build(ctx context.Context, name, pkg, ldflags, step string) error {
	tmp := filepath.Join(b.bin, "."+name+".tmp")
	start := time.Now()
	fmt.Fprintf(b.opts.Progress, "building %s %s (%s); the first build takes several minutes\n", name, b.version, step)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		out, err := b.goCmd(ctx, b.src, "build", "-trimpath", "-ldflags", ldflags, "-o", tmp, pkg)
		if err != nil {
			err = fmt.Errorf("build %s: %w\n%s", name, err, out)
		}
		done <- err
	}()
	tick := time.NewTicker(b.opts.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				_ = os.Remove(tmp)
				return err
			}
			fmt.Fprintf(b.opts.Progress, "built %s in %s\n", name, time.Since(start).Round(time.Second))
			if err := os.Rename(tmp, filepath.Join(b.bin, name)); err != nil {
				return fmt.Errorf("install %s: %w", name, err)
			}
			return nil
		case <-tick.C:
			fmt.Fprintf(b.opts.Progress, "  building %s (%s): %s elapsed\n", name, step, time.Since(start).Round(time.Second))
		}
	}
}

func (b *builder) goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.goTool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.Bytes(), err
}

// lock takes an exclusive lock on path, telling progress if it has to wait
// for another build of what.
func lock(ctx context.Context, path, what string, progress io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !told {
			fmt.Fprintf(progress, "another kelb is building %s; waiting for it (%s)\n", what, path)
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
