package targetgroupbinding

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Node labels and readiness gate names, as the AWS Load Balancer Controller
// uses them.
const (
	// LabelExcludeFromLB marks a node that must not be a load balancer
	// target.
	LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"
	// GatePrefix prefixes the readiness gate of a binding:
	// target-health.elbv2.k8s.aws/<binding name>.
	GatePrefix = "target-health.elbv2.k8s.aws/"
)

// GateFor returns the pod condition type of the binding named name.
func GateFor(name string) corev1.PodConditionType {
	return corev1.PodConditionType(GatePrefix + name)
}

// Target is one desired target: an address and port, and for ip targets
// the pod behind it.
type Target struct {
	ID   string
	Port int32
	// Pod is the name of the pod (ip targets); empty for instance targets.
	Pod string `json:",omitempty"`
}

// TargetKey is a target's identity in its target group.
type TargetKey struct {
	ID   string
	Port int32
}

// Key returns the target's identity in its target group.
func (t Target) Key() TargetKey { return TargetKey{ID: t.ID, Port: t.Port} }

func (t Target) String() string { return t.ID + ":" + strconv.Itoa(int(t.Port)) }

func compareTargets(a, b Target) int {
	return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Port, b.Port))
}

// FindServicePort returns the port of svc that ref names, by number or by
// name.
func FindServicePort(svc *corev1.Service, ref intstr.IntOrString) (corev1.ServicePort, error) {
	for _, p := range svc.Spec.Ports {
		if ref.Type == intstr.String && p.Name == ref.StrVal || ref.Type == intstr.Int && p.Port == ref.IntVal {
			return p, nil
		}
	}
	return corev1.ServicePort{}, fmt.Errorf("service %s/%s has no port %s", svc.Namespace, svc.Name, ref.String())
}

// PodInput is what PodTargets needs to know.
type PodInput struct {
	// ServicePort is the bound port of the Service.
	ServicePort corev1.ServicePort
	// Slices are the Service's EndpointSlices.
	Slices []discoveryv1.EndpointSlice
	// Pods are the pods the Slices' endpoints name, by name.
	Pods map[string]*corev1.Pod
	// Nodes are the cluster's nodes, by name.
	Nodes map[string]*corev1.Node
	// Gate is the binding's readiness gate.
	Gate corev1.PodConditionType
	// IPv6 selects IPv6 endpoints instead of IPv4 ones.
	IPv6 bool
}

// PodTargets returns the ip targets of a Service port, sorted, and whether
// some endpoint may become a target later without an EndpointSlice change
// (its pod has the readiness gate but not all containers ready yet, or is
// not in the cache yet), in which case the caller should look again soon.
//
// An endpoint is a target when it is ready, or when it is not terminating,
// its pod has every container ready (so only a readiness gate holds it
// back) and its node is Ready: the rules of the AWS Load Balancer
// Controller's endpoint resolver.
func PodTargets(in PodInput) (targets []Target, pending bool) {
	family := discoveryv1.AddressTypeIPv4
	if in.IPv6 {
		family = discoveryv1.AddressTypeIPv6
	}
	seen := map[TargetKey]bool{}
	for _, slice := range in.Slices {
		if slice.AddressType != family {
			continue
		}
		for _, port := range slice.Ports {
			if in.ServicePort.Name != "" && (port.Name == nil || *port.Name != in.ServicePort.Name) {
				continue
			}
			if port.Port == nil {
				continue
			}
			for _, ep := range slice.Endpoints {
				if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || len(ep.Addresses) == 0 {
					continue
				}
				addr, err := netip.ParseAddr(ep.Addresses[0])
				if err != nil {
					continue
				}
				t := Target{ID: addr.String(), Port: *port.Port, Pod: ep.TargetRef.Name}
				include, wait := endpointIsTarget(ep, in.Pods[t.Pod], in.Nodes, in.Gate)
				pending = pending || wait
				if include && !seen[t.Key()] {
					seen[t.Key()] = true
					targets = append(targets, t)
				}
			}
		}
	}
	slices.SortFunc(targets, compareTargets)
	return targets, pending
}

func endpointIsTarget(ep discoveryv1.Endpoint, pod *corev1.Pod, nodes map[string]*corev1.Node, gate corev1.PodConditionType) (include, pending bool) {
	terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
	if terminating {
		return false, false
	}
	if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
		// A nil ready condition means ready, by the EndpointSlice API.
		return true, false
	}
	if pod == nil {
		return false, true
	}
	if !podCondition(pod, corev1.ContainersReady) {
		return false, HasGate(pod, gate)
	}
	node := nodes[pod.Spec.NodeName]
	return node != nil && nodeReady(node), false
}

// HasGate reports whether pod carries the readiness gate.
func HasGate(pod *corev1.Pod, gate corev1.PodConditionType) bool {
	for _, g := range pod.Spec.ReadinessGates {
		if g.ConditionType == gate {
			return true
		}
	}
	return false
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeEligible reports whether node may be an instance target of a binding
// whose node selector is sel: Ready, schedulable, not being deleted, not
// labelled LabelExcludeFromLB, and selected.
func NodeEligible(node *corev1.Node, sel labels.Selector) bool {
	if !nodeReady(node) || node.Spec.Unschedulable || node.DeletionTimestamp != nil {
		return false
	}
	if _, excluded := node.Labels[LabelExcludeFromLB]; excluded {
		return false
	}
	return sel == nil || sel.Matches(labels.Set(node.Labels))
}

// NodeTargets returns the instance targets on nodePort: the InternalIP of
// every eligible node (see NodeEligible) of the wanted family, sorted.
func NodeTargets(nodes []corev1.Node, sel labels.Selector, nodePort int32, ipv6 bool) []Target {
	var out []Target
	for i := range nodes {
		node := &nodes[i]
		if !NodeEligible(node, sel) {
			continue
		}
		for _, a := range node.Status.Addresses {
			if a.Type != corev1.NodeInternalIP {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil || ip.Is6() != ipv6 {
				continue
			}
			out = append(out, Target{ID: ip.String(), Port: nodePort})
			break
		}
	}
	slices.SortFunc(out, compareTargets)
	return out
}

// TargetHealth is a target's health as DescribeTargetHealth reports it.
type TargetHealth struct {
	State       elbv2types.TargetHealthStateEnum
	Reason      elbv2types.TargetHealthReasonEnum
	Description string
}

// Registered is a target as DescribeTargetHealth reports it.
type Registered struct {
	Key    TargetKey
	Health TargetHealth
}

// Changes are the calls that bring a target group to the desired targets.
type Changes struct {
	Register, Deregister []Target
}

// Empty reports whether there is nothing to do.
func (c Changes) Empty() bool { return len(c.Register) == 0 && len(c.Deregister) == 0 }

// Diff returns the targets to register (desired, and not registered or
// draining: registering a draining target takes it back) and to deregister
// (registered, not draining, not desired, and owned). owned limits
// deregistration to targets this cluster knows, for target groups shared by
// several clusters; nil owns every target.
func Diff(desired []Target, current []Registered, owned func(TargetKey) bool) Changes {
	live := map[TargetKey]bool{}
	for _, r := range current {
		if !draining(r.Health.State) {
			live[r.Key] = true
		}
	}
	want := map[TargetKey]bool{}
	var c Changes
	for _, t := range desired {
		want[t.Key()] = true
		if !live[t.Key()] {
			c.Register = append(c.Register, t)
		}
	}
	for _, r := range current {
		if live[r.Key] && !want[r.Key] && (owned == nil || owned(r.Key)) {
			c.Deregister = append(c.Deregister, Target{ID: r.Key.ID, Port: r.Key.Port})
		}
	}
	slices.SortFunc(c.Register, compareTargets)
	slices.SortFunc(c.Deregister, compareTargets)
	return c
}

func draining(state elbv2types.TargetHealthStateEnum) bool {
	return state == elbv2types.TargetHealthStateEnumDraining || state == elbv2types.TargetHealthStateEnumUnhealthyDraining
}

// GateCondition returns the readiness gate condition a pod gets for its
// target's health; known is false while the target is not reported yet
// (just registered).
func GateCondition(gate corev1.PodConditionType, h TargetHealth, known bool) corev1.PodCondition {
	c := corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse}
	switch {
	case !known:
		c.Reason = string(elbv2types.TargetHealthReasonEnumRegistrationInProgress)
		c.Message = "Target registration is in progress"
	case h.State == elbv2types.TargetHealthStateEnumHealthy:
		c.Status = corev1.ConditionTrue
	default:
		c.Reason = string(h.Reason)
		c.Message = h.Description
		if c.Reason == "" {
			c.Reason = "Target." + string(h.State)
		}
	}
	return c
}

// Checkpoint is a hash of a target group and its desired targets.
func Checkpoint(targetGroupARN string, targets []Target) string {
	h := sha256.New()
	fmt.Fprintln(h, targetGroupARN)
	for _, t := range targets {
		fmt.Fprintln(h, t.ID, t.Port)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
