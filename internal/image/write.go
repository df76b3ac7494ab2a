package image

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// refNameAnnotation names an image of an OCI layout's index by its tag.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// WriteLayout writes img as the only image of an OCI image layout at dir,
// annotated with ref (what crane and podman name it by). An existing dir is
// replaced once the new layout is whole.
func WriteLayout(img v1.Image, ref, dir string) error {
	if _, err := name.ParseReference(ref); err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameAnnotation: ref})); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	// MkdirTemp makes 0700; a layout is for everyone to read.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("replace OCI layout %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("replace OCI layout %s: %w", dir, err)
	}
	return nil
}

// WriteTarball writes img tagged ref as a tarball that docker load, podman
// load and crane push read, replacing file once it is whole.
func WriteTarball(img v1.Image, ref, file string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image tag %q: %w", ref, err)
	}
	tmp := file + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image tarball: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write image tarball: %w", err)
	}
	return nil
}
