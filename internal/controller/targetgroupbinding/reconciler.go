package targetgroupbinding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
)

// Finalizer holds a TargetGroupBinding until its targets are deregistered.
const Finalizer = "elbv2.k8s.aws/resources"

// AnnotationCheckpoint holds the hash of the target group and targets last
// brought in step (see Checkpoint).
const AnnotationCheckpoint = "elbv2.k8s.aws/checkpoint"

// Event reasons on TargetGroupBindings.
const (
	ReasonSuccessfullyReconciled = "SuccessfullyReconciled"
	ReasonBackendNotFound        = "BackendNotFound"
	ReasonFailedReconcile        = "FailedReconcile"
	ReasonFailedCleanup          = "FailedCleanup"
	// ReasonTargetGroupNotFound: spec.targetGroupName names no target
	// group; the Ready condition says so too.
	ReasonTargetGroupNotFound = "TargetGroupNotFound"
)

// DefaultGateRequeue is how often a binding is looked at again while a
// gated pod waits for its target to turn healthy.
const DefaultGateRequeue = 2 * time.Second

// DefaultMaxConcurrentReconciles is how many bindings are reconciled at
// once when Reconciler.MaxConcurrentReconciles is zero. A reconcile
// spends its time waiting for kube-apiserver and kelb server (a target
// change is answered once the data plane has it), not on the CPU, so on
// a 2-core machine 10 workers overlap those waits where the AWS Load
// Balancer Controller's default of 3 would queue a cold start's hundreds
// of bindings behind each other.
const DefaultMaxConcurrentReconciles = 10

// ELBAPI is the part of the ELBv2 API the reconciler calls;
// *elasticloadbalancingv2.Client implements it.
type ELBAPI interface {
	DescribeTargetGroups(context.Context, *elbv2.DescribeTargetGroupsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
	RegisterTargets(context.Context, *elbv2.RegisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error)
	DeregisterTargets(context.Context, *elbv2.DeregisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.DeregisterTargetsOutput, error)
}

var _ ELBAPI = (*elbv2.Client)(nil)

// Reconciler reconciles TargetGroupBindings: see the package comment.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	ELB      ELBAPI
	// GateRequeue is the requeue interval while readiness gates wait;
	// zero means DefaultGateRequeue.
	GateRequeue time.Duration
	// MaxConcurrentReconciles is how many bindings are reconciled at
	// once (never the same binding twice); zero means
	// DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// Reconcile reconciles one TargetGroupBinding.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var tgb elbv2api.TargetGroupBinding
	if err := r.Client.Get(ctx, req.NamespacedName, &tgb); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !tgb.DeletionTimestamp.IsZero() {
		if !controllerutil.ContainsFinalizer(&tgb, Finalizer) {
			return ctrl.Result{}, nil
		}
		if err := r.cleanup(ctx, &tgb); err != nil {
			r.Recorder.Event(&tgb, corev1.EventTypeWarning, ReasonFailedCleanup, err.Error())
			return ctrl.Result{}, err
		}
		controllerutil.RemoveFinalizer(&tgb, Finalizer)
		if err := r.Client.Update(ctx, &tgb); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("remove finalizer of %s: %w", req, err)
		}
		return ctrl.Result{}, nil
	}
	if controllerutil.AddFinalizer(&tgb, Finalizer) {
		if err := r.Client.Update(ctx, &tgb); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to %s: %w", req, err)
		}
	}
	for _, w := range ignoredFields(&tgb) {
		r.Recorder.Event(&tgb, corev1.EventTypeWarning, ReasonIgnoredField, w)
	}
	// The resolved ARN stays in memory: the patches below send only the
	// checkpoint annotation and the status.
	arn, err := r.targetGroupARN(ctx, &tgb)
	if err != nil {
		return r.failed(ctx, &tgb, ReasonTargetGroupNotFound, err)
	}
	tgb.Spec.TargetGroupARN = arn
	res, err := r.reconcile(ctx, &tgb)
	if err != nil {
		var nf *backendNotFoundError
		if errors.As(err, &nf) {
			// A change to the Service or its EndpointSlices triggers the
			// next reconcile.
			log.FromContext(ctx).Info("backend not found", "error", err)
			return ctrl.Result{}, r.report(ctx, &tgb, ReasonBackendNotFound, err)
		}
		return r.failed(ctx, &tgb, ReasonFailedReconcile, err)
	}
	ready := metav1.Condition{Type: elbv2api.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSuccessfullyReconciled, Message: "targets are in step with the Service"}
	if err := r.writeStatus(ctx, &tgb, ready, true); err != nil {
		return ctrl.Result{}, err
	}
	return res, nil
}

// failed reports err (see report) and returns it for a retry.
func (r *Reconciler) failed(ctx context.Context, tgb *elbv2api.TargetGroupBinding, reason string, err error) (ctrl.Result, error) {
	if serr := r.report(ctx, tgb, reason, err); serr != nil {
		return ctrl.Result{}, errors.Join(err, serr)
	}
	return ctrl.Result{}, err
}

// report makes err a Warning event with reason and a false Ready condition
// with the same reason and message.
func (r *Reconciler) report(ctx context.Context, tgb *elbv2api.TargetGroupBinding, reason string, err error) error {
	r.Recorder.Event(tgb, corev1.EventTypeWarning, reason, err.Error())
	cond := metav1.Condition{Type: elbv2api.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: err.Error()}
	return r.writeStatus(ctx, tgb, cond, false)
}

// nameNotFoundError: spec.targetGroupName names no target group.
type nameNotFoundError struct{ name string }

func (e *nameNotFoundError) Error() string {
	return fmt.Sprintf("spec.targetGroupName: no target group is named %q", e.name)
}

// targetGroupARN is the binding's target group ARN: spec.targetGroupARN, or
// the ARN of the target group spec.targetGroupName names.
func (r *Reconciler) targetGroupARN(ctx context.Context, tgb *elbv2api.TargetGroupBinding) (string, error) {
	if tgb.Spec.TargetGroupARN != "" {
		return tgb.Spec.TargetGroupARN, nil
	}
	name := tgb.Spec.TargetGroupName
	if name == "" {
		return "", errors.New("spec: one of targetGroupARN and targetGroupName is required")
	}
	out, err := r.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil {
		if isNotFound(err) {
			return "", &nameNotFoundError{name: name}
		}
		return "", fmt.Errorf("spec.targetGroupName: describe target group %q: %w", name, err)
	}
	if len(out.TargetGroups) != 1 || aws.ToString(out.TargetGroups[0].TargetGroupArn) == "" {
		return "", fmt.Errorf("spec.targetGroupName: %d target groups are named %q", len(out.TargetGroups), name)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
}

type backendNotFoundError struct{ err error }

func (e *backendNotFoundError) Error() string { return e.err.Error() }
func (e *backendNotFoundError) Unwrap() error { return e.err }

// desired is what a binding wants.
type desired struct {
	targets []Target
	// pending: an endpoint may become a target without an EndpointSlice
	// change.
	pending bool
	// pods are the namespace's pods by name (ip targets), for gates.
	pods map[string]*corev1.Pod
	// known lists every target this cluster could have registered, for
	// shared target groups.
	known map[TargetKey]bool
}

func (r *Reconciler) reconcile(ctx context.Context, tgb *elbv2api.TargetGroupBinding) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	want, err := r.desired(ctx, tgb)
	if err != nil {
		return ctrl.Result{}, err
	}
	arn := tgb.Spec.TargetGroupARN
	checkpoint := Checkpoint(arn, want.targets)
	if tgb.Annotations[AnnotationCheckpoint] == checkpoint && !want.pending {
		return ctrl.Result{}, nil
	}

	current, err := r.describeTargets(ctx, arn)
	if err != nil {
		return ctrl.Result{}, err
	}
	var owned func(TargetKey) bool
	if tgb.Spec.MultiClusterTargetGroup {
		owned = func(k TargetKey) bool { return want.known[k] }
	}
	changes := Diff(want.targets, current, owned)
	if len(changes.Deregister) > 0 {
		if _, err := r.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: &arn, Targets: descriptions(changes.Deregister),
		}); err != nil {
			return ctrl.Result{}, fmt.Errorf("deregister %d targets from %s: %w", len(changes.Deregister), arn, err)
		}
	}
	if len(changes.Register) > 0 {
		if _, err := r.ELB.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: &arn, Targets: descriptions(changes.Register),
		}); err != nil {
			return ctrl.Result{}, fmt.Errorf("register %d targets in %s: %w", len(changes.Register), arn, err)
		}
	}
	if !changes.Empty() {
		msg := fmt.Sprintf("Registered %d and deregistered %d targets", len(changes.Register), len(changes.Deregister))
		r.Recorder.Event(tgb, corev1.EventTypeNormal, ReasonSuccessfullyReconciled, msg)
		logger.Info("targets changed", "targetGroup", arn, "registered", targetStrings(changes.Register), "deregistered", targetStrings(changes.Deregister))
	}

	gatesWaiting, err := r.updateGates(ctx, tgb, want, current)
	if err != nil {
		return ctrl.Result{}, err
	}
	if gatesWaiting || want.pending {
		return ctrl.Result{RequeueAfter: r.gateRequeue()}, nil
	}
	if tgb.Annotations[AnnotationCheckpoint] != checkpoint {
		patch := client.MergeFrom(tgb.DeepCopy())
		if tgb.Annotations == nil {
			tgb.Annotations = map[string]string{}
		}
		tgb.Annotations[AnnotationCheckpoint] = checkpoint
		if err := r.Client.Patch(ctx, tgb, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("write checkpoint of %s/%s: %w", tgb.Namespace, tgb.Name, err)
		}
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) gateRequeue() time.Duration {
	if r.GateRequeue > 0 {
		return r.GateRequeue
	}
	return DefaultGateRequeue
}

// targetType returns the binding's target type and address family, asking
// the target group when the spec leaves them unset.
func (r *Reconciler) targetType(ctx context.Context, tgb *elbv2api.TargetGroupBinding) (elbv2api.TargetType, bool, error) {
	if tgb.Spec.TargetType != nil && tgb.Spec.IPAddressType != nil {
		return *tgb.Spec.TargetType, *tgb.Spec.IPAddressType == elbv2api.TargetGroupIPAddressTypeIPv6, nil
	}
	out, err := r.ELB.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{tgb.Spec.TargetGroupARN}})
	if err != nil {
		return "", false, fmt.Errorf("describe target group %s: %w", tgb.Spec.TargetGroupARN, err)
	}
	if len(out.TargetGroups) != 1 {
		return "", false, fmt.Errorf("describe target group %s: %d results", tgb.Spec.TargetGroupARN, len(out.TargetGroups))
	}
	tg := out.TargetGroups[0]
	tt := elbv2api.TargetType(tg.TargetType)
	if tgb.Spec.TargetType != nil {
		tt = *tgb.Spec.TargetType
	}
	ipv6 := tg.IpAddressType == elbv2types.TargetGroupIpAddressTypeEnumIpv6
	if tgb.Spec.IPAddressType != nil {
		ipv6 = *tgb.Spec.IPAddressType == elbv2api.TargetGroupIPAddressTypeIPv6
	}
	if tt != elbv2api.TargetTypeIP && tt != elbv2api.TargetTypeInstance {
		return "", false, fmt.Errorf("target group %s has target type %q: only ip and instance can be bound", tgb.Spec.TargetGroupARN, tt)
	}
	return tt, ipv6, nil
}

func (r *Reconciler) desired(ctx context.Context, tgb *elbv2api.TargetGroupBinding) (*desired, error) {
	var svc corev1.Service
	key := client.ObjectKey{Namespace: tgb.Namespace, Name: tgb.Spec.ServiceRef.Name}
	if err := r.Client.Get(ctx, key, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &backendNotFoundError{fmt.Errorf("service %s not found", key)}
		}
		return nil, fmt.Errorf("get service %s: %w", key, err)
	}
	port, err := FindServicePort(&svc, tgb.Spec.ServiceRef.Port)
	if err != nil {
		return nil, &backendNotFoundError{err}
	}
	targetType, ipv6, err := r.targetType(ctx, tgb)
	if err != nil {
		return nil, err
	}
	var nodes corev1.NodeList
	if err := r.Client.List(ctx, &nodes); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	want := &desired{known: map[TargetKey]bool{}}

	if targetType == elbv2api.TargetTypeInstance {
		if port.NodePort == 0 {
			return nil, &backendNotFoundError{fmt.Errorf("service %s port %d has no node port (type %s)", key, port.Port, svc.Spec.Type)}
		}
		sel := labels.Everything()
		if tgb.Spec.NodeSelector != nil {
			if sel, err = metav1.LabelSelectorAsSelector(tgb.Spec.NodeSelector); err != nil {
				return nil, fmt.Errorf("spec.nodeSelector of %s/%s: %w", tgb.Namespace, tgb.Name, err)
			}
		}
		want.targets = NodeTargets(nodes.Items, sel, port.NodePort, ipv6)
		for _, t := range NodeTargets(nodes.Items, labels.Everything(), port.NodePort, ipv6) {
			want.known[t.Key()] = true
		}
		return want, nil
	}

	var slices discoveryv1.EndpointSliceList
	if err := r.Client.List(ctx, &slices, client.InNamespace(tgb.Namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name}); err != nil {
		return nil, fmt.Errorf("list endpoint slices of %s: %w", key, err)
	}
	pods, err := r.endpointPods(ctx, tgb.Namespace, slices.Items)
	if err != nil {
		return nil, err
	}
	in := PodInput{
		ServicePort: port,
		Slices:      slices.Items,
		Pods:        pods,
		Nodes:       map[string]*corev1.Node{},
		Gate:        GateFor(tgb.Name),
		IPv6:        ipv6,
	}
	for i := range nodes.Items {
		in.Nodes[nodes.Items[i].Name] = &nodes.Items[i]
	}
	want.targets, want.pending = PodTargets(in)
	want.pods = in.Pods
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			for _, p := range s.Ports {
				if p.Port != nil && len(ep.Addresses) > 0 {
					want.known[TargetKey{ID: ep.Addresses[0], Port: *p.Port}] = true
				}
			}
		}
	}
	return want, nil
}

// endpointPods returns the pods the endpoints of slices name, by name,
// read one by one from the cache: a binding looks at its own Service's
// pods, not at every pod of the namespace (which would make each
// reconcile, and a cold start of many Services in one namespace, cost
// the namespace's size). A pod not in the cache is left out.
func (r *Reconciler) endpointPods(ctx context.Context, ns string, slices []discoveryv1.EndpointSlice) (map[string]*corev1.Pod, error) {
	pods := map[string]*corev1.Pod{}
	for _, s := range slices {
		for _, ep := range s.Endpoints {
			ref := ep.TargetRef
			if ref == nil || ref.Kind != "Pod" || ref.Name == "" || pods[ref.Name] != nil {
				continue
			}
			var pod corev1.Pod
			err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &pod)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("get pod %s/%s: %w", ns, ref.Name, err)
			}
			pods[ref.Name] = &pod
		}
	}
	return pods, nil
}

// describeTargets returns the registered targets of a target group.
func (r *Reconciler) describeTargets(ctx context.Context, arn string) ([]Registered, error) {
	out, err := r.ELB.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: &arn})
	if err != nil {
		return nil, fmt.Errorf("describe target health of %s: %w", arn, err)
	}
	var current []Registered
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil || d.Target.Id == nil {
			continue
		}
		reg := Registered{Key: TargetKey{ID: *d.Target.Id, Port: aws.ToInt32(d.Target.Port)}}
		if d.TargetHealth != nil {
			reg.Health = TargetHealth{
				State:       d.TargetHealth.State,
				Reason:      d.TargetHealth.Reason,
				Description: aws.ToString(d.TargetHealth.Description),
			}
		}
		current = append(current, reg)
	}
	return current, nil
}

// updateGates sets the readiness gate condition of every desired pod that
// carries the binding's gate, and reports whether some gate is not True
// yet.
func (r *Reconciler) updateGates(ctx context.Context, tgb *elbv2api.TargetGroupBinding, want *desired, current []Registered) (bool, error) {
	if want.pods == nil {
		return false, nil
	}
	gate := GateFor(tgb.Name)
	health := map[TargetKey]TargetHealth{}
	for _, c := range current {
		if !draining(c.Health.State) {
			health[c.Key] = c.Health
		}
	}
	waiting := false
	for _, t := range want.targets {
		pod := want.pods[t.Pod]
		if pod == nil || !HasGate(pod, gate) {
			continue
		}
		h, known := health[t.Key()]
		cond := GateCondition(gate, h, known)
		if cond.Status != corev1.ConditionTrue {
			waiting = true
		}
		if err := r.setPodCondition(ctx, pod, cond); err != nil {
			return waiting, err
		}
	}
	return waiting, nil
}

// setPodCondition patches pod's status with cond unless it already has it.
func (r *Reconciler) setPodCondition(ctx context.Context, pod *corev1.Pod, cond corev1.PodCondition) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == cond.Type && c.Status == cond.Status && c.Reason == cond.Reason && c.Message == cond.Message {
			return nil
		}
	}
	now := metav1.Now()
	cond.LastProbeTime = now
	cond.LastTransitionTime = now
	orig := pod.DeepCopy()
	found := false
	for i, c := range pod.Status.Conditions {
		if c.Type != cond.Type {
			continue
		}
		if c.Status == cond.Status {
			cond.LastTransitionTime = c.LastTransitionTime
		}
		pod.Status.Conditions[i] = cond
		found = true
	}
	if !found {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	// A strategic merge patch keyed by condition type leaves the kubelet's
	// conditions alone.
	if err := r.Client.Status().Patch(ctx, pod, client.StrategicMergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("set condition %s of pod %s/%s: %w", cond.Type, pod.Namespace, pod.Name, err)
	}
	return nil
}

// cleanup deregisters the binding's targets: all of them, or for a shared
// target group those this cluster knows.
func (r *Reconciler) cleanup(ctx context.Context, tgb *elbv2api.TargetGroupBinding) error {
	arn, err := r.targetGroupARN(ctx, tgb)
	var nf *nameNotFoundError
	if errors.As(err, &nf) {
		// No such target group: no targets to deregister.
		return nil
	}
	if err != nil {
		return err
	}
	current, err := r.describeTargets(ctx, arn)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	var owned func(TargetKey) bool
	if tgb.Spec.MultiClusterTargetGroup {
		want, err := r.desired(ctx, tgb)
		if err != nil {
			return fmt.Errorf("find the targets of shared target group %s: %w", arn, err)
		}
		owned = func(k TargetKey) bool { return want.known[k] }
	}
	changes := Diff(nil, current, owned)
	if len(changes.Deregister) == 0 {
		return nil
	}
	if _, err := r.ELB.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: &arn, Targets: descriptions(changes.Deregister),
	}); err != nil && !isNotFound(err) {
		return fmt.Errorf("deregister %d targets from %s: %w", len(changes.Deregister), arn, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *elbv2types.TargetGroupNotFoundException
	var api smithy.APIError
	return errors.As(err, &nf) || errors.As(err, &api) && api.ErrorCode() == "TargetGroupNotFound"
}

// writeStatus sets the Ready condition, and with observed the observed
// generation, writing the status only when they change.
func (r *Reconciler) writeStatus(ctx context.Context, tgb *elbv2api.TargetGroupBinding, ready metav1.Condition, observed bool) error {
	patch := client.MergeFrom(tgb.DeepCopy())
	ready.ObservedGeneration = tgb.Generation
	changed := meta.SetStatusCondition(&tgb.Status.Conditions, ready)
	if g := tgb.Status.ObservedGeneration; observed && (g == nil || *g != tgb.Generation) {
		gen := tgb.Generation
		tgb.Status.ObservedGeneration = &gen
		changed = true
	}
	if !changed {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, tgb, patch); err != nil {
		return fmt.Errorf("write status of %s/%s: %w", tgb.Namespace, tgb.Name, err)
	}
	return nil
}

func descriptions(ts []Target) []elbv2types.TargetDescription {
	out := make([]elbv2types.TargetDescription, len(ts))
	for i, t := range ts {
		out[i] = elbv2types.TargetDescription{Id: aws.String(t.ID), Port: aws.Int32(t.Port)}
	}
	return out
}

func targetStrings(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}
