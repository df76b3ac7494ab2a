// Package v1alpha1 holds the elbv2.k8s.aws/v1alpha1 TargetGroupBinding, the
// earlier version of v1beta1's that the AWS Load Balancer Controller still
// serves, so that manifests written for it apply unchanged. It is served
// and not stored: the API server keeps every TargetGroupBinding as
// v1beta1 and converts between the versions by changing apiVersion only
// (conversion strategy None, as the Load Balancer Controller ships it), so
// a field v1alpha1 lacks (nodeSelector, ipAddressType, vpcID,
// targetGroupProtocol, status.conditions) is not shown through it. kelb
// controller reads and writes v1beta1 only.
//
// The types and CRD are generated with v1beta1's (go generate in
// ../v1beta1).
//
// +kubebuilder:object:generate=true
// +groupName=elbv2.k8s.aws
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of these resources.
	GroupVersion = schema.GroupVersion{Group: "elbv2.k8s.aws", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
