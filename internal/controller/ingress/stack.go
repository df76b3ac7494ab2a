package ingress

import (
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Tags that tie a kelb server resource to the IngressGroup it was made for,
// the AWS Load Balancer Controller's: deploy finds what exists from tags
// alone.
const (
	TagCluster  = model.TagCluster
	TagStack    = "ingress.k8s.aws/stack"
	TagResource = "ingress.k8s.aws/resource"

	// ResourceLoadBalancer is the TagResource value of a group's load
	// balancer; listeners carry their port, target groups
	// "<namespace>/<ingress>-<service>:<port>".
	ResourceLoadBalancer = deploy.ResourceLoadBalancer
)

// Frontend is what tells the Ingress stacks apart for the deployer: their
// tags, and the annotations their settings come from.
var Frontend = deploy.Frontend{
	StackTag:                 TagStack,
	ResourceTag:              TagResource,
	Kind:                     "Ingress",
	SecurityGroupsFrom:       "annotation " + AnnotationSecurityGroups,
	MutualAuthenticationFrom: "annotation " + AnnotationMutualAuthentication,
	CertificateRequestFrom:   AnnotationCreateACMCert,
	TargetGroupNamesFrom:     "an actions annotation",
}

// Labels on the TargetGroupBindings made for a group: stack-namespace and
// stack-name for an implicit group, stack for an explicit one.
const (
	LabelStack          = "ingress.k8s.aws/stack"
	LabelStackNamespace = "ingress.k8s.aws/stack-namespace"
	LabelStackName      = "ingress.k8s.aws/stack-name"
)

// ListenerAttributeSourceRanges is the kelb listener attribute that carries
// the networks allowed to reach a listener (inbound-cidrs), comma-separated.
// kelb server refuses connections from any other source.
const ListenerAttributeSourceRanges = model.ListenerAttributeSourceRanges

// Action types.
const (
	ActionForward       = model.ActionForward
	ActionRedirect      = model.ActionRedirect
	ActionFixedResponse = model.ActionFixedResponse
)

// Stack is the desired state of one IngressGroup's application load
// balancer: what deploy makes kelb server hold. Build makes it; it
// serialises to JSON. Its ID is the group's ID (GroupID.String), the value
// of TagStack. Its listeners are one per listen port of the group; its
// target groups one per backend Service port of each Ingress, with
// ResourceID "<namespace>/<ingress>-<service>:<port>".
type Stack = model.Stack

// The parts of a Stack, the model's.
type (
	LoadBalancer         = model.LoadBalancer
	Listener             = model.Listener
	Certificate          = model.Certificate
	CertificateRequest   = model.CertificateRequest
	MutualAuthentication = model.MutualAuthentication
	Rule                 = model.Rule
	Transform            = model.Transform
	Rewrite              = model.Rewrite
	Condition            = model.Condition
	QueryPair            = model.QueryPair
	Action               = model.Action
	ForwardAction        = model.ForwardAction
	WeightedTargetGroup  = model.WeightedTargetGroup
	RedirectAction       = model.RedirectAction
	FixedResponseAction  = model.FixedResponseAction
	AuthenticateAction   = model.AuthenticateAction
	OIDCAuth             = model.OIDCAuth
	CognitoAuth          = model.CognitoAuth
	JWTValidationAuth    = model.JWTValidationAuth
	JWTClaim             = model.JWTClaim
	TargetGroup          = model.TargetGroup
	HealthCheck          = model.HealthCheck
	TargetGroupBinding   = model.TargetGroupBinding
)
