package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TargetReference names the object (a Service, by default) whose target
// groups a TargetGroupConfiguration sets.
type TargetReference struct {
	// +kubebuilder:default=""
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:default=Service
	// +optional
	Kind *string `json:"kind,omitempty"`
	Name string  `json:"name"`
}

// HealthCheckMatcher is the codes of a healthy answer.
type HealthCheckMatcher struct {
	// +optional
	HTTPCode *string `json:"httpCode,omitempty"`
	// +optional
	GRPCCode *string `json:"grpcCode,omitempty"`
}

// HealthCheck is a target group's health check.
type HealthCheck struct {
	// +optional
	HealthyThresholdCount *int32 `json:"healthyThresholdCount,omitempty"`
	// +optional
	HealthCheckInterval *int32 `json:"healthCheckInterval,omitempty"`
	// +optional
	HealthCheckPath *string `json:"healthCheckPath,omitempty"`
	// +optional
	HealthCheckPort *string `json:"healthCheckPort,omitempty"`
	// +kubebuilder:validation:Enum=HTTP;HTTPS;TCP
	// +optional
	HealthCheckProtocol *string `json:"healthCheckProtocol,omitempty"`
	// +optional
	HealthCheckTimeout *int32 `json:"healthCheckTimeout,omitempty"`
	// +optional
	UnhealthyThresholdCount *int32 `json:"unhealthyThresholdCount,omitempty"`
	// +optional
	Matcher *HealthCheckMatcher `json:"matcher,omitempty"`
}

// TargetGroupProps are a target group's settings.
type TargetGroupProps struct {
	// +optional
	TargetGroupName *string `json:"targetGroupName,omitempty"`
	// +kubebuilder:validation:Enum=ipv4;ipv6
	// +optional
	IPAddressType *string `json:"ipAddressType,omitempty"`
	// +optional
	HealthCheckConfig *HealthCheck `json:"healthCheckConfig,omitempty"`
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	// +optional
	TargetGroupAttributes []KeyValue `json:"targetGroupAttributes,omitempty"`
	// +kubebuilder:validation:Enum=instance;ip
	// +optional
	TargetType *string `json:"targetType,omitempty"`
	// +kubebuilder:validation:Enum=HTTP;HTTPS;TCP;TLS;UDP;TCP_UDP
	// +optional
	Protocol *string `json:"protocol,omitempty"`
	// +kubebuilder:validation:Enum=HTTP1;HTTP2;GRPC
	// +optional
	ProtocolVersion *string `json:"protocolVersion,omitempty"`
	// +optional
	TargetControlPort *int32 `json:"targetControlPort,omitempty"`
	// +optional
	EnableMultiCluster *bool `json:"enableMultiCluster,omitempty"`
	// +optional
	Tags *map[string]string `json:"tags,omitempty"`
}

// RouteIdentifier names a route: kind, namespace and name.
type RouteIdentifier struct {
	// +optional
	RouteKind string `json:"kind,omitempty"`
	// +optional
	RouteNamespace string `json:"namespace,omitempty"`
	// +optional
	RouteName string `json:"name,omitempty"`
}

// RouteConfiguration sets the target groups of one route's backendRefs.
type RouteConfiguration struct {
	RouteIdentifier  RouteIdentifier  `json:"routeIdentifier"`
	TargetGroupProps TargetGroupProps `json:"targetGroupProps"`
}

// TargetGroupConfigurationSpec sets the target groups of a Service.
type TargetGroupConfigurationSpec struct {
	// TargetReference is the Service; none makes this a default
	// configuration a LoadBalancerConfiguration names.
	// +optional
	TargetReference *TargetReference `json:"targetReference,omitempty"`
	// +optional
	DefaultConfiguration TargetGroupProps `json:"defaultConfiguration,omitempty"`
	// +optional
	RouteConfigurations []RouteConfiguration `json:"routeConfigurations,omitempty"`
}

// TargetGroupConfiguration sets the target groups kelb makes for a
// Service's backendRefs.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="SERVICE-NAME",type="string",JSONPath=".spec.targetReference.name",description="The Kubernetes Service's name"
// +kubebuilder:printcolumn:name="AGE",type="date",JSONPath=".metadata.creationTimestamp"
type TargetGroupConfiguration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TargetGroupConfigurationSpec `json:"spec,omitempty"`
	Status ConfigurationStatus          `json:"status,omitempty"`
}

// TargetGroupConfigurationList is a list of TargetGroupConfigurations.
//
// +kubebuilder:object:root=true
type TargetGroupConfigurationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TargetGroupConfiguration `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TargetGroupConfiguration{}, &TargetGroupConfigurationList{})
}
