// Package config holds kelb's Kubernetes manifests: the CustomResourceDefinitions
// of elbv2.k8s.aws, RBAC, the webhook configuration and the controller's
// Deployment, as kustomize bases (kubectl apply -k config/default); kelb
// server's DaemonSet for load balancer nodes (config/server) and both
// together (config/fleet); and the systemd unit of kelb server on hosts
// outside the cluster (config/systemd). The CRDs are embedded so that a kelb
// binary can install them wherever it runs.
package config

import "embed"

// CRDs holds crd/bases/*.yaml.
//
//go:embed crd/bases/*.yaml
var CRDs embed.FS
