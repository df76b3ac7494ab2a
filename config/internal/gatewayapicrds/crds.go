// Package gatewayapicrds finds the Gateway API module that go.mod names
// and reads the CustomResourceDefinitions of its release channels: what
// config/gatewayapi vendors, and what its test compares the vendored files
// with.
package gatewayapicrds

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModulePath is the Gateway API's Go module.
const ModulePath = "sigs.k8s.io/gateway-api"

// Channels are the release channels vendored, each a directory of the
// module's config/crd and of config/gatewayapi.
var Channels = []string{"standard", "experimental"}

// Mod is the module as go list reports it.
type Mod struct {
	Version string
	Dir     string
}

// Module runs go list -m for ModulePath in the current directory's module.
func Module() (Mod, error) {
	out, err := exec.Command("go", "list", "-m", "-json", ModulePath).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return Mod{}, fmt.Errorf("go list -m %s: %w %s", ModulePath, err, stderr)
	}
	var m Mod
	if err := json.Unmarshal(out, &m); err != nil {
		return Mod{}, fmt.Errorf("go list -m %s: %w", ModulePath, err)
	}
	if m.Dir == "" {
		return Mod{}, fmt.Errorf("go list -m %s: module %s not downloaded (go mod download %s)", ModulePath, m.Version, ModulePath)
	}
	return m, nil
}

// Read returns the YAML files of a channel directory by name, without its
// kustomization.yaml.
func Read(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".yaml") || name == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		files[name] = b
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", dir)
	}
	return files, nil
}
