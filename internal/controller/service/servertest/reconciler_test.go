package servertest

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
)

func drain(events chan string) []string {
	var out []string
	for {
		select {
		case e := <-events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// The reconciler gives seed 000's Service a load balancer, its status and
// a TargetGroupBinding; a malformed annotation changes nothing; a Service
// that stops being ours loses its load balancer and its finalizer.
func TestReconcileService(t *testing.T) {
	ctx := context.Background()
	elbClient, writes := server(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	svc := testService(nil)
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc).WithStatusSubresource(&corev1.Service{}).Build()
	recorder := record.NewFakeRecorder(100)
	r := &service.Reconciler{
		Client:   kube,
		Recorder: recorder,
		Deployer: &deploy.Deployer{Client: elbClient, ClusterName: opts.ClusterName, Frontend: service.Frontend},
		Options:  opts,
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	reconcile := func() {
		t.Helper()
		if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
	}
	get := func() *corev1.Service {
		t.Helper()
		var got corev1.Service
		if err := kube.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}

	reconcile()
	got := get()
	if !hasEvent(drain(recorder.Events), "Normal "+service.ReasonSuccessfullyReconciled) {
		t.Error("no SuccessfullyReconciled event")
	}
	if len(got.Finalizers) != 1 || got.Finalizers[0] != service.Finalizer {
		t.Errorf("finalizers = %v", got.Finalizers)
	}
	ingress := got.Status.LoadBalancer.Ingress
	if len(ingress) == 0 || !strings.HasPrefix(ingress[0].Hostname, "k8s-ui-uinlb-") {
		t.Fatalf("status.loadBalancer.ingress = %+v, want the load balancer's hostname first", ingress)
	}
	var tgbs elbv2api.TargetGroupBindingList
	if err := kube.List(ctx, &tgbs, client.InNamespace("ui")); err != nil {
		t.Fatal(err)
	}
	if len(tgbs.Items) != 1 || !strings.HasPrefix(tgbs.Items[0].Spec.TargetGroupARN, "arn:aws:elasticloadbalancing:") ||
		tgbs.Items[0].Spec.ServiceRef.Name != "ui-nlb" || *tgbs.Items[0].Spec.TargetType != elbv2api.TargetTypeIP {
		t.Fatalf("target group bindings = %+v", tgbs.Items)
	}

	// A restart with nothing changed writes nothing.
	before := writes.Load()
	reconcile()
	if n := writes.Load() - before; n != 0 {
		t.Errorf("reconcile of an unchanged Service made %d API writes", n)
	}
	if ev := drain(recorder.Events); len(ev) != 0 {
		t.Errorf("reconcile of an unchanged Service emitted %v", ev)
	}

	// A malformed annotation: a Warning naming it, and no API write.
	got.Annotations[service.AnnotationHCInterval] = "often"
	if err := kube.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	reconcile()
	ev := drain(recorder.Events)
	if !hasEvent(ev, "Warning "+service.ReasonFailedBuildModel) || !strings.Contains(strings.Join(ev, "\n"), service.AnnotationHCInterval) {
		t.Errorf("events = %v, want a FailedBuildModel warning naming %s", ev, service.AnnotationHCInterval)
	}
	if n := writes.Load() - before; n != 0 {
		t.Errorf("malformed annotation made %d API writes", n)
	}

	// An AWS-only annotation, and one kelb does not implement, are each
	// reported as ignored in a Warning naming it.
	got = get()
	delete(got.Annotations, service.AnnotationHCInterval)
	got.Annotations["service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules"] = "true"
	got.Annotations["service.beta.kubernetes.io/aws-load-balancer-target-control-port"] = "3000"
	if err := kube.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	reconcile()
	ev = drain(recorder.Events)
	for _, key := range []string{"aws-load-balancer-manage-backend-security-group-rules", "aws-load-balancer-target-control-port"} {
		if !slices.ContainsFunc(ev, func(e string) bool {
			return strings.HasPrefix(e, "Warning "+service.ReasonIgnoredAnnotation) && strings.Contains(e, key) && strings.Contains(e, "is ignored")
		}) {
			t.Errorf("events = %v, want an IgnoredAnnotation warning naming %s", ev, key)
		}
	}

	// No longer ours: everything goes.
	got = get()
	got.Annotations[service.AnnotationLoadBalancerType] = "clb"
	if err := kube.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	reconcile()
	got = get()
	if len(got.Finalizers) != 0 || len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("after release: finalizers %v, ingress %+v", got.Finalizers, got.Status.LoadBalancer.Ingress)
	}
	actual, err := r.Deployer.Find(ctx, "ui/ui-nlb", nil)
	if err != nil {
		t.Fatal(err)
	}
	if actual.LoadBalancer != nil || len(actual.TargetGroups) != 0 {
		t.Errorf("resources left after release: %+v", actual)
	}
	if err := kube.List(ctx, &tgbs, client.InNamespace("ui")); err != nil {
		t.Fatal(err)
	}
	if len(tgbs.Items) != 0 {
		t.Errorf("target group bindings left: %d", len(tgbs.Items))
	}

	// Deleting a Service that is gone is a no-op.
	if err := kube.Delete(ctx, got); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	reconcile()
}
