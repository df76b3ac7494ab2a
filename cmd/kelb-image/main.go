// Command kelb-image builds kelb's OCI image without a container daemon
// (package image): the static kelb binary, CA certificates and a nonroot
// layout on an empty base, written as an OCI image layout directory and a
// tarball for docker load, podman load or crane push. The same source,
// toolchain, CA bundle and SOURCE_DATE_EPOCH give the same image digest.
//
//	go run ./cmd/kelb-image -layout bin/kelb-image -tarball bin/kelb-image.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"time"

	"github.com/kelb-io/kelb/internal/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kelb-image:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		pkg      = flag.String("package", "./cmd/kelb", "main package to build into /usr/local/bin/kelb")
		arch     = flag.String("arch", runtime.GOARCH, "architecture to build for (GOARCH)")
		tag      = flag.String("tag", "ghcr.io/kelb-io/kelb:latest", "image reference the layout and tarball name the image by")
		dir      = flag.String("layout", "bin/kelb-image", "OCI image layout directory to write (replaced whole)")
		tarPath  = flag.String("tarball", "bin/kelb-image.tar", "image tarball to write (docker load, podman load, crane push); empty skips it")
		caFile   = flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to install as /etc/ssl/certs/ca-certificates.crt; empty leaves it out")
		revision = flag.String("revision", "", "source revision for the org.opencontainers.image.revision label")
		version  = flag.String("version", "", "version for the org.opencontainers.image.version label")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	bin, err := image.GoBuild(ctx, ".", *pkg, *arch)
	if err != nil {
		return err
	}
	files := append(image.Base(), image.File{Path: "usr/local/bin/kelb", Mode: 0o755, Data: bin})
	if *caFile != "" {
		ca, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("-ca-certificates: %w", err)
		}
		files = append(files, image.File{Path: "etc/ssl/certs/ca-certificates.crt", Mode: 0o644, Data: ca})
	}
	labels := map[string]string{
		"org.opencontainers.image.title":   "kelb",
		"org.opencontainers.image.source":  "https://github.com/kelb-io/kelb",
		"org.opencontainers.image.created": created.Format(time.RFC3339),
	}
	if *revision != "" {
		labels["org.opencontainers.image.revision"] = *revision
	}
	if *version != "" {
		labels["org.opencontainers.image.version"] = *version
	}
	img, err := image.Build(image.Spec{
		Files:      files,
		Entrypoint: []string{"/usr/local/bin/kelb"},
		Env:        []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     labels,
		Created:    created,
		OS:         "linux", Architecture: *arch,
	})
	if err != nil {
		return err
	}
	if err := image.WriteLayout(img, *tag, *dir); err != nil {
		return err
	}
	if *tarPath != "" {
		if err := image.WriteTarball(img, *tag, *tarPath); err != nil {
			return err
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s linux/%s\n", *tag, digest, *arch)
	return nil
}

// sourceDateEpoch is the build's timestamp: SOURCE_DATE_EPOCH (seconds since
// 1970), or 1970 itself when unset.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}
