// Package e2e runs kelb's end-to-end tests in a local environment brought
// up once per run by kelb up (see package framework).
package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kelb-io/kelb/internal/testing/oidcprovider"
	"github.com/kelb-io/kelb/test/e2e/framework"
)

// idpCA signs the certificate of the OpenID provider TestALBAuthOIDC
// runs; kelb server trusts it (--auth-ca-file in idpCADir, given by kelb
// up --server-flag).
var (
	idpCA    *oidcprovider.CA
	idpCADir string
)

func TestMain(m *testing.M) {
	code := framework.Main(m, framework.Options{Nodes: 3, Prepare: trustIDP})
	if idpCADir != "" {
		// kelb server read the file when it started.
		os.RemoveAll(idpCADir)
	}
	os.Exit(code)
}

// trustIDP makes idpCA and the kelb up arguments that have kelb server
// trust it, from a file in a directory of the test binary's own.
func trustIDP(context.Context) ([]string, error) {
	ca, err := oidcprovider.NewCA()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kelb-e2e-idp-")
	if err != nil {
		return nil, err
	}
	idpCADir = dir
	path := filepath.Join(dir, "idp-ca.pem")
	if err := os.WriteFile(path, ca.PEM, 0o644); err != nil {
		return nil, err
	}
	idpCA = ca
	return []string{"--server-flag=--auth-ca-file=" + path}, nil
}
