// Command vendorgatewayapi copies the Gateway API's CustomResourceDefinitions
// (standard and experimental channels) from the sigs.k8s.io/gateway-api
// module that go.mod names into config/gatewayapi, so that kelb embeds
// them (go:embed cannot reach another module's files) and kelb up installs
// the version kelb is built against. Run by go generate in config; it
// replaces the vendored files, so a file the module dropped goes too.
//
// It fails, leaving the vendored files as they were, when the module is
// not in go.mod or its directory cannot be read.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kelb-io/kelb/config/internal/gatewayapicrds"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vendorgatewayapi:", err)
		os.Exit(1)
	}
}

func run() error {
	mod, err := gatewayapicrds.Module()
	if err != nil {
		return err
	}
	files := map[string]map[string][]byte{}
	for _, ch := range gatewayapicrds.Channels {
		f, err := gatewayapicrds.Read(filepath.Join(mod.Dir, "config", "crd", ch))
		if err != nil {
			return err
		}
		files[ch] = f
	}
	for _, ch := range gatewayapicrds.Channels {
		dir := filepath.Join("gatewayapi", ch)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, b := range files[ch] {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("vendored the Gateway API %s CRDs (%d standard, %d experimental files)\n",
		mod.Version, len(files["standard"]), len(files["experimental"]))
	return nil
}
