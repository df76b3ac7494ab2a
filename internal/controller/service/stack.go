package service

import (
	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/elbv2deploy"
)

// Tags that tie a kelb server resource to the Service it was made for. They
// are the AWS Load Balancer Controller's, so deploy finds what exists from
// tags alone, with no state of its own.
const (
	TagCluster  = elbv2deploy.TagCluster
	TagStack    = "service.k8s.aws/stack"
	TagResource = "service.k8s.aws/resource"

	// ResourceLoadBalancer is the TagResource value of a Service's load
	// balancer; target groups carry "<namespace>/<name>:<port>".
	ResourceLoadBalancer = "LoadBalancer"
)

// Labels on the TargetGroupBindings made for a Service.
const (
	LabelStackNamespace = "service.k8s.aws/stack-namespace"
	LabelStackName      = "service.k8s.aws/stack-name"
)

// ListenerAttributeSourceRanges is the kelb listener attribute that carries a
// Service's load balancer source ranges, comma-separated. kelb server
// refuses connections to the listener from any other source. It is absent
// when every source is allowed.
const ListenerAttributeSourceRanges = elbv2deploy.ListenerAttributeSourceRanges

// Stack is the desired state of one Service's load balancer: what deploy
// makes kelb server hold. It is built by Build and serialises to JSON; its
// ID is "<namespace>/<name>" of the Service, the value of TagStack.
type Stack = elbv2deploy.Stack[Listener, TargetGroup]

// LoadBalancer is the desired network load balancer.
type LoadBalancer = elbv2deploy.LoadBalancer

// Listener is a desired listener: one per Service port number.
type Listener struct {
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
	// TargetGroup is the ResourceID of the target group the listener
	// forwards to.
	TargetGroup string `json:"targetGroup"`
	// SSLPolicy, Certificates and ALPNPolicy are set for TLS listeners;
	// the first certificate is the default one. An empty ALPNPolicy
	// negotiates none.
	SSLPolicy    string             `json:"sslPolicy,omitempty"`
	Certificates []certificates.Ref `json:"certificates,omitempty"`
	ALPNPolicy   string             `json:"alpnPolicy,omitempty"`
	Attributes   map[string]string  `json:"attributes,omitempty"`
	Tags         map[string]string  `json:"tags"`
}

// TargetGroup is a desired target group.
type TargetGroup struct {
	// ResourceID is "<namespace>/<name>:<port>", the value of TagResource.
	ResourceID    string            `json:"resourceID"`
	Name          string            `json:"name"`
	Protocol      string            `json:"protocol"`
	Port          int32             `json:"port"`
	TargetType    string            `json:"targetType"`
	IPAddressType string            `json:"ipAddressType"`
	HealthCheck   HealthCheck       `json:"healthCheck"`
	Attributes    map[string]string `json:"attributes"`
	Tags          map[string]string `json:"tags"`
}

// HealthCheck is a target group's desired health check.
type HealthCheck struct {
	Protocol string `json:"protocol"`
	// Port is "traffic-port" or a port number.
	Port               string `json:"port"`
	Path               string `json:"path,omitempty"`
	Matcher            string `json:"matcher,omitempty"`
	IntervalSeconds    int32  `json:"intervalSeconds"`
	TimeoutSeconds     int32  `json:"timeoutSeconds"`
	HealthyThreshold   int32  `json:"healthyThreshold"`
	UnhealthyThreshold int32  `json:"unhealthyThreshold"`
}

// TargetGroupBinding is a desired TargetGroupBinding object. Its
// Spec.TargetGroupARN is empty until deploy knows the target group's ARN.
type TargetGroupBinding = elbv2deploy.TargetGroupBinding
