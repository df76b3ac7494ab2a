package image

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testTag = "registry.example/kelb/test:v1"

var epoch = time.Unix(1700000000, 0).UTC()

func testSpec(bin []byte, created time.Time) Spec {
	return Spec{
		Files:      append(Base(), File{Path: "usr/local/bin/hello", Mode: 0o755, Data: bin}),
		Entrypoint: []string{"/usr/local/bin/hello"},
		Labels:     map[string]string{"org.opencontainers.image.title": "hello"},
		Created:    created,
		OS:         "linux", Architecture: runtime.GOARCH,
	}
}

// build builds the spec and writes its layout and tarball under a new
// directory, returning the image's digest and the directory.
func build(t *testing.T, s Spec) (v1.Hash, string) {
	t.Helper()
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteLayout(img, testTag, filepath.Join(dir, "layout")); err != nil {
		t.Fatal(err)
	}
	if err := WriteTarball(img, testTag, filepath.Join(dir, "image.tar")); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// tree reads every regular file under dir, by relative path.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestReproducible: two builds of the same inputs, the binary compiled
// twice, give the same digest and byte-identical layouts and tarballs; a
// different SOURCE_DATE_EPOCH gives another digest.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program twice")
	}
	bin1, err := GoBuild(t.Context(), ".", "./testdata/hello", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	bin2, err := GoBuild(t.Context(), ".", "./testdata/hello", runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bin1, bin2) {
		t.Fatal("two builds of one package differ")
	}
	d1, dir1 := build(t, testSpec(bin1, epoch))
	d2, dir2 := build(t, testSpec(bin2, epoch))
	if d1 != d2 {
		t.Errorf("digests differ: %s, %s", d1, d2)
	}
	f1, f2 := tree(t, dir1), tree(t, dir2)
	if len(f1) != len(f2) {
		t.Errorf("%d files, then %d", len(f1), len(f2))
	}
	for p, b := range f1 {
		if !bytes.Equal(b, f2[p]) {
			t.Errorf("%s differs between two builds", p)
		}
	}
	if d3, _ := build(t, testSpec(bin1, epoch.Add(time.Second))); d3 == d1 {
		t.Error("another SOURCE_DATE_EPOCH gave the same digest")
	}

	// The binary is static and runs.
	f, err := elf.NewFile(bytes.NewReader(bin1))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader")
		}
	}
	exe := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(exe, bin1, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(exe).Output(); err != nil || string(out) != "hello from the image\n" {
		t.Errorf("the binary said %q, %v", out, err)
	}
}

// TestLayoutAndTarballRead: go-containerregistry's own readers accept the
// layout and the tarball and find one valid image with the entrypoint, the
// nonroot user and the layer's files as built.
func TestLayoutAndTarballRead(t *testing.T) {
	bin := []byte("#!/bin/false\n")
	digest, dir := build(t, testSpec(bin, epoch))

	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Digest != digest || im.Manifests[0].Annotations[refNameAnnotation] != testTag {
		t.Fatalf("layout index %+v, want the one image %s named %s", im.Manifests, digest, testTag)
	}
	fromLayout, err := idx.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(testTag)
	fromTar, err := tarball.ImageFromPath(filepath.Join(dir, "image.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	for what, img := range map[string]v1.Image{"layout": fromLayout, "tarball": fromTar} {
		if err := validate.Image(img); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	if d, err := fromLayout.Digest(); err != nil || d != digest {
		t.Errorf("layout: digest %s (%v), want %s", d, err, digest)
	}
	// A docker tarball keeps the config and layers, not the manifest
	// (docker load writes its own): those are the same.
	for what, id := range map[string]func(v1.Image) (v1.Hash, error){
		"config": v1.Image.ConfigName,
		"layer": func(img v1.Image) (v1.Hash, error) {
			ls, err := img.Layers()
			if err != nil || len(ls) != 1 {
				return v1.Hash{}, fmt.Errorf("%d layers, %v", len(ls), err)
			}
			return ls[0].Digest()
		},
	} {
		a, errA := id(fromLayout)
		b, errB := id(fromTar)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s of the layout %s (%v), of the tarball %s (%v)", what, a, errA, b, errB)
		}
	}
	cf, err := fromLayout.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Entrypoint; len(got) != 1 || got[0] != "/usr/local/bin/hello" {
		t.Errorf("entrypoint %q", got)
	}
	if cf.Config.User != "65532:65532" || cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !cf.Created.Time.Equal(epoch) {
		t.Errorf("config: user %q, platform %s/%s, created %s", cf.Config.User, cf.OS, cf.Architecture, cf.Created)
	}
	if cf.Config.Labels["org.opencontainers.image.title"] != "hello" {
		t.Errorf("labels %v", cf.Config.Labels)
	}

	layers, err := fromLayout.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type entry struct {
		mode     int64
		uid, gid int
		data     string
	}
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %s, want %s", h.Name, h.ModTime, epoch)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = entry{h.Mode, h.Uid, h.Gid, string(b)}
	}
	for p, want := range map[string]entry{
		"usr/":                {0o755, 0, 0, ""},
		"usr/local/bin/":      {0o755, 0, 0, ""},
		"usr/local/bin/hello": {0o755, 0, 0, string(bin)},
		"tmp/":                {0o1777, 0, 0, ""},
		"var/lib/kelb/":       {0o700, Nonroot, Nonroot, ""},
		"home/nonroot/":       {0o700, Nonroot, Nonroot, ""},
	} {
		if got[p] != want {
			t.Errorf("%s: %+v, want %+v", p, got[p], want)
		}
	}
	if !strings.Contains(got["etc/passwd"].data, "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd %q lacks nonroot", got["etc/passwd"].data)
	}
}

func TestBadSpec(t *testing.T) {
	for _, tt := range []struct {
		files []File
		want  string
	}{
		{[]File{{Path: "../etc/passwd"}}, "outside the root"},
		{[]File{{Path: "/"}}, "outside the root"},
		{[]File{{Path: "a"}, {Path: "/a"}}, "given twice"},
		{[]File{{Path: "a"}, {Path: "a/b"}}, "a file and a directory"},
	} {
		s := testSpec(nil, epoch)
		s.Files = tt.files
		if _, err := Build(s); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want an error saying %q", tt.files, err, tt.want)
		}
	}
	s := testSpec(nil, epoch)
	s.Entrypoint = nil
	if _, err := Build(s); err == nil {
		t.Error("an image without entrypoint was built")
	}
}
