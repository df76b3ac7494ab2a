package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	elbv2alpha "github.com/kelb-io/kelb/api/elbv2/v1alpha1"
	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/ingress"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/controller/webhook"
	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
	"github.com/kelb-io/kelb/internal/elb"
	"github.com/kelb-io/kelb/internal/elbapi"
	"github.com/kelb-io/kelb/internal/server"
)

const (
	keyID  = "AKIDKELBTEST"
	secret = "kelb-test-secret"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func binDir(t *testing.T) string {
	t.Helper()
	dir, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no Kubernetes binary cache: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		t.Skipf("kube-apiserver not built in %s (kelb up builds it)", dir)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd not on PATH (apt-get install etcd-server)")
	}
	return dir
}

// poll calls f until it returns nil or ctx ends.
func poll(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	var last error
	for {
		if last = f(); last == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v (last: %v)", what, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startEnv starts a real kube-apiserver with kelb's CRDs, an in-process
// kelb server and kelb controller's webhook server with every webhook
// (the Service mutator on), its configurations written by the certificate
// manager in url mode, as kelb up runs it. It returns a client of the API
// server, whose requests go through the webhooks, and an ELBv2 client of
// kelb server.
func startEnv(t *testing.T, ctx context.Context) (client.Client, *elbv2.Client) {
	t.Helper()
	cpDir := t.TempDir()
	cp, err := controlplane.Start(ctx, controlplane.Config{
		Dir: cpDir, BinDir: binDir(t), Log: t.Logf,
		WithoutControllerManager: true, WithoutScheduler: true,
	})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(controlplane.LogTail(filepath.Join(cpDir, "logs", "kube-apiserver.log"), 40))
		}
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, elbv2api.AddToScheme, elbv2alpha.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	kube, err := client.New(cp.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../../../config/crd/bases/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("CRD files: %v (%d)", err, len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := kube.Create(ctx, &unstructured.Unstructured{Object: obj}); err != nil {
			t.Fatalf("create CRD %s: %v", f, err)
		}
	}
	poll(t, ctx, "CRDs", func() error {
		if err := kube.List(ctx, &elbv2alpha.TargetGroupBindingList{}); err != nil {
			return err
		}
		return kube.List(ctx, &elbv2api.IngressClassParamsList{})
	})

	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srvCtx, stopServer := context.WithCancel(context.Background())
	var serverDone sync.WaitGroup
	serverDone.Add(1)
	go func() {
		defer serverDone.Done()
		err := server.Run(srvCtx, server.Config{
			APIAddr:     apiAddr,
			DataDir:     t.TempDir(),
			Zones:       []elb.Zone{{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")}},
			VPCCIDRs:    []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")},
			Credentials: elbapi.StaticCredentials{keyID: secret},
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("kelb server: %v", err)
		}
	}()
	t.Cleanup(func() { stopServer(); serverDone.Wait() })
	elbClient := elbv2.New(elbv2.Options{
		Region:       "us-west-2",
		BaseEndpoint: aws.String("http://" + apiAddr),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
	})
	poll(t, ctx, "kelb server API", func() error {
		_, err := elbClient.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
		return err
	})

	hookPort := freePort(t)
	certDir := t.TempDir()
	mgr, err := ctrl.NewManager(cp.RESTConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 testr.New(t),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          &webhook.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(hookPort)), CertDir: certDir},
	})
	if err != nil {
		t.Fatal(err)
	}
	hooks := webhook.AllWebhooks
	hooks.Service = true
	certs := &webhook.CertManager{
		Client:     kube,
		ConfigName: "kelb-webhook",
		URL:        "https://127.0.0.1:" + strconv.Itoa(hookPort),
		Webhooks:   hooks,
		Hosts:      []string{"127.0.0.1"},
		CertDir:    certDir,
		Log:        testr.New(t),
	}
	if err := certs.Setup(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Add(certs); err != nil {
		t.Fatal(err)
	}
	webhook.Register(mgr.GetWebhookServer(), mgr.GetClient(), scheme, webhook.Options{
		Webhooks:          hooks,
		LoadBalancerClass: service.DefaultLoadBalancerClass,
		ELB:               elbClient,
		VpcID:             "vpc-0ce1b000000000000",
		IngressClass:      ingress.DefaultIngressClass,
	})
	mgrCtx, stopMgr := context.WithCancel(context.Background())
	var mgrDone sync.WaitGroup
	mgrDone.Add(1)
	go func() {
		defer mgrDone.Done()
		if err := mgr.Start(mgrCtx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { stopMgr(); mgrDone.Wait() })

	// The webhooks answer once a Service created through the API server
	// comes back with its class.
	poll(t, ctx, "webhooks", func() error {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "probe-"},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		if err := kube.Create(ctx, svc); err != nil {
			return err
		}
		defer kube.Delete(ctx, svc)
		if svc.Spec.LoadBalancerClass == nil {
			return errors.New("no class set yet")
		}
		return nil
	})
	return kube, elbClient
}

// refused checks that err is the API server's refusal carrying want.
func refused(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want refused with %q", what, want)
		return
	}
	if !strings.Contains(err.Error(), "denied the request") || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v\nwant the webhook's refusal with %q", what, err, want)
	}
}

func TestWebhooksThroughKubeAPIServer(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	kube, elbClient := startEnv(t, ctx)
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "shop"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
	} {
		if err := kube.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("Service", func(t *testing.T) {
		class := "example.com/other"
		for _, tt := range []struct {
			name string
			spec corev1.ServiceSpec
			want *string
		}{
			{"lb-without-class", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}, aws.String(service.DefaultLoadBalancerClass)},
			{"lb-other-class", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &class}, &class},
			{"cluster-ip", corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP}, nil},
		} {
			tt.spec.Ports = []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: tt.name}, Spec: tt.spec}
			if err := kube.Create(ctx, svc); err != nil {
				t.Fatalf("create %s: %v", tt.name, err)
			}
			var got corev1.Service
			if err := kube.Get(ctx, client.ObjectKeyFromObject(svc), &got); err != nil {
				t.Fatal(err)
			}
			if (got.Spec.LoadBalancerClass == nil) != (tt.want == nil) || tt.want != nil && *got.Spec.LoadBalancerClass != *tt.want {
				t.Errorf("%s: loadBalancerClass %v, want %v", tt.name, aws.ToString(got.Spec.LoadBalancerClass), aws.ToString(tt.want))
			}
		}
	})

	t.Run("TargetGroupBinding", func(t *testing.T) {
		out, err := elbClient.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name: aws.String("shop-web"), Protocol: elbv2types.ProtocolEnumTcp, Port: aws.Int32(80),
			VpcId: aws.String("vpc-0ce1b000000000000"), TargetType: elbv2types.TargetTypeEnumIp,
		})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
		ref := elbv2api.ServiceReference{Name: "lb-without-class", Port: intstr.FromInt32(80)}

		// By name: the mutator resolves the ARN and fills in the rest
		// from the target group. Shared with other clusters, so that the
		// checks below meet their own fields first.
		tgb := &elbv2api.TargetGroupBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec:       elbv2api.TargetGroupBindingSpec{TargetGroupName: "shop-web", ServiceRef: ref, MultiClusterTargetGroup: true},
		}
		if err := kube.Create(ctx, tgb); err != nil {
			t.Fatalf("create by name: %v", err)
		}
		s := tgb.Spec
		if s.TargetGroupARN != arn || s.TargetType == nil || *s.TargetType != elbv2api.TargetTypeIP ||
			s.IPAddressType == nil || *s.IPAddressType != elbv2api.TargetGroupIPAddressTypeIPv4 ||
			s.VpcID != "vpc-0ce1b000000000000" || aws.ToString(s.TargetGroupProtocol) != "TCP" {
			t.Errorf("mutated spec = %+v, want the target group's ARN %s, ip, ipv4, vpc-0ce1b000000000000, TCP", s, arn)
		}

		// Immutable fields.
		changed := tgb.DeepCopy()
		instance := elbv2api.TargetTypeInstance
		changed.Spec.TargetType = &instance
		changed.Spec.VpcID = ""
		refused(t, "update targetType and vpcID", kube.Update(ctx, changed),
			"TargetGroupBinding update may not change these immutable fields: spec.targetType,spec.vpcID")
		// A field that may change does.
		changed = tgb.DeepCopy()
		changed.Spec.ServiceRef.Port = intstr.FromInt32(81)
		if err := kube.Update(ctx, changed); err != nil {
			t.Errorf("update serviceRef: %v", err)
		}

		for _, tt := range []struct {
			name string
			spec elbv2api.TargetGroupBindingSpec
			want string
		}{
			{"dup", elbv2api.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: ref},
				"TargetGroup " + arn + " is already bound to following TargetGroupBindings [shop/web]"},
			{"missing", elbv2api.TargetGroupBindingSpec{TargetGroupName: "no-such-group", ServiceRef: ref}, "TargetGroupNotFound"},
			{"ipv6", elbv2api.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true, ServiceRef: ref,
				IPAddressType: ptr(elbv2api.TargetGroupIPAddressTypeIPv6)}, "invalid IP address type ipv4 for TargetGroup " + arn},
			{"protocol", elbv2api.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true, ServiceRef: ref,
				TargetGroupProtocol: aws.String("UDP")}, "TargetGroup " + arn + " protocol differs (got UDP, expected TCP)"},
			{"vpc", elbv2api.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true, ServiceRef: ref,
				VpcID: "vpc-0123456789abcdef0"}, "invalid VpcID vpc-0123456789abcdef0 doesnt match VpcID from TargetGroup " + arn},
			{"selector", elbv2api.TargetGroupBindingSpec{TargetGroupARN: arn, MultiClusterTargetGroup: true, ServiceRef: ref,
				NodeSelector: &metav1.LabelSelector{}}, "TargetGroupBinding cannot set NodeSelector when TargetType is ip"},
		} {
			obj := &elbv2api.TargetGroupBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: tt.name}, Spec: tt.spec}
			refused(t, "create "+tt.name, kube.Create(ctx, obj), tt.want)
		}

		// v1alpha1 is served, stored as v1beta1 and goes through the same
		// webhooks (the API server converts it for them).
		if err := kube.Delete(ctx, tgb); err != nil {
			t.Fatal(err)
		}
		old := &elbv2alpha.TargetGroupBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-alpha"},
			Spec:       elbv2alpha.TargetGroupBindingSpec{TargetGroupARN: arn, ServiceRef: elbv2alpha.ServiceReference{Name: "lb-without-class", Port: intstr.FromInt32(80)}},
		}
		if err := kube.Create(ctx, old); err != nil {
			t.Fatalf("create v1alpha1: %v", err)
		}
		var stored elbv2api.TargetGroupBinding
		if err := kube.Get(ctx, client.ObjectKeyFromObject(old), &stored); err != nil {
			t.Fatalf("read v1alpha1 binding as v1beta1: %v", err)
		}
		if stored.Spec.TargetType == nil || *stored.Spec.TargetType != elbv2api.TargetTypeIP || stored.Spec.VpcID != "vpc-0ce1b000000000000" {
			t.Errorf("v1alpha1 binding read as v1beta1 = %+v, want the mutator's fields", stored.Spec)
		}
	})

	t.Run("IngressClassParams", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			spec elbv2api.IngressClassParamsSpec
			want string
		}{
			{"host", elbv2api.IngressClassParamsSpec{InboundCIDRs: []string{"10.0.0.1"}}, `spec.inboundCIDRs[0]: Invalid value: "10.0.0.1": Could not be parsed as a CIDR (did you mean "10.0.0.1/32")`},
			{"bits", elbv2api.IngressClassParamsSpec{InboundCIDRs: []string{"10.0.0.1/8"}}, `Network contains bits outside prefix (did you mean "10.0.0.0/8")`},
			{"both", elbv2api.IngressClassParamsSpec{Subnets: &elbv2api.SubnetSelector{IDs: []elbv2api.SubnetID{"subnet-a"}, Tags: map[string][]string{"k": {"v"}}}}, "spec.subnets.tags: Forbidden: may not have both `ids` and `tags` set"},
			{"dup", elbv2api.IngressClassParamsSpec{Subnets: &elbv2api.SubnetSelector{IDs: []elbv2api.SubnetID{"subnet-a", "subnet-a"}}}, `spec.subnets.ids[1]: Duplicate value: "subnet-a"`},
			{"redirect", elbv2api.IngressClassParamsSpec{SSLRedirectPort: "https"}, `spec.sslRedirectPort "https" must be a port number`},
		} {
			p := &elbv2api.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: tt.name}, Spec: tt.spec}
			refused(t, "create "+tt.name, kube.Create(ctx, p), tt.want)
		}
		ok := &elbv2api.IngressClassParams{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: elbv2api.IngressClassParamsSpec{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "shop"}},
			InboundCIDRs:      []string{"10.0.0.0/8"},
		}}
		if err := kube.Create(ctx, ok); err != nil {
			t.Errorf("create a valid IngressClassParams: %v", err)
		}
	})

	t.Run("Ingress", func(t *testing.T) {
		group := "elbv2.k8s.aws"
		for _, c := range []*networkingv1.IngressClass{
			{ObjectMeta: metav1.ObjectMeta{Name: "shop"}, Spec: networkingv1.IngressClassSpec{Controller: ingress.Controller,
				Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &group, Kind: "IngressClassParams", Name: "shop"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "lost"}, Spec: networkingv1.IngressClassSpec{Controller: ingress.Controller,
				Parameters: &networkingv1.IngressClassParametersReference{APIGroup: &group, Kind: "IngressClassParams", Name: "lost"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		} {
			if err := kube.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		ing := func(ns, name, class string, ann map[string]string) *networkingv1.Ingress {
			prefix := networkingv1.PathTypePrefix
			i := &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
				Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: backend}},
				}}}}},
			}
			if class != "" {
				i.Spec.IngressClassName = &class
			}
			return i
		}
		badGroup := map[string]string{ingress.AnnotationGroupName: "Not_A_Group"}
		badConditions := map[string]string{ingress.AnnotationConditionsPrefix + "web": `[{"field":"host-header"}]`}
		for _, tt := range []struct {
			ing  *networkingv1.Ingress
			want string
		}{
			{ing("shop", "no-class", "missing", nil), `invalid ingress class: IngressClass.networking.k8s.io "missing" not found`},
			{ing("shop", "no-params", "lost", nil), `invalid ingress class: IngressClassParams.elbv2.k8s.aws "lost" not found`},
			{ing("other", "not-selected", "shop", nil), "invalid ingress class: namespaceSelector of IngressClassParams shop mismatch"},
			{ing("shop", "bad-group", "shop", badGroup), ingress.AnnotationGroupName},
			{ing("shop", "bad-group-legacy", "", map[string]string{ingress.AnnotationIngressClass: "alb", ingress.AnnotationGroupName: "-x-"}), ingress.AnnotationGroupName},
			{ing("shop", "bad-conditions", "shop", badConditions), ingress.AnnotationConditionsPrefix + "web"},
		} {
			refused(t, "create "+tt.ing.Name, kube.Create(ctx, tt.ing), tt.want)
		}
		// Not ours: the same annotations pass.
		for _, i := range []*networkingv1.Ingress{
			ing("shop", "nginx", "nginx", badGroup),
			ing("shop", "legacy-nginx", "", map[string]string{ingress.AnnotationIngressClass: "nginx", ingress.AnnotationGroupName: "-x-"}),
			ing("shop", "good", "shop", map[string]string{ingress.AnnotationGroupName: "shop.front"}),
		} {
			if err := kube.Create(ctx, i); err != nil {
				t.Errorf("create %s: %v", i.Name, err)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
