package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressType is the address type of a load balancer.
//
// +kubebuilder:validation:Enum=ipv4;dualstack;dualstack-without-public-ipv4
type IPAddressType string

// Load balancer address types.
const (
	IPAddressTypeIPv4                       IPAddressType = "ipv4"
	IPAddressTypeDualStack                  IPAddressType = "dualstack"
	IPAddressTypeDualStackWithoutPublicIPv4 IPAddressType = "dualstack-without-public-ipv4"
)

// LoadBalancerScheme is the scheme of a load balancer: internet-facing or
// internal.
//
// +kubebuilder:validation:Enum=internal;internet-facing
type LoadBalancerScheme string

// Load balancer schemes.
const (
	LoadBalancerSchemeInternal       LoadBalancerScheme = "internal"
	LoadBalancerSchemeInternetFacing LoadBalancerScheme = "internet-facing"
)

// SubnetID is a subnet id; in kelb a subnet selects an availability zone.
//
// +kubebuilder:validation:Pattern=subnet-[0-9a-f]+
type SubnetID string

// SubnetSelector selects subnets by id or by tags; exactly one is set.
type SubnetSelector struct {
	// IDs are subnet ids.
	// +kubebuilder:validation:MinItems=1
	// +optional
	IDs []SubnetID `json:"ids,omitempty"`

	// Tags selects the subnets where every key has one of the listed values.
	// +optional
	Tags map[string][]string `json:"tags,omitempty"`
}

// IngressGroup names the IngressGroup of the class's Ingresses.
type IngressGroup struct {
	// Name is the IngressGroup's name.
	Name string `json:"name"`
}

// Tag is a resource tag.
type Tag struct {
	// Key is the tag's key.
	Key string `json:"key"`

	// Value is the tag's value.
	Value string `json:"value"`
}

// Attribute is a load balancer attribute.
type Attribute struct {
	// Key is the attribute's key.
	Key string `json:"key"`

	// Value is the attribute's value.
	Value string `json:"value"`
}

// ListenerProtocol is the protocol of a listener IngressClassParams
// configures.
type ListenerProtocol string

// Listener protocols.
const (
	ListenerProtocolHTTP  ListenerProtocol = "HTTP"
	ListenerProtocolHTTPS ListenerProtocol = "HTTPS"
)

// Listener sets the attributes of the class's listeners of one protocol and
// port.
type Listener struct {
	// Protocol is the listener's protocol.
	Protocol ListenerProtocol `json:"protocol,omitempty"`
	// Port is the listener's port.
	Port int32 `json:"port,omitempty"`
	// ListenerAttributes are set on the listener.
	ListenerAttributes []Attribute `json:"listenerAttributes,omitempty"`
}

// MinimumLoadBalancerCapacity is a load balancer capacity reservation.
type MinimumLoadBalancerCapacity struct {
	// CapacityUnits is the reserved capacity.
	CapacityUnits int32 `json:"capacityUnits"`
}

// IPAMConfiguration is where a load balancer's addresses come from.
type IPAMConfiguration struct {
	// IPv4IPAMPoolId is the IPAM pool of the load balancer's IPv4 addresses.
	// +optional
	IPv4IPAMPoolId *string `json:"ipv4IPAMPoolId,omitempty"`
}

// IngressClassParamsSpec is what an IngressClass sets for its Ingresses.
// +kubebuilder:validation:XValidation:rule="!(has(self.prefixListsIDs) && has(self.PrefixListsIDs))", message="cannot specify both 'prefixListsIDs' and 'PrefixListsIDs' fields"
type IngressClassParamsSpec struct {
	// LoadBalancerName is the name of the load balancer made for the
	// class's Ingresses.
	// +optional
	LoadBalancerName string `json:"loadBalancerName,omitempty"`

	// CertificateArn are the certificates of every Ingress of the class.
	// +optional
	CertificateArn []string `json:"certificateArn,omitempty"`

	// NamespaceSelector restricts the namespaces whose Ingresses may use the
	// class; every namespace when unset or empty.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// Group puts every Ingress of the class in this IngressGroup.
	// +optional
	Group *IngressGroup `json:"group,omitempty"`

	// Scheme is the scheme of the class's load balancers.
	// +optional
	Scheme *LoadBalancerScheme `json:"scheme,omitempty"`

	// InboundCIDRs are the networks allowed to reach the class's load
	// balancers.
	// +optional
	InboundCIDRs []string `json:"inboundCIDRs,omitempty"`

	// SSLPolicy is the TLS policy of the class's HTTPS listeners.
	// +optional
	SSLPolicy string `json:"sslPolicy,omitempty"`

	// SSLRedirectPort redirects the class's HTTP listeners to this HTTPS
	// port.
	// +optional
	SSLRedirectPort string `json:"sslRedirectPort,omitempty"`

	// Subnets selects the subnets, and so the zones, of the class's load
	// balancers.
	// +optional
	Subnets *SubnetSelector `json:"subnets,omitempty"`

	// IPAddressType is the address type of the class's load balancers.
	// +optional
	IPAddressType *IPAddressType `json:"ipAddressType,omitempty"`

	// Tags are added to every resource made for the class's Ingresses.
	// +optional
	Tags []Tag `json:"tags,omitempty"`

	// TargetType is the target type of the class's target groups.
	// +optional
	TargetType TargetType `json:"targetType,omitempty"`

	// LoadBalancerAttributes are set on the class's load balancers.
	// +optional
	LoadBalancerAttributes []Attribute `json:"loadBalancerAttributes,omitempty"`

	// Listeners set attributes of the class's listeners.
	// +optional
	Listeners []Listener `json:"listeners,omitempty"`

	// MinimumLoadBalancerCapacity is the capacity reserved for the class's
	// load balancers.
	// +optional
	MinimumLoadBalancerCapacity *MinimumLoadBalancerCapacity `json:"minimumLoadBalancerCapacity,omitempty"`

	// IPAMConfiguration is where the class's load balancers take addresses.
	// +optional
	IPAMConfiguration *IPAMConfiguration `json:"ipamConfiguration,omitempty"`

	// PrefixListsIDsLegacy is the legacy spelling of PrefixListsIDs.
	// +optional
	PrefixListsIDsLegacy []string `json:"PrefixListsIDs,omitempty"`

	// PrefixListsIDs are managed prefix lists allowed to reach the class's
	// load balancers.
	// +optional
	PrefixListsIDs []string `json:"prefixListsIDs,omitempty"`

	// WAFv2ACLArn is the AWS WAFv2 web ACL of the class's load balancers.
	// +optional
	WAFv2ACLArn string `json:"wafv2AclArn"`

	// WAFv2ACLName is the name of the AWS WAFv2 web ACL of the class's load
	// balancers.
	// +optional
	WAFv2ACLName string `json:"wafv2AclName"`
}

// IngressClassParams sets load balancer parameters for the Ingresses of the
// IngressClasses that reference it. It is cluster-scoped.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="GROUP-NAME",type="string",JSONPath=".spec.group.name",description="The IngressGroup's name"
// +kubebuilder:printcolumn:name="SCHEME",type="string",JSONPath=".spec.scheme",description="The load balancer's scheme"
// +kubebuilder:printcolumn:name="IP-ADDRESS-TYPE",type="string",JSONPath=".spec.ipAddressType",description="The load balancer's address type"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type IngressClassParams struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec IngressClassParamsSpec `json:"spec,omitempty"`
}

// IngressClassParamsList is a list of IngressClassParams.
//
// +kubebuilder:object:root=true
type IngressClassParamsList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngressClassParams `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IngressClassParams{}, &IngressClassParamsList{})
}
