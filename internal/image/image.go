// Package image builds kelb's OCI image without a container daemon: one
// layer holding a nonroot-friendly root file system (/etc/passwd and
// /etc/group with root and nonroot, uid 65532; /tmp; /var/lib/kelb owned by
// nonroot), the static kelb binary and CA certificates, on an empty base,
// written as an OCI image layout directory and as a tarball that docker
// load, podman load and crane push read.
//
// Builds are reproducible: every file of the layer, the image's creation
// time and its history carry Spec.Created (SOURCE_DATE_EPOCH), entries are
// sorted, owners are numeric, and gzip writes no time or name, so the same
// inputs give the same image digest, layout and tarball bytes on any
// machine. GoBuild builds the binary with -trimpath and an empty build id,
// so the same source and toolchain give the same bytes.
//
// Failure behaviour: Build refuses a Spec with a path outside the root,
// given twice, or without a file to run; Write removes what it wrote when
// it fails, and leaves an existing layout directory or tarball replaced
// whole or untouched.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Nonroot is the uid and gid of the image's default user.
const Nonroot = 65532

// File is one entry of the image's layer.
type File struct {
	// Path is the entry's path from the root, without a leading slash:
	// "usr/local/bin/kelb".
	Path string
	// Mode holds the permission bits (and sticky bit); Dir makes a
	// directory.
	Mode     int64
	Dir      bool
	UID, GID int
	Data     []byte
}

// Spec is what Build puts in the image.
type Spec struct {
	Files      []File
	Entrypoint []string
	Cmd        []string
	// User runs the entrypoint: "65532:65532" by default.
	User   string
	Env    []string
	Labels map[string]string
	// Created is the image's creation time and every file's mtime:
	// SOURCE_DATE_EPOCH, for reproducible builds.
	Created time.Time
	// OS and Architecture of the binaries: "linux", "amd64".
	OS, Architecture string
}

// Base is the nonroot-friendly root file system every kelb image starts
// from: users root and nonroot, a world-writable /tmp, and /var/lib/kelb
// (the server's data dir in the image) owned by nonroot.
func Base() []File {
	return []File{
		{Path: "etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "etc/group", Mode: 0o644, Data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{Path: "home/nonroot", Dir: true, Mode: 0o700, UID: Nonroot, GID: Nonroot},
		{Path: "root", Dir: true, Mode: 0o700},
		{Path: "tmp", Dir: true, Mode: 0o1777},
		{Path: "var/lib/kelb", Dir: true, Mode: 0o700, UID: Nonroot, GID: Nonroot},
	}
}

// Build makes the image of s. It is pure: the same Spec gives the same
// digest.
func Build(s Spec) (v1.Image, error) {
	if len(s.Entrypoint) == 0 {
		return nil, fmt.Errorf("image: no entrypoint")
	}
	if s.OS == "" || s.Architecture == "" {
		return nil, fmt.Errorf("image: OS and architecture are required")
	}
	layer, err := Layer(s.Files, s.Created)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: s.Created.UTC()}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: created, CreatedBy: "kelb-image", Comment: "kelb"}})
	if err != nil {
		return nil, fmt.Errorf("image: add layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Created, cf.OS, cf.Architecture = created, s.OS, s.Architecture
	user := s.User
	if user == "" {
		user = fmt.Sprintf("%d:%d", Nonroot, Nonroot)
	}
	cf.Config = v1.Config{
		Entrypoint: s.Entrypoint, Cmd: s.Cmd, User: user, WorkingDir: "/",
		Env:    append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, s.Env...),
		Labels: s.Labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	return img, nil
}

// Layer makes a gzip-compressed OCI layer of files, with the directories
// above them (root-owned, 0755) when files do not list them, every entry
// timed at mtime and sorted by path.
func Layer(files []File, mtime time.Time) (v1.Layer, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean(strings.TrimPrefix(f.Path, "/"))
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("image: path %q is outside the root", f.Path)
		}
		if _, dup := entries[p]; dup {
			return nil, fmt.Errorf("image: path %q given twice", p)
		}
		f.Path = p
		entries[p] = f
	}
	for p := range entries {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if e, ok := entries[d]; ok {
				if !e.Dir {
					return nil, fmt.Errorf("image: %q is a file and a directory", d)
				}
				continue
			}
			entries[d] = File{Path: d, Dir: true, Mode: 0o755}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mt := mtime.UTC().Truncate(time.Second)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{Name: p, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: mt}
		if f.Dir {
			h.Typeflag, h.Name = tar.TypeDir, p+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image: layer entry %s: %w", p, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("image: layer entry %s: %w", p, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, fmt.Errorf("image: compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("image: compress layer: %w", err)
	}
	return &gzipLayer{Layer: static.NewLayer(gz.Bytes(), types.OCILayer), raw: raw.Bytes()}, nil
}

// gzipLayer is a static compressed layer that also knows its uncompressed
// bytes, from which the diff id is computed.
type gzipLayer struct {
	v1.Layer
	raw []byte
}

func (l *gzipLayer) DiffID() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(l.raw))
	return h, err
}

func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
