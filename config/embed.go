// Package config holds kelb's Kubernetes manifests: the CustomResourceDefinitions
// of elbv2.k8s.aws, RBAC, the webhook configuration and the controller's
// Deployment, as kustomize bases (kubectl apply -k config/default). The CRDs
// are embedded so that a kelb binary can install them wherever it runs.
package config

import "embed"

// CRDs holds crd/bases/*.yaml.
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS
