package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KeyValue is an attribute of a load balancer, listener or target group.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Subnet places a load balancer in one subnet (zone), by ID or name.
type Subnet struct {
	Identifier string `json:"identifier"`
	// +optional
	EIPAllocation *string `json:"eipAllocation,omitempty"`
	// +optional
	PrivateIPv4Allocation *string `json:"privateIPv4Allocation,omitempty"`
	// +optional
	IPv6Allocation *string `json:"ipv6Allocation,omitempty"`
	// +optional
	SourceNatIPv6Prefix *string `json:"sourceNatIPv6Prefix,omitempty"`
}

// MutualAuthentication is an HTTPS listener's mutual TLS.
type MutualAuthentication struct {
	// +kubebuilder:validation:Enum=off;passthrough;verify
	Mode string `json:"mode"`
	// +optional
	TrustStore *string `json:"trustStore,omitempty"`
	// +optional
	IgnoreClientCertificateExpiry *bool `json:"ignoreClientCertificateExpiry,omitempty"`
	// +kubebuilder:validation:Enum=on;off
	// +optional
	AdvertiseTrustStoreCaNames *string `json:"advertiseTrustStoreCaNames,omitempty"`
}

// ListenerConfiguration sets one listener of the load balancer, named by
// protocol and port ("HTTPS:443").
type ListenerConfiguration struct {
	// +kubebuilder:validation:Pattern=`^(HTTP|HTTPS|TLS|TCP|UDP|TCP_UDP|QUIC|TCP_QUIC):([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`
	ProtocolPort string `json:"protocolPort"`
	// +optional
	DefaultCertificate *string `json:"defaultCertificate,omitempty"`
	// +optional
	Certificates []*string `json:"certificates,omitempty"`
	// +optional
	SslPolicy *string `json:"sslPolicy,omitempty"`
	// +kubebuilder:validation:Enum=HTTP1Only;HTTP2Only;HTTP2Optional;HTTP2Preferred;None
	// +optional
	ALPNPolicy *string `json:"alpnPolicy,omitempty"`
	// +optional
	TargetGroupStickiness *bool `json:"targetGroupStickiness,omitempty"`
	// +optional
	MutualAuthentication *MutualAuthentication `json:"mutualAuthentication,omitempty"`
	// +optional
	ListenerAttributes []KeyValue `json:"listenerAttributes,omitempty"`
	// +optional
	QuicEnabled *bool `json:"quicEnabled,omitempty"`
}

// LoadBalancerConfigurationSpec is a load balancer's settings.
type LoadBalancerConfigurationSpec struct {
	// MergingMode says whose settings win when a GatewayClass's and a
	// Gateway's configurations both set one.
	// +kubebuilder:validation:Enum=prefer-gateway;prefer-gateway-class
	// +optional
	MergingMode *string `json:"mergingMode,omitempty"`
	// +kubebuilder:validation:MaxLength=32
	// +optional
	LoadBalancerName *string `json:"loadBalancerName,omitempty"`
	// +kubebuilder:validation:Enum=internal;internet-facing
	// +optional
	Scheme *string `json:"scheme,omitempty"`
	// +kubebuilder:validation:Enum=ipv4;dualstack;dualstack-without-public-ipv4
	// +optional
	IpAddressType *string `json:"ipAddressType,omitempty"`
	// +optional
	EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic *string `json:"enforceSecurityGroupInboundRulesOnPrivateLinkTraffic,omitempty"`
	// +optional
	CustomerOwnedIpv4Pool *string `json:"customerOwnedIpv4Pool,omitempty"`
	// +optional
	IPv4IPAMPoolId *string `json:"ipv4IPAMPoolId,omitempty"`
	// +optional
	LoadBalancerSubnets *[]Subnet `json:"loadBalancerSubnets,omitempty"`
	// +optional
	LoadBalancerSubnetsSelector *map[string][]string `json:"loadBalancerSubnetsSelector,omitempty"`
	// +optional
	ListenerConfigurations *[]ListenerConfiguration `json:"listenerConfigurations,omitempty"`
	// +optional
	DisableSecurityGroup *bool `json:"disableSecurityGroup,omitempty"`
	// +optional
	SecurityGroups *[]string `json:"securityGroups,omitempty"`
	// +optional
	SecurityGroupPrefixes *[]string `json:"securityGroupPrefixes,omitempty"`
	// +optional
	SourceRanges *[]string `json:"sourceRanges,omitempty"`
	// +optional
	LoadBalancerAttributes []KeyValue `json:"loadBalancerAttributes,omitempty"`
	// +optional
	Tags *map[string]string `json:"tags,omitempty"`
	// +optional
	EnableICMP *bool `json:"enableICMP,omitempty"`
	// +optional
	ManageBackendSecurityGroupRules *bool `json:"manageBackendSecurityGroupRules,omitempty"`
	// +optional
	MinimumLoadBalancerCapacity *Capacity `json:"minimumLoadBalancerCapacity,omitempty"`
	// +optional
	WAFv2 *WAFv2 `json:"wafV2,omitempty"`
	// +optional
	ShieldAdvanced *Shield `json:"shieldConfiguration,omitempty"`
	// DefaultTargetGroupConfiguration names a TargetGroupConfiguration
	// (without targetReference) of the same namespace whose settings
	// every target group of the Gateway starts from.
	// +optional
	DefaultTargetGroupConfiguration *LocalReference `json:"defaultTargetGroupConfiguration,omitempty"`
}

// Capacity is a load balancer's reserved capacity.
type Capacity struct {
	CapacityUnits int32 `json:"capacityUnits"`
}

// WAFv2 associates a web ACL (AWS only: kelb reports it ignored).
type WAFv2 struct {
	ACL string `json:"webACL"`
}

// Shield turns Shield Advanced on (AWS only: kelb reports it ignored).
type Shield struct {
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// LocalReference names an object of the referrer's namespace.
type LocalReference struct {
	Name string `json:"name"`
}

// ConfigurationStatus says which generations of the configuration the
// controller has applied.
type ConfigurationStatus struct {
	// +optional
	ObservedGatewayConfigurationGeneration *int64 `json:"observedGatewayConfigurationGeneration,omitempty"`
	// +optional
	ObservedGatewayClassConfigurationGeneration *int64 `json:"observedGatewayClassConfigurationGeneration,omitempty"`
}

// LoadBalancerConfiguration sets the load balancer of the Gateways that
// name it (spec.infrastructure.parametersRef) or of every Gateway of a
// GatewayClass that names it (spec.parametersRef).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type LoadBalancerConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LoadBalancerConfigurationSpec `json:"spec,omitempty"`
	Status ConfigurationStatus           `json:"status,omitempty"`
}

// LoadBalancerConfigurationList is a list of LoadBalancerConfigurations.
//
// +kubebuilder:object:root=true
type LoadBalancerConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LoadBalancerConfiguration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LoadBalancerConfiguration{}, &LoadBalancerConfigurationList{})
}
