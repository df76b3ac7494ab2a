package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TargetType is how the members of a Service become targets.
//
//   - instance: the cluster's nodes, on the Service port's NodePort.
//   - ip: the Service's ready pods, on the container port.
//
// +kubebuilder:validation:Enum=instance;ip
type TargetType string

// Target types.
const (
	TargetTypeInstance TargetType = "instance"
	TargetTypeIP       TargetType = "ip"
)

// TargetGroupIPAddressType is the address family of a target group.
//
// +kubebuilder:validation:Enum=ipv4;ipv6
type TargetGroupIPAddressType string

// Target group address types.
const (
	TargetGroupIPAddressTypeIPv4 TargetGroupIPAddressType = "ipv4"
	TargetGroupIPAddressTypeIPv6 TargetGroupIPAddressType = "ipv6"
)

// ServiceReference names a Service of the binding's namespace and one of its
// ports.
type ServiceReference struct {
	// Name is the name of the Service.
	Name string `json:"name"`

	// Port is the port of the ServicePort: its number, or its name.
	Port intstr.IntOrString `json:"port"`
}

// IPBlock is a network, as a source of traffic to the targets.
type IPBlock struct {
	// CIDR is an IPv4 or IPv6 network.
	CIDR string `json:"cidr"`
}

// SecurityGroup names an EC2 security group. kelb keeps it for
// compatibility and does not enforce it.
type SecurityGroup struct {
	// GroupID is the security group's id.
	GroupID string `json:"groupID"`
}

// NetworkingPeer is a source of traffic to the targets. Exactly one field is
// set.
type NetworkingPeer struct {
	// IPBlock is a network peer.
	// +optional
	IPBlock *IPBlock `json:"ipBlock,omitempty"`

	// SecurityGroup is a security group peer.
	// +optional
	SecurityGroup *SecurityGroup `json:"securityGroup,omitempty"`
}

// NetworkingProtocol is the protocol of a networking rule.
//
// +kubebuilder:validation:Enum=TCP;UDP
type NetworkingProtocol string

// Networking protocols.
const (
	NetworkingProtocolTCP NetworkingProtocol = "TCP"
	NetworkingProtocolUDP NetworkingProtocol = "UDP"
)

// NetworkingPort is a port and protocol of a networking rule.
type NetworkingPort struct {
	// Protocol is the protocol traffic must match; TCP when unset.
	// +optional
	Protocol *NetworkingProtocol `json:"protocol,omitempty"`

	// Port is the port traffic must match: a number for instance targets, a
	// number or a named container port for ip targets; all ports when unset.
	// +optional
	Port *intstr.IntOrString `json:"port,omitempty"`
}

// NetworkingIngressRule is traffic allowed to reach the targets.
type NetworkingIngressRule struct {
	// From lists the peers allowed; at least one.
	From []NetworkingPeer `json:"from"`

	// Ports lists the ports allowed; all TCP ports when empty.
	Ports []NetworkingPort `json:"ports"`
}

// TargetGroupBindingNetworking is the traffic the load balancer needs to
// reach the targets.
type TargetGroupBindingNetworking struct {
	// Ingress lists the rules allowing traffic to the targets.
	// +optional
	Ingress []NetworkingIngressRule `json:"ingress,omitempty"`
}

// TargetGroupBindingSpec is the desired state of a TargetGroupBinding.
//
// +kubebuilder:validation:XValidation:rule="(has(self.targetGroupARN) && size(self.targetGroupARN) > 0) || (has(self.targetGroupName) && size(self.targetGroupName) > 0)",message="one of targetGroupARN and targetGroupName is required"
type TargetGroupBindingSpec struct {
	// TargetGroupARN is the ARN of the target group. One of TargetGroupARN
	// and TargetGroupName is required; TargetGroupARN wins when both are set.
	// +optional
	TargetGroupARN string `json:"targetGroupARN,omitempty"`

	// TargetGroupName is the name of the target group: the controller looks
	// its ARN up (DescribeTargetGroups) when TargetGroupARN is unset.
	// +optional
	TargetGroupName string `json:"targetGroupName,omitempty"`

	// MultiClusterTargetGroup marks a target group shared by several
	// clusters: targets this binding did not register are left alone.
	// +optional
	MultiClusterTargetGroup bool `json:"multiClusterTargetGroup,omitempty"`

	// TargetType is the target group's target type; read from the target
	// group when unset.
	// +optional
	TargetType *TargetType `json:"targetType,omitempty"`

	// TargetGroupProtocol is the target group's protocol; read from the
	// target group when unset.
	// +optional
	// +kubebuilder:validation:Enum=HTTP;HTTPS;TCP;TLS;UDP;TCP_UDP;QUIC;TCP_QUIC
	TargetGroupProtocol *string `json:"targetGroupProtocol,omitempty"`

	// ServiceRef is the Service whose members become targets.
	ServiceRef ServiceReference `json:"serviceRef"`

	// Networking is the traffic the load balancer needs to reach the targets.
	// +optional
	Networking *TargetGroupBindingNetworking `json:"networking,omitempty"`

	// NodeSelector restricts instance targets to the nodes it selects.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// IPAddressType is the target group's address family; read from the
	// target group when unset.
	// +optional
	IPAddressType *TargetGroupIPAddressType `json:"ipAddressType,omitempty"`

	// VpcID is the target group's VPC; read from the target group when unset.
	// +optional
	VpcID string `json:"vpcID,omitempty"`

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

// TargetGroupBindingStatus is the observed state of a TargetGroupBinding.
type TargetGroupBindingStatus struct {
	// ObservedGeneration is the generation the controller last reconciled.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`

	// Conditions are the binding's conditions; Ready says whether the
	// target group's targets were last brought in step with the Service, and
	// if not, why (Reason, Message).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ConditionReady is the TargetGroupBinding condition type that is true when
// the target group's targets were last brought in step with the Service.
const ConditionReady = "Ready"

// TargetGroupBinding binds a target group to a Service: the controller keeps
// the target group's targets equal to the Service's ready pods (ip) or
// eligible nodes (instance).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="SERVICE-NAME",type="string",JSONPath=".spec.serviceRef.name",description="The Kubernetes Service's name"
// +kubebuilder:printcolumn:name="SERVICE-PORT",type="string",JSONPath=".spec.serviceRef.port",description="The Kubernetes Service's port"
// +kubebuilder:printcolumn:name="TARGET-TYPE",type="string",JSONPath=".spec.targetType",description="The target group's target type"
// +kubebuilder:printcolumn:name="NAME",type="string",JSONPath=".spec.targetGroupName",description="The target group's name",priority=1
// +kubebuilder:printcolumn:name="ARN",type="string",JSONPath=".spec.targetGroupARN",description="The target group's ARN",priority=1
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
