package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlbuilder "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

// Finalizer holds a Service until its load balancer is deleted.
const Finalizer = "service.k8s.aws/resources"

// Event reasons on Services.
const (
	ReasonSuccessfullyReconciled = "SuccessfullyReconciled"
	ReasonFailedBuildModel       = "FailedBuildModel"
	ReasonFailedDeployModel      = "FailedDeployModel"
	ReasonFailedCleanup          = "FailedCleanup"
	ReasonIgnoredAnnotation      = "IgnoredAnnotation"
)

// DefaultMaxConcurrentReconciles is how many Services are reconciled at
// once when Reconciler.MaxConcurrentReconciles is zero. A reconcile
// spends its time waiting for kube-apiserver and kelb server (a deploy is
// a sequence of API calls, each answered once the configuration is
// committed), not on the CPU, so on a 2-core machine 10 workers overlap
// those waits where the AWS Load Balancer Controller's default of 3
// would queue a cold start's hundreds of Services behind each other.
const DefaultMaxConcurrentReconciles = 10

// Reconciler keeps the load balancer of every Service that is ours in step
// with the Service: build the stack, deploy it, write its
// TargetGroupBindings and the Service's status. A Service that is deleted,
// or stops being ours, has its load balancer and bindings removed before
// the finalizer is released. A malformed annotation stops the reconcile
// with a Warning event and leaves the existing load balancer as it was.
type Reconciler struct {
	Client    client.Client
	Recorder  record.EventRecorder
	Deployer  *deploy.Deployer // its Frontend is Frontend
	Selection Selection
	Options   BuildOptions
	// MaxConcurrentReconciles is how many Services are reconciled at
	// once; zero means DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int
}

// SetupWithManager registers the reconciler with mgr.
//
// Every reconcile finds the stack's resources through the ELBv2 API, so
// the reconciler only wakes up for changes that can change the stack: a
// Service's spec (generation), annotations, labels, a removed finalizer
// or deletion, and a binding's spec or deletion. Its own writes (the
// finalizer it adds, the bindings it creates, status, a binding's
// checkpoint annotation and status) do not come back as reconciles, so a
// new Service costs one reconcile, not three; controller-runtime's
// periodic resync still visits every Service.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := r.MaxConcurrentReconciles
	if workers == 0 {
		workers = DefaultMaxConcurrentReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&corev1.Service{}, ctrlbuilder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{},
			predicate.LabelChangedPredicate{},
			finalizersChanged{},
		))).
		Owns(&elbv2api.TargetGroupBinding{}, ctrlbuilder.WithPredicates(predicate.GenerationChangedPredicate{}, notCreated)).
		// A TLS Secret named by kelb-ssl-cert-secrets that changes is
		// imported again into the same certificate ARN.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.servicesNaming)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// finalizersChanged passes updates that start a deletion (an object with
// finalizers is marked deleted without a new generation) or remove a
// finalizer (ours must be put back; another one's removal may let a
// deleted Service go). A finalizer added is the reconciler's own write,
// or another controller's, and changes nothing of the stack.
type finalizersChanged struct{ predicate.Funcs }

func (finalizersChanged) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	if e.ObjectOld.GetDeletionTimestamp().IsZero() != e.ObjectNew.GetDeletionTimestamp().IsZero() {
		return true
	}
	kept := e.ObjectNew.GetFinalizers()
	return slices.ContainsFunc(e.ObjectOld.GetFinalizers(), func(f string) bool { return !slices.Contains(kept, f) })
}

// notCreated drops the creation of a binding: the reconciler created it
// (the bindings of a Service are its own), and at start the Services'
// own creations wake every one of them up.
var notCreated = predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}

// Reconcile reconciles one Service.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	stackID := svc.Namespace + "/" + svc.Name
	if !svc.DeletionTimestamp.IsZero() || !r.Selection.Manages(&svc) {
		if !controllerutil.ContainsFinalizer(&svc, Finalizer) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, r.cleanup(ctx, &svc, stackID)
	}
	if controllerutil.AddFinalizer(&svc, Finalizer) {
		if err := r.Client.Update(ctx, &svc); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to %s: %w", stackID, err)
		}
	}

	st, err := Build(&svc, r.Options)
	if err != nil {
		r.Recorder.Event(&svc, corev1.EventTypeWarning, ReasonFailedBuildModel, err.Error())
		var aerr *AnnotationError
		if errors.As(err, &aerr) {
			// Only a change to the Service can fix it, and that triggers a
			// new reconcile.
			logger.Info("not deploying: malformed annotation", "error", err)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("build %s: %w", stackID, err)
	}
	for _, w := range st.Warnings {
		r.Recorder.Event(&svc, corev1.EventTypeWarning, ReasonIgnoredAnnotation, w)
	}
	res, err := r.Deployer.Deploy(ctx, st)
	if err != nil {
		r.Recorder.Event(&svc, corev1.EventTypeWarning, ReasonFailedDeployModel, err.Error())
		return ctrl.Result{}, err
	}
	for _, w := range res.Warnings {
		r.Recorder.Event(&svc, corev1.EventTypeWarning, ReasonFailedDeployModel, w)
	}
	r.releaseCertificates(ctx)
	bindingsChanged, err := r.writeBindings(ctx, &svc, st, res)
	if err != nil {
		r.Recorder.Event(&svc, corev1.EventTypeWarning, ReasonFailedDeployModel, err.Error())
		return ctrl.Result{}, err
	}
	statusChanged, err := r.writeStatus(ctx, &svc, res)
	if err != nil {
		return ctrl.Result{}, err
	}
	if res.Changed || bindingsChanged || statusChanged {
		r.Recorder.Event(&svc, corev1.EventTypeNormal, ReasonSuccessfullyReconciled, "Successfully reconciled")
		logger.Info("reconciled", "loadBalancer", res.LoadBalancerARN, "dnsName", res.DNSName)
	}
	return ctrl.Result{}, nil
}

func (r *Reconciler) cleanup(ctx context.Context, svc *corev1.Service, stackID string) error {
	if _, err := r.deleteBindings(ctx, svc, nil); err != nil {
		r.Recorder.Event(svc, corev1.EventTypeWarning, ReasonFailedCleanup, err.Error())
		return err
	}
	if err := r.Deployer.Delete(ctx, stackID); err != nil {
		r.Recorder.Event(svc, corev1.EventTypeWarning, ReasonFailedCleanup, err.Error())
		return err
	}
	if len(svc.Status.LoadBalancer.Ingress) > 0 && svc.DeletionTimestamp.IsZero() {
		patch := client.MergeFrom(svc.DeepCopy())
		svc.Status.LoadBalancer.Ingress = nil
		if err := r.Client.Status().Patch(ctx, svc, patch); err != nil {
			return fmt.Errorf("clear status of %s: %w", stackID, err)
		}
	}
	r.releaseCertificates(ctx)
	controllerutil.RemoveFinalizer(svc, Finalizer)
	if err := r.Client.Update(ctx, svc); err != nil {
		return fmt.Errorf("remove finalizer of %s: %w", stackID, err)
	}
	r.Recorder.Event(svc, corev1.EventTypeNormal, ReasonSuccessfullyReconciled, "Load balancer deleted")
	return nil
}

// writeBindings creates or updates the stack's TargetGroupBindings, with
// their target group ARNs, and deletes the Service's other bindings.
func (r *Reconciler) writeBindings(ctx context.Context, svc *corev1.Service, st *Stack, res *deploy.Result) (bool, error) {
	changed := false
	keep := map[string]bool{}
	for _, want := range st.TargetGroupBindings {
		keep[want.Name] = true
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
			return controllerutil.SetControllerReference(svc, tgb, r.Client.Scheme())
		})
		if err != nil {
			return false, fmt.Errorf("write target group binding %s/%s: %w", want.Namespace, want.Name, err)
		}
		changed = changed || op != controllerutil.OperationResultNone
	}
	deleted, err := r.deleteBindings(ctx, svc, keep)
	return changed || deleted, err
}

// deleteBindings deletes the Service's TargetGroupBindings not in keep.
func (r *Reconciler) deleteBindings(ctx context.Context, svc *corev1.Service, keep map[string]bool) (bool, error) {
	var list elbv2api.TargetGroupBindingList
	if err := r.Client.List(ctx, &list, client.InNamespace(svc.Namespace), client.MatchingLabels{
		LabelStackNamespace: svc.Namespace, LabelStackName: svc.Name,
	}); err != nil {
		return false, fmt.Errorf("list target group bindings of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	deleted := false
	for i := range list.Items {
		tgb := &list.Items[i]
		if keep[tgb.Name] {
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
// hostname and addresses.
func (r *Reconciler) writeStatus(ctx context.Context, svc *corev1.Service, res *deploy.Result) (bool, error) {
	want := []corev1.LoadBalancerIngress{{Hostname: res.DNSName}}
	for _, ip := range res.Addresses {
		want = append(want, corev1.LoadBalancerIngress{IP: ip})
	}
	if slices.EqualFunc(svc.Status.LoadBalancer.Ingress, want, func(a, b corev1.LoadBalancerIngress) bool {
		return a.Hostname == b.Hostname && a.IP == b.IP
	}) {
		return false, nil
	}
	// A patch, not an update: the finalizer write just before, or anyone
	// else's change to the Service, must not fail the status write with a
	// conflict.
	patch := client.MergeFrom(svc.DeepCopy())
	svc.Status.LoadBalancer.Ingress = want
	if err := r.Client.Status().Patch(ctx, svc, patch); err != nil {
		return false, fmt.Errorf("write status of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return true, nil
}

// secretNames are the TLS Secrets (namespace/name) a Service names in
// kelb-ssl-cert-secrets; malformed items are left to Build to report.
func secretNames(svc *corev1.Service) []string {
	raw, ok := annotations(svc.Annotations).Str(AnnotationSSLCertSecrets)
	if !ok {
		return nil
	}
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" && !strings.Contains(item, "/") {
			out = append(out, svc.Namespace+"/"+item)
		}
	}
	return out
}

// servicesNaming maps a Secret to the Services of ours that name it in
// kelb-ssl-cert-secrets.
func (r *Reconciler) servicesNaming(ctx context.Context, obj client.Object) []reconcile.Request {
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "list Services naming a TLS Secret", "secret", obj.GetNamespace()+"/"+obj.GetName())
		return nil
	}
	want := obj.GetNamespace() + "/" + obj.GetName()
	var out []reconcile.Request
	for i := range list.Items {
		svc := &list.Items[i]
		if r.Selection.Manages(svc) && slices.Contains(secretNames(svc), want) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}})
		}
	}
	return out
}

// certificateReleaser is a certificate resolver that can delete the
// certificates of Secrets no Service names anymore
// (*certificates.SecretCertificates).
type certificateReleaser interface {
	Release(ctx context.Context, keep map[string]bool) error
}

// releaseCertificates deletes the imported certificates of TLS Secrets
// that no Service of ours names anymore. A certificate a listener still
// uses is kept by kelb server and tried again later. A failure is logged,
// not returned: the Service is deployed, and the next reconcile of any
// Service tries again.
func (r *Reconciler) releaseCertificates(ctx context.Context) {
	rel, ok := r.Deployer.Certificates.(certificateReleaser)
	if !ok {
		return
	}
	var list corev1.ServiceList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "list Services to release certificates")
		return
	}
	keep := map[string]bool{}
	for i := range list.Items {
		svc := &list.Items[i]
		if svc.DeletionTimestamp.IsZero() && r.Selection.Manages(svc) {
			for _, s := range secretNames(svc) {
				keep[s] = true
			}
		}
	}
	if err := rel.Release(ctx, keep); err != nil {
		log.FromContext(ctx).Error(err, "release certificates of TLS Secrets no Service names")
	}
}
