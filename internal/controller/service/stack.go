package service

import (
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Tags that tie a kelb server resource to the Service it was made for. They
// are the AWS Load Balancer Controller's, so deploy finds what exists from
// tags alone, with no state of its own.
const (
	TagCluster  = model.TagCluster
	TagStack    = "service.k8s.aws/stack"
	TagResource = "service.k8s.aws/resource"

	// ResourceLoadBalancer is the TagResource value of a Service's load
	// balancer; target groups carry "<namespace>/<name>:<port>".
	ResourceLoadBalancer = deploy.ResourceLoadBalancer
)

// Frontend is what tells the Service stacks apart for the deployer: their
// tags, and the annotation their security groups come from.
var Frontend = deploy.Frontend{
	StackTag:           TagStack,
	ResourceTag:        TagResource,
	SecurityGroupsFrom: "annotation " + AnnotationSecurityGroups,
	Kind:               "Service",
}

// Labels on the TargetGroupBindings made for a Service.
const (
	LabelStackNamespace = "service.k8s.aws/stack-namespace"
	LabelStackName      = "service.k8s.aws/stack-name"
)

// ListenerAttributeSourceRanges is the kelb listener attribute that carries a
// Service's load balancer source ranges, comma-separated. kelb server
// refuses connections to the listener from any other source. It is absent
// when every source is allowed.
const ListenerAttributeSourceRanges = model.ListenerAttributeSourceRanges

// Stack is the desired state of one Service's load balancer: what deploy
// makes kelb server hold. It is built by Build and serialises to JSON; its
// ID is "<namespace>/<name>" of the Service, the value of TagStack. Its
// listeners are one per Service port number, each forwarding to one target
// group (model.NetworkForward) whose ResourceID is
// "<namespace>/<name>:<port>", the value of TagResource.
type Stack = model.Stack

// The parts of a Stack, the model's.
type (
	LoadBalancer       = model.LoadBalancer
	Listener           = model.Listener
	TargetGroup        = model.TargetGroup
	HealthCheck        = model.HealthCheck
	TargetGroupBinding = model.TargetGroupBinding
)
