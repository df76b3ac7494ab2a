package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/model"
)

// Event reasons.
const (
	ReasonFailedDeploy  = "FailedDeployModel"
	ReasonFailedCleanup = "FailedCleanup"
	ReasonReconciled    = "SuccessfullyReconciled"
	// ReasonInvalidConfiguration: a configuration value kelb cannot apply;
	// the load balancer is left as it is.
	ReasonInvalidConfiguration = "InvalidConfiguration"
	// ReasonIgnoredConfiguration: a configuration value kelb accepts but
	// has no equivalent for.
	ReasonIgnoredConfiguration = "IgnoredConfiguration"
	requeueWhileNoDNS          = 5 * time.Second
	routeStatusAttempts        = 3
)

// DeployResult is what deploying a stack leaves in place.
type DeployResult struct {
	DNSName string
	// TargetGroupARNs maps the stack's target groups' ResourceIDs to ARNs.
	TargetGroupARNs map[string]string
	Changed         bool
	// Warnings are what the deploy could not do as the stack asks.
	Warnings []string
}

// Deployer makes kelb server hold a stack: internal/controller/deploy's
// Deployer, with the tag keys of one GatewayClass controller.
type Deployer interface {
	Deploy(ctx context.Context, st *model.Stack) (DeployResult, error)
	Delete(ctx context.Context, stackID string) error
}

// Reconciler reconciles the Gateways of kelb's GatewayClasses.
type Reconciler struct {
	Client   client.Client
	Recorder record.EventRecorder
	// Deployers hold one deployer per controllerName (ControllerALB,
	// ControllerNLB).
	Deployers map[gatewayv1.GatewayController]Deployer
	Options   Options
	// Kinds are the route kinds whose CRDs the cluster serves.
	Kinds []string
	// ListenerSets: the cluster serves ListenerSets.
	ListenerSets bool
}

// Reconcile reconciles one Gateway: builds its stack, deploys it, writes
// its TargetGroupBindings and the statuses of the Gateway and its routes.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var gw gatewayv1.Gateway
	if err := r.Client.Get(ctx, req.NamespacedName, &gw); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	var class gatewayv1.GatewayClass
	classErr := r.Client.Get(ctx, types.NamespacedName{Name: string(gw.Spec.GatewayClassName)}, &class)
	if classErr != nil && !apierrors.IsNotFound(classErr) {
		return ctrl.Result{}, classErr
	}
	ours := classErr == nil && Ours(class.Spec.ControllerName)
	if !ours || !gw.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.cleanup(ctx, &gw)
	}
	controller := class.Spec.ControllerName
	finalizer := string(controller)
	if controllerutil.AddFinalizer(&gw, finalizer) {
		if err := r.Client.Update(ctx, &gw); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer to Gateway %s: %w", req.NamespacedName, err)
		}
	}

	in, all, err := r.load(ctx, &class, &gw)
	if err != nil {
		return ctrl.Result{}, err
	}
	if in.Config, err = r.loadConfig(ctx, &class, &gw, in.Routes); err != nil {
		return ctrl.Result{}, err
	}
	res := Build(in, r.Options)
	for _, w := range res.Warnings {
		r.Recorder.Event(&gw, corev1.EventTypeWarning, ReasonIgnoredConfiguration, w)
	}
	for k, msg := range buildRefusals(res) {
		logger.Info("route not accepted", "route", k.String(), "reason", msg)
	}

	var d Deployed
	deployer := r.Deployers[controller]
	switch {
	case deployer == nil:
		d.Err = fmt.Errorf("kelb controller cannot deploy the load balancers of %s Gateways yet", controller)
	case res.Invalid != nil:
		// Only a change to a configuration fixes it, and that triggers a
		// new reconcile; what serves is left alone.
		r.Recorder.Event(&gw, corev1.EventTypeWarning, ReasonInvalidConfiguration, res.Invalid.Message)
		logger.Info("not deploying: invalid configuration", "reason", res.Invalid.Message)
	case res.Stack != nil:
		out, err := deployer.Deploy(ctx, res.Stack)
		if err != nil {
			d.Err = err
			r.Recorder.Event(&gw, corev1.EventTypeWarning, ReasonFailedDeploy, err.Error())
		} else {
			d.DNSName = out.DNSName
			for _, w := range out.Warnings {
				r.Recorder.Event(&gw, corev1.EventTypeWarning, ReasonFailedDeploy, w)
			}
			if err := r.writeBindings(ctx, &gw, res.Stack, out.TargetGroupARNs); err != nil {
				d.Err = err
				r.Recorder.Event(&gw, corev1.EventTypeWarning, ReasonFailedDeploy, err.Error())
			} else if out.Changed {
				r.Recorder.Event(&gw, corev1.EventTypeNormal, ReasonReconciled, "Successfully reconciled")
				logger.Info("reconciled", "dnsName", out.DNSName)
			}
		}
	default:
		if err := r.deleteStack(ctx, &gw, deployer); err != nil {
			d.Err = err
		}
	}

	now := metav1.Now()
	status := GatewayStatus(gw.Status, &gw, res, d, now)
	if r.ListenerSets {
		status.AttachedListenerSets = &res.AttachedListenerSets
	}
	if !statusEqual(gw.Status, status) {
		patch := client.MergeFrom(gw.DeepCopy())
		gw.Status = status
		if err := r.Client.Status().Patch(ctx, &gw, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("write status of Gateway %s: %w", req.NamespacedName, err)
		}
	}
	if err := r.writeListenerSetStatuses(ctx, in.ListenerSets, res, status, now); err != nil {
		return ctrl.Result{}, err
	}
	// Every route: one that no longer names the Gateway loses its entry.
	if err := r.writeRouteStatuses(ctx, all, req.NamespacedName, controller, res.Parents, now, setNames(in.ListenerSets)...); err != nil {
		return ctrl.Result{}, err
	}
	if d.Err != nil && deployer != nil {
		return ctrl.Result{}, d.Err
	}
	if deployer != nil && res.Stack != nil && res.Invalid == nil && d.DNSName == "" {
		return ctrl.Result{RequeueAfter: requeueWhileNoDNS}, nil
	}
	return ctrl.Result{}, nil
}

// buildRefusals lists the routes Build refused, with why.
func buildRefusals(res Result) map[RouteKey]string {
	out := map[RouteKey]string{}
	for k, ps := range res.Parents {
		for _, p := range ps {
			for _, c := range p.Conditions {
				if c.Type == string(gatewayv1.RouteConditionAccepted) && c.Reason == string(gatewayv1.RouteReasonUnsupportedValue) {
					out[k] = c.Message
				}
			}
		}
	}
	return out
}

// statusEqual compares Gateway statuses ignoring transition times.
func statusEqual(a, b gatewayv1.GatewayStatus) bool {
	strip := func(s gatewayv1.GatewayStatus) gatewayv1.GatewayStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		for i := range s.Listeners {
			for j := range s.Listeners[i].Conditions {
				s.Listeners[i].Conditions[j].LastTransitionTime = metav1.Time{}
			}
		}
		return s
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// load gathers the Input of one Gateway from the cache, and every route.
func (r *Reconciler) load(ctx context.Context, class *gatewayv1.GatewayClass, gw *gatewayv1.Gateway) (in Input, routes []Route, err error) {
	in = Input{Class: class, Gateway: gw, Services: map[types.NamespacedName]*corev1.Service{}, Namespaces: map[string]map[string]string{}}
	name := types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}
	routes, err = listRoutes(ctx, r.Client, r.Kinds)
	if err != nil {
		return in, nil, err
	}
	if in.ListenerSets, err = r.listenerSetsOf(ctx, name); err != nil {
		return in, nil, err
	}
	for _, rt := range routes {
		if namesGateway(rt, name, in.ListenerSets) {
			in.Routes = append(in.Routes, rt)
		}
	}
	for _, ls := range in.ListenerSets {
		if err := r.loadNamespace(ctx, in.Namespaces, ls.Namespace); err != nil {
			return in, nil, err
		}
	}
	var grants gatewayv1.ReferenceGrantList
	if err := r.Client.List(ctx, &grants); err != nil {
		return in, nil, fmt.Errorf("list ReferenceGrants: %w", err)
	}
	in.Grants = grants.Items
	for _, rt := range in.Routes {
		if err := r.loadNamespace(ctx, in.Namespaces, rt.Object().GetNamespace()); err != nil {
			return in, nil, err
		}
		for _, svc := range backendServices(rt) {
			if _, ok := in.Services[svc]; ok {
				continue
			}
			var s corev1.Service
			err := r.Client.Get(ctx, svc, &s)
			switch {
			case err == nil:
				in.Services[svc] = &s
			case !apierrors.IsNotFound(err):
				return in, nil, fmt.Errorf("get Service %s: %w", svc, err)
			}
		}
	}
	secrets := map[types.NamespacedName]bool{}
	for _, l := range listenerTLS(gw, in.ListenerSets) {
		for _, ref := range l.TLS.CertificateRefs {
			ns := l.Namespace
			if ref.Namespace != nil {
				ns = string(*ref.Namespace)
			}
			key := types.NamespacedName{Namespace: ns, Name: string(ref.Name)}
			var s corev1.Secret
			err := r.Client.Get(ctx, key, &s)
			switch {
			case err == nil:
				// A certificate and key that do not parse as a pair are
				// refused here, not when kelb server imports them.
				_, perr := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
				secrets[key] = perr == nil
			case !apierrors.IsNotFound(err):
				return in, nil, fmt.Errorf("get Secret %s: %w", key, err)
			}
		}
	}
	in.Secret = func(ns, name string) bool { return secrets[types.NamespacedName{Namespace: ns, Name: name}] }
	return in, routes, nil
}

// backendServices are the Services a route's backendRefs name (kind
// Service of the core group).
func backendServices(rt Route) []types.NamespacedName {
	var refs []gatewayv1.BackendObjectReference
	switch {
	case rt.HTTP != nil:
		for _, rule := range rt.HTTP.Spec.Rules {
			for _, b := range rule.BackendRefs {
				refs = append(refs, b.BackendObjectReference)
			}
		}
	case rt.GRPC != nil:
		for _, rule := range rt.GRPC.Spec.Rules {
			for _, b := range rule.BackendRefs {
				refs = append(refs, b.BackendObjectReference)
			}
		}
	default:
		for _, b := range l4BackendRefs(rt) {
			refs = append(refs, b.BackendObjectReference)
		}
	}
	var out []types.NamespacedName
	for _, ref := range refs {
		if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Service" {
			continue
		}
		ns := rt.Object().GetNamespace()
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		out = append(out, types.NamespacedName{Namespace: ns, Name: string(ref.Name)})
	}
	return out
}

// listRoutes lists the routes of the given kinds in every namespace.
func listRoutes(ctx context.Context, c client.Client, kinds []string) ([]Route, error) {
	var out []Route
	for _, k := range kinds {
		switch k {
		case KindHTTPRoute:
			var l gatewayv1.HTTPRouteList
			if err := c.List(ctx, &l); err != nil {
				return nil, fmt.Errorf("list HTTPRoutes: %w", err)
			}
			for i := range l.Items {
				out = append(out, Route{Kind: k, HTTP: &l.Items[i]})
			}
		case KindGRPCRoute:
			var l gatewayv1.GRPCRouteList
			if err := c.List(ctx, &l); err != nil {
				return nil, fmt.Errorf("list GRPCRoutes: %w", err)
			}
			for i := range l.Items {
				out = append(out, Route{Kind: k, GRPC: &l.Items[i]})
			}
		case KindTCPRoute:
			var l gatewayv1.TCPRouteList
			if err := c.List(ctx, &l); err != nil {
				return nil, fmt.Errorf("list TCPRoutes: %w", err)
			}
			for i := range l.Items {
				out = append(out, Route{Kind: k, TCP: &l.Items[i]})
			}
		case KindUDPRoute:
			var l gatewayv1.UDPRouteList
			if err := c.List(ctx, &l); err != nil {
				return nil, fmt.Errorf("list UDPRoutes: %w", err)
			}
			for i := range l.Items {
				out = append(out, Route{Kind: k, UDP: &l.Items[i]})
			}
		case KindTLSRoute:
			var l gatewayv1.TLSRouteList
			if err := c.List(ctx, &l); err != nil {
				return nil, fmt.Errorf("list TLSRoutes: %w", err)
			}
			for i := range l.Items {
				out = append(out, Route{Kind: k, TLS: &l.Items[i]})
			}
		}
	}
	return out, nil
}

// writeRouteStatuses merges this Gateway's parent entries into each
// route's status.parents, retrying on conflicts with another writer.
func (r *Reconciler) writeRouteStatuses(ctx context.Context, routes []Route, gw types.NamespacedName, controller gatewayv1.GatewayController, parents map[RouteKey][]gatewayv1.RouteParentStatus, now metav1.Time, sets ...types.NamespacedName) error {
	var errs []error
	for _, rt := range routes {
		want := parents[rt.Key()]
		for attempt := 0; ; attempt++ {
			obj := rt.Object()
			merged := MergeParents(rt.Parents(), obj.GetNamespace(), gw, controller, want, now, sets...)
			if parentsEqual(rt.Parents(), merged) {
				break
			}
			before := obj.DeepCopyObject().(client.Object)
			rt.SetParents(merged)
			err := r.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
			if err == nil {
				break
			}
			if !apierrors.IsConflict(err) || attempt+1 >= routeStatusAttempts {
				errs = append(errs, fmt.Errorf("write status of %s: %w", rt.Key(), err))
				break
			}
			if err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				errs = append(errs, fmt.Errorf("get %s: %w", rt.Key(), err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func parentsEqual(a, b []gatewayv1.RouteParentStatus) bool {
	strip := func(p []gatewayv1.RouteParentStatus) []gatewayv1.RouteParentStatus {
		out := make([]gatewayv1.RouteParentStatus, len(p))
		for i := range p {
			out[i] = *p[i].DeepCopy()
			for j := range out[i].Conditions {
				out[i].Conditions[j].LastTransitionTime = metav1.Time{}
			}
		}
		return out
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// writeBindings creates or updates a stack's TargetGroupBindings with
// their target groups' ARNs, and deletes the Gateway's others.
func (r *Reconciler) writeBindings(ctx context.Context, gw *gatewayv1.Gateway, st *model.Stack, arns map[string]string) error {
	keep := map[types.NamespacedName]bool{}
	for _, want := range st.TargetGroupBindings {
		keep[types.NamespacedName{Namespace: want.Namespace, Name: want.Name}] = true
		spec := *want.Spec.DeepCopy()
		spec.TargetGroupARN = arns[want.TargetGroup]
		tgb := &elbv2api.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}
		_, err := controllerutil.CreateOrUpdate(ctx, r.Client, tgb, func() error {
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
			return fmt.Errorf("write TargetGroupBinding %s/%s: %w", want.Namespace, want.Name, err)
		}
	}
	return r.deleteBindings(ctx, gw, keep)
}

// deleteBindings deletes the Gateway's TargetGroupBindings (in any
// namespace: backends may be in others) not in keep.
func (r *Reconciler) deleteBindings(ctx context.Context, gw *gatewayv1.Gateway, keep map[types.NamespacedName]bool) error {
	var list elbv2api.TargetGroupBindingList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{LabelStackNamespace: gw.Namespace, LabelStackName: gw.Name}); err != nil {
		return fmt.Errorf("list TargetGroupBindings of Gateway %s/%s: %w", gw.Namespace, gw.Name, err)
	}
	for i := range list.Items {
		tgb := &list.Items[i]
		if keep[types.NamespacedName{Namespace: tgb.Namespace, Name: tgb.Name}] {
			continue
		}
		if err := r.Client.Delete(ctx, tgb); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete TargetGroupBinding %s/%s: %w", tgb.Namespace, tgb.Name, err)
		}
	}
	return nil
}

// deleteStack removes a Gateway's TargetGroupBindings and load balancer.
func (r *Reconciler) deleteStack(ctx context.Context, gw *gatewayv1.Gateway, d Deployer) error {
	if err := r.deleteBindings(ctx, gw, nil); err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	return d.Delete(ctx, gw.Namespace+"/"+gw.Name)
}

// cleanup removes what kelb made for a Gateway that is deleted or no
// longer of a class of kelb's, then its finalizer.
func (r *Reconciler) cleanup(ctx context.Context, gw *gatewayv1.Gateway) error {
	for _, controller := range []gatewayv1.GatewayController{ControllerALB, ControllerNLB} {
		d := r.Deployers[controller]
		finalizer := string(controller)
		if !controllerutil.ContainsFinalizer(gw, finalizer) {
			continue
		}
		if err := r.deleteStack(ctx, gw, d); err != nil {
			r.Recorder.Event(gw, corev1.EventTypeWarning, ReasonFailedCleanup, err.Error())
			return err
		}
		routes, err := listRoutes(ctx, r.Client, r.Kinds)
		if err != nil {
			return err
		}
		name := types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}
		sets, err := r.listenerSetsOf(ctx, name)
		if err != nil {
			return err
		}
		if err := r.writeRouteStatuses(ctx, routes, name, controller, nil, metav1.Now(), setNames(sets)...); err != nil {
			return err
		}
		controllerutil.RemoveFinalizer(gw, finalizer)
		if err := r.Client.Update(ctx, gw); err != nil {
			return fmt.Errorf("remove finalizer of Gateway %s: %w", name, err)
		}
	}
	return nil
}
