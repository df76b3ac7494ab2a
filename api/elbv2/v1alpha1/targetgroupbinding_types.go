package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TargetType is how the members of a Service become targets: instance
// (nodes, on the NodePort) or ip (pods).
// +kubebuilder:validation:Enum=instance;ip
type TargetType string

// Target types.
const (
	TargetTypeInstance TargetType = "instance"
	TargetTypeIP       TargetType = "ip"
)

// ServiceReference names a Service and one of its ports.
type ServiceReference struct {
	// Name is the Service's name.
	Name string `json:"name"`
	// Port is the Service port's name or number.
	Port intstr.IntOrString `json:"port"`
}

// IPBlock is a network peer.
type IPBlock struct {
	// CIDR is the network, IPv4 or IPv6.
	CIDR string `json:"cidr"`
}

// SecurityGroup is a security group peer.
type SecurityGroup struct {
	// GroupID is the security group's ID.
	GroupID string `json:"groupID"`
}

// NetworkingPeer is the source of a networking rule: one of its fields.
type NetworkingPeer struct {
	// IPBlock is a network peer.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`
	// SecurityGroup is a security group peer.
	// +optional
	SecurityGroup *SecurityGroup `json:"securityGroup,omitempty"`
}

// NetworkingProtocol is the protocol of a networking rule.
// +kubebuilder:validation:Enum=TCP;UDP
type NetworkingProtocol string

// Networking protocols.
const (
	NetworkingProtocolTCP NetworkingProtocol = "TCP"
	NetworkingProtocolUDP NetworkingProtocol = "UDP"
)

// NetworkingPort is the protocol and port of a networking rule.
type NetworkingPort struct {
	// Protocol is TCP or UDP; TCP when unset.
	// +optional
	Protocol *NetworkingProtocol `json:"protocol,omitempty"`
	// Port is a number or a named port of the targets; every port when
	// unset.
	// +optional
	Port *intstr.IntOrString `json:"port,omitempty"`
}

// NetworkingIngressRule admits peers to ports of the targets.
type NetworkingIngressRule struct {
	// From are the peers admitted.
	From []NetworkingPeer `json:"from"`
	// Ports are the ports admitted.
	Ports []NetworkingPort `json:"ports"`
}

// TargetGroupBindingNetworking is what the load balancer may reach on the
// targets.
type TargetGroupBindingNetworking struct {
	// Ingress are the rules.
	// +optional
	Ingress []NetworkingIngressRule `json:"ingress,omitempty"`
}

// TargetGroupBindingSpec is a binding's desired state.
type TargetGroupBindingSpec struct {
	// TargetGroupARN is the target group's ARN.
	// +optional
	TargetGroupARN string `json:"targetGroupARN,omitempty"`

	// TargetGroupName is the target group's name.
	// +optional
	TargetGroupName string `json:"targetGroupName,omitempty"`

	// MultiClusterTargetGroup shares the target group among clusters.
	// +optional
	MultiClusterTargetGroup bool `json:"multiClusterTargetGroup,omitempty"`

	// TargetType is the target group's target type; read from the target
	// group when unset.
	// +optional
	TargetType *TargetType `json:"targetType,omitempty"`

	// ServiceRef is the Service whose members become targets.
	ServiceRef ServiceReference `json:"serviceRef"`

	// Networking is what the load balancer may reach on the targets.
	// +optional
	Networking *TargetGroupBindingNetworking `json:"networking,omitempty"`

	// IamRoleArnToAssume is the IAM role to assume for a target group in
	// another AWS account.
	// +optional
	IamRoleArnToAssume string `json:"iamRoleArnToAssume,omitempty"`

	// AssumeRoleExternalId is the external ID of IamRoleArnToAssume.
	// +optional
	AssumeRoleExternalId string `json:"assumeRoleExternalId,omitempty"`

	// RegisterTargetsWithPodAvailabilityZone registers cross-account targets
	// with their node's zone instead of "all"; requires IamRoleArnToAssume.
	// +optional
	RegisterTargetsWithPodAvailabilityZone *bool `json:"registerTargetsWithPodAvailabilityZone,omitempty"`
}

// TargetGroupBindingStatus is a binding's observed state.
type TargetGroupBindingStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`
}

// TargetGroupBinding binds a target group to a Service (v1alpha1).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="SERVICE-NAME",type="string",JSONPath=".spec.serviceRef.name",description="The Kubernetes Service's name"
// +kubebuilder:printcolumn:name="SERVICE-PORT",type="string",JSONPath=".spec.serviceRef.port",description="The Kubernetes Service's port"
// +kubebuilder:printcolumn:name="TARGET-TYPE",type="string",JSONPath=".spec.targetType",description="The target group's target type"
// +kubebuilder:printcolumn:name="ARN",type="string",JSONPath=".spec.targetGroupARN",description="The target group's ARN",priority=1
// +kubebuilder:printcolumn:name="NAME",type="string",JSONPath=".spec.targetGroupName",description="The target group's name",priority=2
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type TargetGroupBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TargetGroupBindingSpec   `json:"spec,omitempty"`
	Status TargetGroupBindingStatus `json:"status,omitempty"`
}

// TargetGroupBindingList is a list of TargetGroupBindings.
//
// +kubebuilder:object:root=true
type TargetGroupBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TargetGroupBinding `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TargetGroupBinding{}, &TargetGroupBindingList{})
}
