// Package v1beta1 holds kelb's custom resources in the elbv2.k8s.aws/v1beta1
// API group: TargetGroupBinding, which binds a target group of kelb server to
// a Kubernetes Service so that the Service's pods (ip) or nodes (instance)
// become its targets, and IngressClassParams, which sets load balancer
// parameters for every Ingress of an IngressClass.
//
// The group, versions, field names and printer columns are those of the AWS
// Load Balancer Controller v2, so manifests written for it apply unchanged.
//
// zz_generated.deepcopy.go and the CRDs in config/crd/bases are generated
// by controller-gen, with v1alpha1's; run go generate in this directory
// after changing a type of either version.
//
// +kubebuilder:object:generate=true
// +groupName=elbv2.k8s.aws
package v1beta1

//go:generate go run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.21.0 object paths=../... crd:crdVersions=v1 output:crd:artifacts:config=../../../config/crd/bases

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these resources.
	GroupVersion = schema.GroupVersion{Group: "elbv2.k8s.aws", Version: "v1beta1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
