package ingress

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/certificates"
	"github.com/kelb-io/kelb/internal/controller/service"

	"github.com/kelb-io/kelb/internal/controller/deploy"
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

func countEvents(events []string, prefix string) int {
	n := 0
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

// reconcilerEnv is a reconciler over a fake Kubernetes client holding a
// testdata manifest, and the in-process kelb server API.
type reconcilerEnv struct {
	t        *testing.T
	r        *Reconciler
	kube     client.Client
	elb      *elbv2.Client
	log      *opLog
	recorder *record.FakeRecorder
}

func newReconcilerEnv(t *testing.T, path string, extra ...client.Object) *reconcilerEnv {
	t.Helper()
	elbClient, log := elbServer(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := elbv2api.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	w := loadWorld(t, path)
	var objs []client.Object
	for i := range w.ingresses {
		objs = append(objs, &w.ingresses[i])
	}
	for _, s := range w.services {
		objs = append(objs, s)
	}
	for i := range w.classes.Classes {
		objs = append(objs, &w.classes.Classes[i])
	}
	for i := range w.classes.Params {
		objs = append(objs, &w.classes.Params[i])
	}
	for name, labels := range w.namespaces {
		ns := &corev1.Namespace{}
		ns.Name, ns.Labels = name, labels
		objs = append(objs, ns)
	}
	objs = append(objs, extra...)
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&networkingv1.Ingress{}).Build()
	recorder := record.NewFakeRecorder(100)
	d := &deploy.Deployer{Frontend: Frontend, Client: elbClient, ClusterName: testOptions.ClusterName, Certificates: &certificates.SecretCertificates{Kube: kube, ACM: testACM, ClusterName: testOptions.ClusterName}}
	return &reconcilerEnv{t: t, kube: kube, elb: elbClient, log: log, recorder: recorder,
		r: &Reconciler{Client: kube, Recorder: recorder, Deployer: d, Options: testOptions}}
}

func (e *reconcilerEnv) reconcile(id GroupID) {
	e.t.Helper()
	if _, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName(id)}); err != nil {
		e.t.Fatalf("Reconcile %s: %v", id, err)
	}
}

func (e *reconcilerEnv) ingress(ns, name string) *networkingv1.Ingress {
	e.t.Helper()
	var ing networkingv1.Ingress
	if err := e.kube.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &ing); err != nil {
		e.t.Fatal(err)
	}
	return &ing
}

// Seed 004's Ingress gets a load balancer, a TargetGroupBinding of target
// type ip named as the AWS Load Balancer Controller names it, its
// hostname in status and the implicit group's finalizer; a second
// reconcile writes nothing; a malformed annotation changes nothing;
// deleting the Ingress deletes everything and releases it.
func TestReconcileSeed004(t *testing.T) {
	ctx := context.Background()
	e := newReconcilerEnv(t, "testdata/seed004-game-2048.yaml")
	id := GroupID{Namespace: "game-2048", Name: "ingress-2048"}
	e.reconcile(id)
	ing := e.ingress("game-2048", "ingress-2048")
	if ev := drain(e.recorder.Events); countEvents(ev, "Normal "+ReasonSuccessfullyReconciled) != 1 {
		t.Errorf("events = %v, want one SuccessfullyReconciled", ev)
	}
	if len(ing.Finalizers) != 1 || ing.Finalizers[0] != ImplicitGroupFinalizer {
		t.Errorf("finalizers = %v", ing.Finalizers)
	}
	lbs := ing.Status.LoadBalancer.Ingress
	if len(lbs) != 1 || !strings.HasPrefix(lbs[0].Hostname, "k8s-game2048-ingress2-") {
		t.Fatalf("status.loadBalancer.ingress = %+v", lbs)
	}
	var tgbs elbv2api.TargetGroupBindingList
	if err := e.kube.List(ctx, &tgbs, client.InNamespace("game-2048")); err != nil {
		t.Fatal(err)
	}
	if len(tgbs.Items) != 1 {
		t.Fatalf("%d target group bindings, want 1", len(tgbs.Items))
	}
	tgb := tgbs.Items[0]
	if !strings.HasPrefix(tgb.Name, "k8s-game2048-service2-") || tgb.Spec.ServiceRef.Name != "service-2048" || tgb.Spec.ServiceRef.Port.IntValue() != 80 ||
		*tgb.Spec.TargetType != elbv2api.TargetTypeIP || !strings.HasPrefix(tgb.Spec.TargetGroupARN, "arn:aws:elasticloadbalancing:") {
		t.Errorf("target group binding = %s %+v", tgb.Name, tgb.Spec)
	}
	e.log.writes()

	e.reconcile(id)
	if w := e.log.writes(); len(w) != 0 {
		t.Errorf("reconcile of an unchanged Ingress wrote %v", w)
	}
	if ev := drain(e.recorder.Events); len(ev) != 0 {
		t.Errorf("reconcile of an unchanged Ingress emitted %v", ev)
	}

	ing = e.ingress("game-2048", "ingress-2048")
	ing.Annotations[AnnotationHCInterval] = "often"
	if err := e.kube.Update(ctx, ing); err != nil {
		t.Fatal(err)
	}
	e.reconcile(id)
	ev := drain(e.recorder.Events)
	if countEvents(ev, "Warning "+ReasonFailedBuildModel) != 1 || !strings.Contains(strings.Join(ev, "\n"), `healthcheck-interval-seconds: invalid value "often"`) {
		t.Errorf("events = %v, want a FailedBuildModel naming the annotation and value", ev)
	}
	if w := e.log.writes(); len(w) != 0 {
		t.Errorf("malformed annotation wrote %v", w)
	}

	ing = e.ingress("game-2048", "ingress-2048")
	if err := e.kube.Delete(ctx, ing); err != nil {
		t.Fatal(err)
	}
	e.reconcile(id)
	var gone networkingv1.Ingress
	if err := e.kube.Get(ctx, types.NamespacedName{Namespace: "game-2048", Name: "ingress-2048"}, &gone); err == nil {
		t.Errorf("Ingress still there with finalizers %v", gone.Finalizers)
	}
	a, err := e.r.Deployer.Find(ctx, id.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.LoadBalancer != nil || len(a.TargetGroups) != 0 {
		t.Errorf("resources left after deletion: %+v", a)
	}
	if err := e.kube.List(ctx, &tgbs, client.InNamespace("game-2048")); err != nil {
		t.Fatal(err)
	}
	if len(tgbs.Items) != 0 {
		t.Errorf("%d target group bindings left", len(tgbs.Items))
	}
}

// Two Ingresses of group "shop" share one load balancer; a conflicting
// exclusive annotation fails the group with a Warning on every member and
// no change; a member leaving the group loses its rules and finalizer.
func TestReconcileGroup(t *testing.T) {
	ctx := context.Background()
	e := newReconcilerEnv(t, "testdata/group-host-path.yaml")
	id := GroupID{Name: "shop"}
	e.reconcile(id)
	hosts, paths := e.ingress("shop", "hosts"), e.ingress("shop", "paths")
	if hosts.Status.LoadBalancer.Ingress[0].Hostname != paths.Status.LoadBalancer.Ingress[0].Hostname {
		t.Errorf("members have different hostnames: %v, %v", hosts.Status.LoadBalancer.Ingress, paths.Status.LoadBalancer.Ingress)
	}
	if hosts.Finalizers[0] != "group.ingress.k8s.aws/shop" {
		t.Errorf("finalizers = %v", hosts.Finalizers)
	}
	drain(e.recorder.Events)
	e.log.writes()

	hosts.Annotations[AnnotationScheme] = SchemeInternal
	if err := e.kube.Update(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	e.reconcile(id)
	ev := drain(e.recorder.Events)
	if n := countEvents(ev, "Warning "+ReasonFailedBuildModel); n != 2 {
		t.Errorf("events = %v, want a FailedBuildModel on both members", ev)
	}
	if w := e.log.writes(); len(w) != 0 {
		t.Errorf("conflicting group wrote %v", w)
	}

	// "paths" leaves the group: it gets its own load balancer, and the
	// group loses its rules.
	hosts = e.ingress("shop", "hosts")
	delete(hosts.Annotations, AnnotationScheme)
	if err := e.kube.Update(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	paths = e.ingress("shop", "paths")
	delete(paths.Annotations, AnnotationGroupName)
	if err := e.kube.Update(ctx, paths); err != nil {
		t.Fatal(err)
	}
	e.reconcile(id)
	e.reconcile(GroupID{Namespace: "shop", Name: "paths"})
	paths = e.ingress("shop", "paths")
	if diff := strings.Join(paths.Finalizers, ","); diff != ImplicitGroupFinalizer {
		t.Errorf("finalizers of the member that left = %v", paths.Finalizers)
	}
	hosts = e.ingress("shop", "hosts")
	if paths.Status.LoadBalancer.Ingress[0].Hostname == hosts.Status.LoadBalancer.Ingress[0].Hostname {
		t.Errorf("the member that left still shares the group's load balancer")
	}
	a, err := e.r.Deployer.Find(ctx, "shop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(describeRules(t, e.elb, a.LoadBalancer.ARN, 80)); n != 3 {
		t.Errorf("group listener has %d rules, want the 2 host rules and the default", n)
	}
}

// allKeyTypes lists certificates of every key type: ACM lists RSA ones
// only by default.
var allKeyTypes = &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: acmtypes.KeyAlgorithm("").Values()}}

// A host no certificate in kelb's store covers gets every member a
// FailedDeployModel Warning naming the host, and no load balancer is made.
func TestReconcileCertificateDiscoveryWarning(t *testing.T) {
	e := newReconcilerEnv(t, "testdata/tls-discovery-create.yaml")
	e.r.Deployer.ACM = testACM
	if _, err := e.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "web"}}); err == nil {
		t.Fatal("Reconcile succeeded without a certificate for the hosts")
	}
	ev := drain(e.recorder.Events)
	if n := countEvents(ev, "Warning "+ReasonFailedDeployModel); n != 3 {
		t.Errorf("events = %v, want a FailedDeployModel Warning for each of the 3 members", ev)
	}
	if !slices.ContainsFunc(ev, func(s string) bool { return strings.Contains(s, "no certificate found for host: cart.example.test") }) {
		t.Errorf("events = %v, want one naming cart.example.test", ev)
	}
	if lbs, err := e.elb.DescribeLoadBalancers(context.Background(), &elbv2.DescribeLoadBalancersInput{}); err != nil || len(lbs.LoadBalancers) != 0 {
		t.Errorf("load balancers %v, %v; want none", lbs, err)
	}
}

// A TLS Secret named in spec.tls is imported once and used for the HTTPS
// listener; an unchanged Secret is not imported again.
func TestReconcileTLSSecret(t *testing.T) {
	ctx := context.Background()
	certPEM, keyPEM := selfSigned(t, "pay.example.com")
	secret := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
	secret.Namespace, secret.Name = "payments", "pay-tls"
	e := newReconcilerEnv(t, "testdata/tls-secret-params.yaml", secret)
	// kelb server has IPv4 zones only.
	var params elbv2api.IngressClassParams
	if err := e.kube.Get(ctx, types.NamespacedName{Name: "internal"}, &params); err != nil {
		t.Fatal(err)
	}
	params.Spec.IPAddressType = nil
	if err := e.kube.Update(ctx, &params); err != nil {
		t.Fatal(err)
	}
	id := GroupID{Name: "payments"}
	e.reconcile(id)
	if ev := drain(e.recorder.Events); countEvents(ev, "Normal "+ReasonSuccessfullyReconciled) != 1 {
		t.Fatalf("events = %v", ev)
	}
	a, err := e.r.Deployer.Find(ctx, "payments", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Listeners) != 1 || a.Listeners[0].Protocol != "HTTPS" || len(a.Listeners[0].Certificates) == 0 || !strings.HasPrefix(a.Listeners[0].Certificates[0], "arn:aws:acm:") {
		t.Fatalf("listeners = %+v", a.Listeners)
	}
	list, err := testACM.ListCertificates(ctx, allKeyTypes)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.CertificateSummaryList) != 1 || aws.ToString(list.CertificateSummaryList[0].CertificateArn) != a.Listeners[0].Certificates[0] {
		t.Errorf("certificates = %+v, want the listener's only", list.CertificateSummaryList)
	}
	e.log.writes()

	// A restarted controller finds the imported certificate.
	e.r.Deployer.Certificates = &certificates.SecretCertificates{Kube: e.kube, ACM: testACM}
	e.reconcile(id)
	if w := e.log.writes(); len(w) != 0 {
		t.Errorf("reconcile after restart wrote %v", w)
	}
	if list, err = testACM.ListCertificates(ctx, allKeyTypes); err != nil || len(list.CertificateSummaryList) != 1 {
		t.Errorf("certificates after restart: %v, %v", list, err)
	}

	// Once no Ingress names the Secret, its certificate (and private key)
	// leaves the store with the load balancer.
	if err := e.kube.Delete(ctx, e.ingress("payments", "checkout")); err != nil {
		t.Fatal(err)
	}
	e.reconcile(id)
	if list, err = testACM.ListCertificates(ctx, allKeyTypes); err != nil || len(list.CertificateSummaryList) != 0 {
		t.Errorf("certificates after the Ingress was deleted: %+v, %v; want none", list.CertificateSummaryList, err)
	}
}

// Each of the deployer's warnings becomes a FailedDeployModel Warning on
// every member of the group, the reason the Service reconciler gives them.
func TestWarnDeploy(t *testing.T) {
	recorder := record.NewFakeRecorder(10)
	r := &Reconciler{Recorder: recorder}
	var members []Member
	for _, name := range []string{"paths", "hosts"} {
		ing := &networkingv1.Ingress{}
		ing.Namespace, ing.Name = "shop", name
		members = append(members, Member{Ingress: ing})
	}
	r.warnDeploy(members, &deploy.Result{Warnings: []string{"first not applied", "second not applied"}})
	got := drain(recorder.Events)
	want := []string{
		"Warning FailedDeployModel first not applied", "Warning FailedDeployModel first not applied",
		"Warning FailedDeployModel second not applied", "Warning FailedDeployModel second not applied",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
	if ReasonFailedDeployModel != service.ReasonFailedDeployModel {
		t.Errorf("reason %q, want the Service reconciler's %q", ReasonFailedDeployModel, service.ReasonFailedDeployModel)
	}
	r.warnDeploy(members, &deploy.Result{})
	if got := drain(recorder.Events); len(got) != 0 {
		t.Errorf("events without warnings = %q, want none", got)
	}
}
