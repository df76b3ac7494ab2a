package config_test

import (
	"bytes"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kelb-io/kelb/config"
	"github.com/kelb-io/kelb/config/internal/gatewayapicrds"
)

// TestGatewayAPICRDsAreTheModules checks that the vendored Gateway API
// CRDs are, file for file, those of the sigs.k8s.io/gateway-api version
// go.mod names, and that they say so (bundle-version): run go generate
// ./config after changing that version.
func TestGatewayAPICRDsAreTheModules(t *testing.T) {
	mod, err := gatewayapicrds.Module()
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range gatewayapicrds.Channels {
		want, err := gatewayapicrds.Read(filepath.Join(mod.Dir, "config", "crd", ch))
		if err != nil {
			t.Fatal(err)
		}
		vendored, err := config.GatewayAPICRDs(ch)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]byte{}
		err = fs.WalkDir(vendored, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(vendored, p)
			got[p] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range want {
			g, ok := got[name]
			switch {
			case !ok:
				t.Errorf("%s: %s of %s %s is not vendored (go generate ./config)", ch, name, gatewayapicrds.ModulePath, mod.Version)
			case !bytes.Equal(g, b):
				t.Errorf("%s: vendored %s differs from %s %s's (go generate ./config)", ch, name, gatewayapicrds.ModulePath, mod.Version)
			case !strings.Contains(string(g), "gateway.networking.k8s.io/bundle-version: "+mod.Version):
				t.Errorf("%s: %s does not carry bundle-version %s", ch, name, mod.Version)
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s: vendored %s is not in %s %s (go generate ./config)", ch, name, gatewayapicrds.ModulePath, mod.Version)
			}
		}
	}
	if _, err := config.GatewayAPICRDs("beta"); err == nil {
		t.Error("GatewayAPICRDs(beta) gave no error")
	}
}
