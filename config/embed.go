// Package config holds kelb's Kubernetes manifests: the CustomResourceDefinitions
// of elbv2.k8s.aws and gateway.k8s.aws, RBAC, the webhook configuration and
// the controller's Deployment, as kustomize bases (kubectl apply -k
// config/default); kelb server's DaemonSet for load balancer nodes
// (config/server) and both together (config/fleet); and the systemd unit of
// kelb server on hosts outside the cluster (config/systemd). The CRDs are
// embedded so that a kelb binary can install them wherever it runs.
//
// config/gatewayapi holds the Gateway API's CRDs, standard and experimental
// channels, vendored by go generate from the sigs.k8s.io/gateway-api module
// go.mod names (config/internal/vendorgatewayapi); a test checks that they
// are that module's.
package config

//go:generate go run ./internal/vendorgatewayapi

import (
	"embed"
	"fmt"
	"io/fs"
)

// CRDs holds crd/bases/*.yaml.
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS

// gatewayAPI holds the vendored Gateway API CRDs of both channels.
//
//go:embed gatewayapi/standard/*.yaml gatewayapi/experimental/*.yaml
var gatewayAPI embed.FS

// Gateway API release channels.
const (
	GatewayAPIStandard     = "standard"
	GatewayAPIExperimental = "experimental"
)

// GatewayAPICRDs returns the Gateway API CRDs (and the release's
// ValidatingAdmissionPolicy) of a release channel, standard or
// experimental, as a file system of YAML files.
func GatewayAPICRDs(channel string) (fs.FS, error) {
	switch channel {
	case GatewayAPIStandard, GatewayAPIExperimental:
		return fs.Sub(gatewayAPI, "gatewayapi/"+channel)
	}
	return nil, fmt.Errorf("Gateway API channel %q: want %s or %s", channel, GatewayAPIStandard, GatewayAPIExperimental)
}
