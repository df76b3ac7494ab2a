// Package v1 holds kelb's Gateway API customisation resources in the
// gateway.k8s.aws/v1 API group: LoadBalancerConfiguration (a Gateway's or
// GatewayClass's load balancer settings), TargetGroupConfiguration (the
// target groups of a Service's backendRefs) and ListenerRuleConfiguration
// (extra actions and conditions of the rules of a route).
//
// The group, version, kinds and field names are those of the AWS Load
// Balancer Controller v3, so manifests written for it apply unchanged.
// kelb controller checks that a GatewayClass's parametersRef names an
// existing LoadBalancerConfiguration (the class is not Accepted
// otherwise); it does not apply these resources' settings yet.
//
// zz_generated.deepcopy.go and the CRDs in config/crd/bases are generated
// by controller-gen: run go generate in this directory after changing a
// type.
//
// +kubebuilder:object:generate=true
// +groupName=gateway.k8s.aws
package v1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0 object paths=./... crd:crdVersions=v1 output:crd:artifacts:config=../../../config/crd/bases

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these resources.
	GroupVersion = schema.GroupVersion{Group: "gateway.k8s.aws", Version: "v1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
