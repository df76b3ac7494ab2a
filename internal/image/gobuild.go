package image

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GoBuild builds the main package pkg of the module in dir as a static
// binary for linux/arch, reproducibly: no cgo, -trimpath (no build paths),
// an empty build id and no symbol table. The go command is the one on PATH.
func GoBuild(ctx context.Context, dir, pkg, arch string) ([]byte, error) {
	out, err := os.MkdirTemp("", "kelb-image-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	bin := filepath.Join(out, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s for linux/%s: %w\n%s", pkg, arch, err, stderr.Bytes())
	}
	return os.ReadFile(bin)
}
