package ingress

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// Event reasons on Ingresses.
const (
	ReasonSuccessfullyReconciled = "SuccessfullyReconciled"
	ReasonFailedBuildModel       = "FailedBuildModel"
	ReasonFailedDeployModel      = "FailedDeployModel"
	ReasonFailedCleanup          = "FailedCleanup"
	ReasonIgnoredAnnotation      = "IgnoredAnnotation"
)

// Reconciler reconciles one IngressGroup per request: the request's
// Namespace and Name are the GroupID (Namespace empty for an explicit
// group). It keeps the group's load balancer in step with its members,
// writes their TargetGroupBindings and status, and holds each member with
// the group's finalizer until the load balancer no longer serves it.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	Deployer *deploy.Deployer // its Frontend is Frontend
	// IngressClass is the legacy kubernetes.io/ingress.class value that is
	// ours; DefaultIngressClass when empty.
	IngressClass string
	Options      BuildOptions
	// MaxConcurrentReconciles is how many IngressGroups are reconciled at
	// once; zero means DefaultMaxConcurrentReconciles. One group is never
	// reconciled by two workers at once.
	MaxConcurrentReconciles int
}

// DefaultMaxConcurrentReconciles is how many IngressGroups are reconciled
// at once when Reconciler.MaxConcurrentReconciles is zero: the AWS Load
// Balancer Controller's default. A group's reconcile waits on
// kube-apiserver and kelb server rather than the CPU; groups are few
// beside Services, so its default serves.
const DefaultMaxConcurrentReconciles = 3

// classes reads the cluster's IngressClasses and IngressClassParams. A
// cluster without the IngressClassParams CRD has no parameters.
func (r *Reconciler) classes(ctx context.Context) (Classes, error) {
	c := Classes{IngressClass: r.IngressClass}
	var classes networkingv1.IngressClassList
	if err := r.Client.List(ctx, &classes); err != nil {
		return c, fmt.Errorf("list ingress classes: %w", err)
	}
	c.Classes = classes.Items
	var params elbv2api.IngressClassParamsList
	if err := r.Client.List(ctx, &params); err != nil && !meta.IsNoMatchError(err) {
		return c, fmt.Errorf("list ingress class params: %w", err)
	}
	c.Params = params.Items
	return c, nil
}

// Reconcile reconciles one IngressGroup.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	id := GroupID(req.NamespacedName)
	classes, err := r.classes(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	var list networkingv1.IngressList
	if err := r.Client.List(ctx, &list); err != nil {
		return ctrl.Result{}, fmt.Errorf("list ingresses: %w", err)
	}
	grouping := GroupIngresses(list.Items, classes)
	var active []Member
	for _, m := range grouping.Groups[id] {
		if m.Ingress.DeletionTimestamp.IsZero() {
			active = append(active, m)
		}
	}
	// Ingresses holding the group's finalizer that are no longer active
	// members: deleted, moved to another group, or no longer ours.
	var leaving []*networkingv1.Ingress
	for i := range list.Items {
		ing := &list.Items[i]
		if !slices.Contains(groupsOfFinalizers(ing), id) || slices.ContainsFunc(active, func(m Member) bool { return m.Ingress == ing }) {
			continue
		}
		if err := grouping.Errors[types.NamespacedName{Namespace: ing.Namespace, Name: ing.Name}]; err != nil {
			// Its group cannot be told: leave everything as it is.
			r.Recorder.Event(ing, corev1.EventTypeWarning, ReasonFailedBuildModel, err.Error())
			logger.Info("not deploying: an Ingress of the group has a malformed group annotation", "error", err)
			return ctrl.Result{}, nil
		}
		leaving = append(leaving, ing)
	}

	if len(active) == 0 {
		if len(leaving) == 0 {
			return ctrl.Result{}, nil
		}
		if err := r.cleanup(ctx, id, leaving); err != nil {
			return ctrl.Result{}, err
		}
		r.releaseCertificates(ctx, grouping)
		return ctrl.Result{}, nil
	}
	for _, m := range active {
		if controllerutil.AddFinalizer(m.Ingress, id.Finalizer()) {
			if err := r.Client.Update(ctx, m.Ingress); err != nil {
				return ctrl.Result{}, fmt.Errorf("add finalizer to %s: %w", key(m.Ingress), err)
			}
		}
	}

	in, err := r.input(ctx, id, active)
	if err != nil {
		return ctrl.Result{}, err
	}
	st, err := Build(in, r.Options)
	if err != nil {
		r.eventAll(active, corev1.EventTypeWarning, ReasonFailedBuildModel, err.Error())
		var aerr *AnnotationError
		var cerr *ConflictError
		if errors.As(err, &aerr) || errors.As(err, &cerr) {
			// Only a change to an Ingress can fix it, and that triggers a
			// new reconcile.
			logger.Info("not deploying", "group", id.String(), "error", err)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("build %s: %w", id, err)
	}
	for _, w := range st.Warnings {
		r.eventAll(active, corev1.EventTypeWarning, ReasonIgnoredAnnotation, w)
	}
	res, err := r.Deployer.Deploy(ctx, st)
	if err != nil {
		r.eventAll(active, corev1.EventTypeWarning, ReasonFailedDeployModel, err.Error())
		return ctrl.Result{}, err
	}
	r.warnDeploy(active, res)
	bindingsChanged, err := r.writeBindings(ctx, id, st, res)
	if err != nil {
		r.eventAll(active, corev1.EventTypeWarning, ReasonFailedDeployModel, err.Error())
		return ctrl.Result{}, err
	}
	statusChanged := false
	for _, m := range active {
		changed, err := r.writeStatus(ctx, m.Ingress, res.DNSName)
		if err != nil {
			return ctrl.Result{}, err
		}
		statusChanged = statusChanged || changed
	}
	if err := r.release(ctx, id, leaving); err != nil {
		return ctrl.Result{}, err
	}
	r.releaseCertificates(ctx, grouping)
	if res.Changed || bindingsChanged || statusChanged || len(leaving) > 0 {
		r.eventAll(active, corev1.EventTypeNormal, ReasonSuccessfullyReconciled, "Successfully reconciled")
		logger.Info("reconciled", "group", id.String(), "loadBalancer", res.LoadBalancerARN, "dnsName", res.DNSName)
	}
	return ctrl.Result{}, nil
}

// input gathers what Build needs besides the members: their backend
// Services and their namespaces' labels.
func (r *Reconciler) input(ctx context.Context, id GroupID, members []Member) (BuildInput, error) {
	in := BuildInput{Group: id, Members: members, Services: map[types.NamespacedName]*corev1.Service{}, NamespaceLabels: map[string]map[string]string{}}
	for _, m := range members {
		ns := m.Ingress.Namespace
		if _, done := in.NamespaceLabels[ns]; done {
			continue
		}
		var svcs corev1.ServiceList
		if err := r.Client.List(ctx, &svcs, client.InNamespace(ns)); err != nil {
			return in, fmt.Errorf("list services of %s: %w", ns, err)
		}
		for i := range svcs.Items {
			s := &svcs.Items[i]
			in.Services[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
		}
		in.NamespaceLabels[ns] = nil
		if m.Class.Params != nil && m.Class.Params.Spec.NamespaceSelector != nil {
			var nsObj corev1.Namespace
			if err := r.Client.Get(ctx, types.NamespacedName{Name: ns}, &nsObj); err != nil {
				return in, fmt.Errorf("get namespace %s: %w", ns, err)
			}
			in.NamespaceLabels[ns] = nsObj.Labels
		}
	}
	return in, nil
}

// warnDeploy gives every member a FailedDeployModel Warning for each
// thing the deployer left as it was instead of doing as the stack asks,
// as the Service reconciler does for its Service.
func (r *Reconciler) warnDeploy(members []Member, res *deploy.Result) {
	for _, w := range res.Warnings {
		r.eventAll(members, corev1.EventTypeWarning, ReasonFailedDeployModel, w)
	}
}

func (r *Reconciler) eventAll(members []Member, eventType, reason, message string) {
	for _, m := range members {
		r.Recorder.Event(m.Ingress, eventType, reason, message)
	}
}

// certificateReleaser is a CertificateResolver that can delete the
// certificates of Secrets no Ingress names anymore (*certificates.SecretCertificates).
type certificateReleaser interface {
	Release(ctx context.Context, keep map[string]bool) error
}

// releaseCertificates deletes the imported certificates of TLS Secrets
// that no Ingress of ours names anymore, once the listeners that used them
// are gone or changed. A failure is logged, not returned: the group is
// deployed, and the next reconcile of any group tries again.
func (r *Reconciler) releaseCertificates(ctx context.Context, grouping Grouping) {
	rel, ok := r.Deployer.Certificates.(certificateReleaser)
	if !ok {
		return
	}
	keep := map[string]bool{}
	for _, members := range grouping.Groups {
		for _, m := range members {
			if !m.Ingress.DeletionTimestamp.IsZero() {
				continue
			}
			for _, t := range m.Ingress.Spec.TLS {
				if t.SecretName != "" {
					keep[m.Ingress.Namespace+"/"+t.SecretName] = true
				}
			}
		}
	}
	if err := rel.Release(ctx, keep); err != nil {
		log.FromContext(ctx).Error(err, "release certificates of TLS Secrets no Ingress names")
	}
}

// cleanup deletes a group that has no member left and releases the
// Ingresses that held it.
func (r *Reconciler) cleanup(ctx context.Context, id GroupID, leaving []*networkingv1.Ingress) error {
	if _, err := r.deleteBindings(ctx, id, nil); err != nil {
		r.eventIngresses(leaving, ReasonFailedCleanup, err)
		return err
	}
	if err := r.Deployer.Delete(ctx, id.String()); err != nil {
		r.eventIngresses(leaving, ReasonFailedCleanup, err)
		return err
	}
	if err := r.release(ctx, id, leaving); err != nil {
		return err
	}
	for _, ing := range leaving {
		r.Recorder.Event(ing, corev1.EventTypeNormal, ReasonSuccessfullyReconciled, "Load balancer deleted")
	}
	return nil
}

func (r *Reconciler) eventIngresses(ings []*networkingv1.Ingress, reason string, err error) {
	for _, ing := range ings {
		r.Recorder.Event(ing, corev1.EventTypeWarning, reason, err.Error())
	}
}

// release clears the status of Ingresses that left the group and removes
// the group's finalizer from them.
func (r *Reconciler) release(ctx context.Context, id GroupID, leaving []*networkingv1.Ingress) error {
	for _, ing := range leaving {
		if len(ing.Status.LoadBalancer.Ingress) > 0 && ing.DeletionTimestamp.IsZero() && !r.inOtherGroup(ing, id) {
			ing.Status.LoadBalancer.Ingress = nil
			if err := r.Client.Status().Update(ctx, ing); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("clear status of %s: %w", key(ing), err)
			}
		}
		if controllerutil.RemoveFinalizer(ing, id.Finalizer()) {
			if err := r.Client.Update(ctx, ing); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove finalizer of %s: %w", key(ing), err)
			}
		}
	}
	return nil
}

// inOtherGroup reports whether ing carries the finalizer of a group other
// than id, whose reconcile owns its status.
func (r *Reconciler) inOtherGroup(ing *networkingv1.Ingress, id GroupID) bool {
	for _, g := range groupsOfFinalizers(ing) {
		if g != id {
			return true
		}
	}
	return false
}

// writeBindings creates or updates the stack's TargetGroupBindings, with
// their target group ARNs, and deletes the group's other bindings.
func (r *Reconciler) writeBindings(ctx context.Context, id GroupID, st *Stack, res *deploy.Result) (bool, error) {
	changed := false
	keep := map[types.NamespacedName]bool{}
	for _, want := range st.TargetGroupBindings {
		keep[types.NamespacedName{Namespace: want.Namespace, Name: want.Name}] = true
		spec := *want.Spec.DeepCopy()
		spec.TargetGroupARN = res.TargetGroupARNs[want.TargetGroup]
		tgb := &elbv2api.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}
		op, err := controllerutil.CreateOrUpdate(ctx, r.Client, tgb, func() error {
			if tgb.Labels == nil {
				tgb.Labels = map[string]string{}
			}
			for k, v := range want.Labels {
				tgb.Labels[k] = v
			}
			spec.KeepDefaulted(&tgb.Spec)
			tgb.Spec = spec
			return nil
		})
		if err != nil {
			return false, fmt.Errorf("write target group binding %s/%s: %w", want.Namespace, want.Name, err)
		}
		changed = changed || op != controllerutil.OperationResultNone
	}
	deleted, err := r.deleteBindings(ctx, id, keep)
	return changed || deleted, err
}

// deleteBindings deletes the group's TargetGroupBindings not in keep.
func (r *Reconciler) deleteBindings(ctx context.Context, id GroupID, keep map[types.NamespacedName]bool) (bool, error) {
	var list elbv2api.TargetGroupBindingList
	opts := []client.ListOption{client.MatchingLabels(StackLabels(id))}
	if !id.Explicit() {
		opts = append(opts, client.InNamespace(id.Namespace))
	}
	if err := r.Client.List(ctx, &list, opts...); err != nil {
		return false, fmt.Errorf("list target group bindings of %s: %w", id, err)
	}
	deleted := false
	for i := range list.Items {
		tgb := &list.Items[i]
		if keep[types.NamespacedName{Namespace: tgb.Namespace, Name: tgb.Name}] {
			continue
		}
		if err := r.Client.Delete(ctx, tgb); err != nil && !apierrors.IsNotFound(err) {
			return deleted, fmt.Errorf("delete target group binding %s/%s: %w", tgb.Namespace, tgb.Name, err)
		}
		deleted = true
	}
	return deleted, nil
}

// writeStatus sets status.loadBalancer.ingress to the load balancer's
// hostname.
func (r *Reconciler) writeStatus(ctx context.Context, ing *networkingv1.Ingress, hostname string) (bool, error) {
	want := []networkingv1.IngressLoadBalancerIngress{{Hostname: hostname}}
	if slices.EqualFunc(ing.Status.LoadBalancer.Ingress, want, func(a, b networkingv1.IngressLoadBalancerIngress) bool {
		return a.Hostname == b.Hostname && a.IP == b.IP
	}) {
		return false, nil
	}
	ing.Status.LoadBalancer.Ingress = want
	if err := r.Client.Status().Update(ctx, ing); err != nil {
		return false, fmt.Errorf("write status of %s: %w", key(ing), err)
	}
	return true, nil
}
