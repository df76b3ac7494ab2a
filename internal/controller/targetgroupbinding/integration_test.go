package targetgroupbinding_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/go-logr/logr/testr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	elbv2api "github.com/kelb-io/kelb/api/elbv2/v1beta1"
	"github.com/kelb-io/kelb/internal/controller/deploy"
	"github.com/kelb-io/kelb/internal/controller/service"
	"github.com/kelb-io/kelb/internal/controller/targetgroupbinding"
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

// countingELB counts the ELBv2 calls the reconciler makes.
type countingELB struct {
	targetgroupbinding.ELBAPI
	calls atomic.Int64
	// rendezvous, when set, holds the DescribeTargetHealth calls of its
	// target groups.
	rendezvous atomic.Pointer[rendezvous]
}

func (c *countingELB) DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, o ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	c.calls.Add(1)
	if r := c.rendezvous.Load(); r != nil {
		r.arrive(ctx, aws.ToString(in.TargetGroupArn))
	}
	return c.ELBAPI.DescribeTargetHealth(ctx, in, o...)
}

// rendezvous holds the first call for each of its target groups until
// every one of them has a call waiting, which only reconciles running at
// once can achieve; after timeout it gives up and lets calls through.
// Either way it then passes every call.
type rendezvous struct {
	mu      sync.Mutex
	waiting map[string]bool // target group ARN -> a call is waiting
	open    chan struct{}
	met     bool
	// together: every call waited at once (not given up on).
	together bool
	timeout  time.Duration
}

func newRendezvous(timeout time.Duration, arns ...string) *rendezvous {
	r := &rendezvous{waiting: map[string]bool{}, open: make(chan struct{}), timeout: timeout}
	for _, arn := range arns {
		r.waiting[arn] = false
	}
	return r
}

func (r *rendezvous) arrive(ctx context.Context, arn string) {
	r.mu.Lock()
	seen, ok := r.waiting[arn]
	if !ok || seen {
		r.mu.Unlock()
		return
	}
	r.waiting[arn] = true
	all := true
	for _, w := range r.waiting {
		all = all && w
	}
	if all && !r.met {
		r.met, r.together = true, true
		close(r.open)
	}
	r.mu.Unlock()
	select {
	case <-r.open:
	case <-time.After(r.timeout):
		r.mu.Lock()
		if !r.met {
			r.met = true
			close(r.open)
		}
		r.mu.Unlock()
	case <-ctx.Done():
	}
}

// metTogether reports whether every target group's call waited at once.
func (r *rendezvous) metTogether() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.together
}

func (c *countingELB) RegisterTargets(ctx context.Context, in *elbv2.RegisterTargetsInput, o ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error) {
	c.calls.Add(1)
	return c.ELBAPI.RegisterTargets(ctx, in, o...)
}

func (c *countingELB) DeregisterTargets(ctx context.Context, in *elbv2.DeregisterTargetsInput, o ...func(*elbv2.Options)) (*elbv2.DeregisterTargetsOutput, error) {
	c.calls.Add(1)
	return c.ELBAPI.DeregisterTargets(ctx, in, o...)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// env is a real kube-apiserver, an in-process kelb server and kelb
// controller's TargetGroupBinding reconciler and webhook, all inside a
// private network namespace.
type env struct {
	kubeconfig string
	kube       client.Client
	elb        *elbv2.Client
	api        *countingELB
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

func startEnv(t *testing.T, ctx context.Context) *env {
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
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, elbv2api.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	kube, err := client.New(cp.RESTConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	installCRDs(t, ctx, kube)

	// kelb server, with its health checker and data plane.
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	srvCtx, stopServer := context.WithCancel(context.Background())
	var serverDone sync.WaitGroup
	serverDone.Add(1)
	go func() {
		defer serverDone.Done()
		err := server.Run(srvCtx, server.Config{
			APIAddr: apiAddr,
			DataDir: t.TempDir(),
			Zones: []elb.Zone{
				{Name: "us-west-2a", SubnetID: "subnet-a", Pool: netip.MustParsePrefix("198.19.1.0/24")},
				{Name: "us-west-2b", SubnetID: "subnet-b", Pool: netip.MustParsePrefix("198.19.2.0/24")},
			},
			// The pods' and nodes' network, as kelb up's VPC.
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
		_, err := elbClient.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
		return err
	})

	// kelb controller's reconciler and webhook.
	ctrl.SetLogger(testr.New(t))
	hookPort := freePort(t)
	certDir := t.TempDir()
	mgr, err := ctrl.NewManager(cp.RESTConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 testr.New(t),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: "127.0.0.1", Port: hookPort, CertDir: certDir}),
	})
	if err != nil {
		t.Fatal(err)
	}
	api := &countingELB{ELBAPI: elbClient}
	rec := &targetgroupbinding.Reconciler{
		Client:      mgr.GetClient(),
		Recorder:    mgr.GetEventRecorderFor("targetgroupbinding"),
		ELB:         api,
		GateRequeue: time.Second,
	}
	if err := rec.SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	svcRec := &service.Reconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorderFor("service"),
		Deployer:  &deploy.Deployer{Client: elbClient, ClusterName: "kelb-test", Frontend: service.Frontend},
		Selection: service.Selection{LoadBalancerClass: service.DefaultLoadBalancerClass},
		Options:   service.BuildOptions{ClusterName: "kelb-test"},
	}
	if err := svcRec.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	certs := &webhook.CertManager{
		Client:     kube,
		ConfigName: "kelb-webhook",
		URL:        "https://127.0.0.1:" + strconv.Itoa(hookPort),
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
	mgr.GetWebhookServer().Register(webhook.PathMutatePod, &ctrlwebhook.Admission{Handler: webhook.NewPodMutator(mgr.GetClient(), scheme)})
	mgrCtx, stopMgr := context.WithCancel(log.IntoContext(context.Background(), testr.New(t)))
	var mgrDone sync.WaitGroup
	mgrDone.Add(1)
	go func() {
		defer mgrDone.Done()
		if err := mgr.Start(mgrCtx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	// Stop the manager before the API server (cleanups run last first).
	t.Cleanup(func() { stopMgr(); mgrDone.Wait() })
	return &env{kubeconfig: cp.KubeconfigPath, kube: kube, elb: elbClient, api: api}
}

// installCRDs creates the CRDs of config/crd/bases and waits until the
// TargetGroupBinding API serves.
func installCRDs(t *testing.T, ctx context.Context, kube client.Client) {
	t.Helper()
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
	poll(t, ctx, "TargetGroupBinding API", func() error {
		return kube.List(ctx, &elbv2api.TargetGroupBindingList{})
	})
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

// targetGroup creates a target group behind a TCP listener of a new load
// balancer, so kelb server health-checks its targets: TCP every 5 s,
// healthy after 2 successes.
func (e *env) targetGroup(t *testing.T, ctx context.Context, name string, targetType elbv2types.TargetTypeEnum) string {
	t.Helper()
	tg, err := e.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbv2types.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000"),
		TargetType:                 targetType,
		HealthCheckIntervalSeconds: aws.Int32(5),
		HealthCheckTimeoutSeconds:  aws.Int32(2),
		HealthyThresholdCount:      aws.Int32(2),
		UnhealthyThresholdCount:    aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("create target group %s: %v", name, err)
	}
	arn := *tg.TargetGroups[0].TargetGroupArn
	lb, err := e.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(name), Type: elbv2types.LoadBalancerTypeEnumNetwork,
	})
	if err != nil {
		t.Fatalf("create load balancer %s: %v", name, err)
	}
	_, err = e.elb.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol:        elbv2types.ProtocolEnumTcp, Port: aws.Int32(80),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: &arn}},
	})
	if err != nil {
		t.Fatalf("create listener of %s: %v", name, err)
	}
	return arn
}

type health struct {
	ID    string
	Port  int32
	State string
}

func (e *env) targets(ctx context.Context, arn string) ([]health, error) {
	out, err := e.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: &arn})
	if err != nil {
		return nil, err
	}
	var hs []health
	for _, d := range out.TargetHealthDescriptions {
		hs = append(hs, health{ID: *d.Target.Id, Port: *d.Target.Port, State: string(d.TargetHealth.State)})
	}
	slices.SortFunc(hs, func(a, b health) int {
		if a.ID != b.ID {
			if a.ID < b.ID {
				return -1
			}
			return 1
		}
		return int(a.Port - b.Port)
	})
	return hs, nil
}

// waitTargets waits until the target group's targets, ignoring draining
// ones unless want lists them, are want (states compared when given).
func (e *env) waitTargets(t *testing.T, ctx context.Context, arn string, want []health) {
	t.Helper()
	poll(t, ctx, fmt.Sprintf("targets %v", want), func() error {
		got, err := e.targets(ctx, arn)
		if err != nil {
			return err
		}
		var cmpGot []health
		for _, g := range got {
			j := slices.IndexFunc(want, func(w health) bool { return w.ID == g.ID && w.Port == g.Port })
			if j < 0 && g.State == string(elbv2types.TargetHealthStateEnumDraining) {
				continue
			}
			if j >= 0 && want[j].State == "" {
				g.State = ""
			}
			cmpGot = append(cmpGot, g)
		}
		if diff := cmp.Diff(want, cmpGot); diff != "" {
			return fmt.Errorf("targets (-want +got):\n%s", diff)
		}
		return nil
	})
}

func readyNode(name, ip string, mutate func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
	}
	if mutate != nil {
		mutate(n)
	}
	n.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
	}
	return n
}

func (e *env) createNode(t *testing.T, ctx context.Context, n *corev1.Node) {
	t.Helper()
	status := n.Status
	if err := e.kube.Create(ctx, n); err != nil {
		t.Fatalf("create node %s: %v", n.Name, err)
	}
	n.Status = status
	if err := e.kube.Status().Update(ctx, n); err != nil {
		t.Fatalf("node %s status: %v", n.Name, err)
	}
}

func endpoint(ip, pod string, ready, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "ui", Name: pod},
		NodeName:   aws.String("n1"),
	}
}

// serveTCP accepts and closes connections on addr until the test ends.
func serveTCP(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
}

// TestBindingsAgainstKubernetesAndKelb runs the reconciler and the webhook
// against a real kube-apiserver and kelb server: ip targets follow
// EndpointSlices, a gated pod's condition turns True once its target is
// healthy, instance targets follow Nodes, an unchanged binding makes no
// ELBv2 call, and deleting a binding deregisters its targets.
func TestBindingsAgainstKubernetesAndKelb(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	e := startEnv(t, ctx)
	k := e.kube

	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ui", Labels: map[string]string{webhook.LabelInject: "enabled"}}},
		// No controller-manager runs: pods need their service account.
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "default"}},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "ui-nlb"},
			Spec: corev1.ServiceSpec{
				Type:     corev1.ServiceTypeNodePort,
				Selector: map[string]string{"app": "ui"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			},
		},
	} {
		if err := k.Create(ctx, obj); err != nil {
			t.Fatalf("create %T: %v", obj, err)
		}
	}
	e.createNode(t, ctx, readyNode("n1", "198.18.0.11", nil))
	e.createNode(t, ctx, readyNode("n2", "198.18.0.12", nil))
	e.createNode(t, ctx, readyNode("n3", "198.18.0.13", func(n *corev1.Node) { n.Labels[targetgroupbinding.LabelExcludeFromLB] = "" }))
	e.createNode(t, ctx, readyNode("n4", "198.18.0.14", func(n *corev1.Node) { n.Spec.Unschedulable = true }))

	ipType := elbv2api.TargetTypeIP
	ipARN := e.targetGroup(t, ctx, "k8s-ui-uinlb-ip", elbv2types.TargetTypeEnumIp)
	tgb := &elbv2api.TargetGroupBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "k8s-ui-uinlb-ip"},
		Spec: elbv2api.TargetGroupBindingSpec{
			TargetGroupARN: ipARN,
			TargetType:     &ipType,
			ServiceRef:     elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromInt32(80)},
		},
	}
	if err := k.Create(ctx, tgb); err != nil {
		t.Fatal(err)
	}
	gate := targetgroupbinding.GateFor(tgb.Name)

	t.Run("webhook injects the readiness gate through the API server", func(t *testing.T) {
		// The configuration is written by the controller at start and
		// reaches the API server's admission chain shortly after: retry
		// with throwaway pods until one is mutated.
		poll(t, ctx, "a pod with the readiness gate", func() error {
			probe := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ui", GenerateName: "probe-", Labels: map[string]string{"app": "ui"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "ui", Image: "echoserver"}}},
			}
			callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := k.Create(callCtx, probe); err != nil {
				t.Logf("create probe pod: %v", err)
				return err
			}
			defer k.Delete(ctx, probe)
			if !targetgroupbinding.HasGate(probe, gate) {
				return fmt.Errorf("pod %s has readiness gates %v", probe.Name, probe.Spec.ReadinessGates)
			}
			return nil
		})
		other := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "other", Labels: map[string]string{"app": "other"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "echoserver"}}},
		}
		if err := k.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		if len(other.Spec.ReadinessGates) != 0 {
			t.Errorf("a pod no Service of a binding selects got gates %v", other.Spec.ReadinessGates)
		}
	})

	// ui-1 runs on n1 with its containers ready; only the gate holds it
	// back, so its endpoint is not ready.
	serveTCP(t, "198.18.1.3:8080")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "ui-1", Labels: map[string]string{"app": "ui"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "ui", Image: "echoserver"}}},
	}
	if err := k.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if !targetgroupbinding.HasGate(pod, gate) {
		t.Fatalf("pod ui-1 has no gate %s: %v", gate, pod.Spec.ReadinessGates)
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: "198.18.1.3", PodIPs: []corev1.PodIP{{IP: "198.18.1.3"}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady"},
		},
	}
	if err := k.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "ui-nlb-a", Labels: map[string]string{
			discoveryv1.LabelServiceName: "ui-nlb", discoveryv1.LabelManagedBy: "kelb-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: aws.String("http"), Port: aws.Int32(8080), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{endpoint("198.18.1.3", "ui-1", false, false)},
	}
	if err := k.Create(ctx, slice); err != nil {
		t.Fatal(err)
	}

	t.Run("gated pod is registered and its condition turns True once healthy", func(t *testing.T) {
		e.waitTargets(t, ctx, ipARN, []health{{ID: "198.18.1.3", Port: 8080}})
		poll(t, ctx, "condition "+string(gate)+" True", func() error {
			var got corev1.Pod
			if err := k.Get(ctx, client.ObjectKeyFromObject(pod), &got); err != nil {
				return err
			}
			for _, c := range got.Status.Conditions {
				if c.Type == gate {
					if c.Status == corev1.ConditionTrue {
						return nil
					}
					return fmt.Errorf("condition %s: %s %s %q", gate, c.Status, c.Reason, c.Message)
				}
			}
			return fmt.Errorf("pod has no condition %s", gate)
		})
		e.waitTargets(t, ctx, ipARN, []health{{ID: "198.18.1.3", Port: 8080, State: "healthy"}})
	})

	update := func(t *testing.T, eps ...discoveryv1.Endpoint) {
		t.Helper()
		var cur discoveryv1.EndpointSlice
		if err := k.Get(ctx, client.ObjectKeyFromObject(slice), &cur); err != nil {
			t.Fatal(err)
		}
		cur.Endpoints = eps
		if err := k.Update(ctx, &cur); err != nil {
			t.Fatal(err)
		}
	}
	ui1 := endpoint("198.18.1.3", "ui-1", true, false)

	t.Run("scale up and down", func(t *testing.T) {
		update(t, ui1, endpoint("198.18.1.4", "ui-2", true, false), endpoint("198.18.1.5", "ui-3", true, false))
		e.waitTargets(t, ctx, ipARN, []health{{ID: "198.18.1.3", Port: 8080}, {ID: "198.18.1.4", Port: 8080}, {ID: "198.18.1.5", Port: 8080}})
		// ui-2 terminates: deregistered at once, it drains.
		update(t, ui1, endpoint("198.18.1.4", "ui-2", false, true), endpoint("198.18.1.5", "ui-3", true, false))
		e.waitTargets(t, ctx, ipARN, []health{{ID: "198.18.1.3", Port: 8080}, {ID: "198.18.1.4", Port: 8080, State: "draining"}, {ID: "198.18.1.5", Port: 8080}})
		update(t, ui1)
		e.waitTargets(t, ctx, ipARN, []health{{ID: "198.18.1.3", Port: 8080}})
	})

	t.Run("an unchanged binding makes no ELBv2 call", func(t *testing.T) {
		poll(t, ctx, "checkpoint", func() error {
			var got elbv2api.TargetGroupBinding
			if err := k.Get(ctx, client.ObjectKeyFromObject(tgb), &got); err != nil {
				return err
			}
			if got.Annotations[targetgroupbinding.AnnotationCheckpoint] == "" || len(got.Finalizers) == 0 ||
				got.Status.ObservedGeneration == nil {
				return fmt.Errorf("binding: annotations %v finalizers %v status %+v", got.Annotations, got.Finalizers, got.Status)
			}
			return nil
		})
		before := e.api.calls.Load()
		// A Service change that does not change targets.
		var svc corev1.Service
		if err := k.Get(ctx, client.ObjectKey{Namespace: "ui", Name: "ui-nlb"}, &svc); err != nil {
			t.Fatal(err)
		}
		svc.Annotations = map[string]string{"touched": "yes"}
		if err := k.Update(ctx, &svc); err != nil {
			t.Fatal(err)
		}
		// Give the watch time to deliver it; then nothing may have called.
		time.Sleep(2 * time.Second)
		if n := e.api.calls.Load() - before; n != 0 {
			t.Errorf("%d ELBv2 calls for an unchanged binding", n)
		}
	})

	t.Run("a Service of ours gets a binding whose targets follow its endpoints, and releases it", func(t *testing.T) {
		class := service.DefaultLoadBalancerClass
		echo := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "echo", Annotations: map[string]string{
				"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
			}},
			Spec: corev1.ServiceSpec{
				Type:              corev1.ServiceTypeLoadBalancer,
				LoadBalancerClass: &class,
				Selector:          map[string]string{"app": "echo"},
				Ports:             []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			},
		}
		if err := k.Create(ctx, echo); err != nil {
			t.Fatal(err)
		}
		if err := k.Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "echo-a", Labels: map[string]string{
				discoveryv1.LabelServiceName: "echo", discoveryv1.LabelManagedBy: "kelb-test",
			}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: aws.String("http"), Port: aws.Int32(8080), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints:   []discoveryv1.Endpoint{endpoint("198.18.1.20", "echo-1", true, false), endpoint("198.18.1.21", "echo-2", true, false)},
		}); err != nil {
			t.Fatal(err)
		}
		var arn string
		poll(t, ctx, "the Service's binding", func() error {
			var list elbv2api.TargetGroupBindingList
			if err := k.List(ctx, &list, client.InNamespace("ui"), client.MatchingLabels{service.LabelStackName: "echo"}); err != nil {
				return err
			}
			if len(list.Items) != 1 || list.Items[0].Spec.TargetGroupARN == "" {
				return fmt.Errorf("bindings: %d", len(list.Items))
			}
			arn = list.Items[0].Spec.TargetGroupARN
			return nil
		})
		e.waitTargets(t, ctx, arn, []health{{ID: "198.18.1.20", Port: 8080}, {ID: "198.18.1.21", Port: 8080}})

		if err := k.Delete(ctx, echo); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "Service and binding gone", func() error {
			if err := k.Get(ctx, client.ObjectKeyFromObject(echo), &corev1.Service{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("service still there: %v", err)
			}
			var list elbv2api.TargetGroupBindingList
			if err := k.List(ctx, &list, client.InNamespace("ui"), client.MatchingLabels{service.LabelStackName: "echo"}); err != nil {
				return err
			}
			if len(list.Items) != 0 {
				return fmt.Errorf("%d bindings left", len(list.Items))
			}
			return nil
		})
		if _, err := e.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}}); err == nil {
			t.Errorf("target group %s left after the Service was deleted", arn)
		}
	})

	instARN := e.targetGroup(t, ctx, "k8s-ui-uinlb-inst", elbv2types.TargetTypeEnumInstance)
	instType := elbv2api.TargetTypeInstance
	inst := &elbv2api.TargetGroupBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "k8s-ui-uinlb-inst"},
		Spec: elbv2api.TargetGroupBindingSpec{
			TargetGroupARN: instARN,
			TargetType:     &instType,
			ServiceRef:     elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromString("http")},
		},
	}
	t.Run("instance targets follow nodes", func(t *testing.T) {
		var svc corev1.Service
		if err := k.Get(ctx, client.ObjectKey{Namespace: "ui", Name: "ui-nlb"}, &svc); err != nil {
			t.Fatal(err)
		}
		nodePort := svc.Spec.Ports[0].NodePort
		if err := k.Create(ctx, inst); err != nil {
			t.Fatal(err)
		}
		e.waitTargets(t, ctx, instARN, []health{{ID: "198.18.0.11", Port: nodePort}, {ID: "198.18.0.12", Port: nodePort}})

		var n2 corev1.Node
		if err := k.Get(ctx, client.ObjectKey{Name: "n2"}, &n2); err != nil {
			t.Fatal(err)
		}
		n2.Status.Conditions[0].Status = corev1.ConditionFalse
		if err := k.Status().Update(ctx, &n2); err != nil {
			t.Fatal(err)
		}
		e.waitTargets(t, ctx, instARN, []health{{ID: "198.18.0.11", Port: nodePort}})

		var n4 corev1.Node
		if err := k.Get(ctx, client.ObjectKey{Name: "n4"}, &n4); err != nil {
			t.Fatal(err)
		}
		n4.Spec.Unschedulable = false
		if err := k.Update(ctx, &n4); err != nil {
			t.Fatal(err)
		}
		e.waitTargets(t, ctx, instARN, []health{{ID: "198.18.0.11", Port: nodePort}, {ID: "198.18.0.14", Port: nodePort}})
	})

	t.Run("deleting a binding deregisters its targets", func(t *testing.T) {
		if err := k.Delete(ctx, inst); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "binding gone", func() error {
			err := k.Get(ctx, client.ObjectKeyFromObject(inst), &elbv2api.TargetGroupBinding{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
		got, err := e.targets(ctx, instARN)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range got {
			if h.State != string(elbv2types.TargetHealthStateEnumDraining) {
				t.Errorf("target %s:%d is %s after its binding was deleted", h.ID, h.Port, h.State)
			}
		}
	})

	t.Run("a binding by targetGroupName binds the target group of that name", func(t *testing.T) {
		byNameARN := e.targetGroup(t, ctx, "k8s-ui-uinlb-byname", elbv2types.TargetTypeEnumIp)
		byName := &elbv2api.TargetGroupBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "by-name"},
			Spec: elbv2api.TargetGroupBindingSpec{
				TargetGroupName: "k8s-ui-uinlb-byname",
				ServiceRef:      elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromInt32(80)},
			},
		}
		if err := k.Create(ctx, byName); err != nil {
			t.Fatal(err)
		}
		e.waitTargets(t, ctx, byNameARN, []health{{ID: "198.18.1.3", Port: 8080}})
		got := waitReady(t, ctx, k, byName, metav1.ConditionTrue, targetgroupbinding.ReasonSuccessfullyReconciled, "")
		if got.Spec.TargetGroupARN != "" {
			t.Errorf("the controller wrote spec.targetGroupARN %q", got.Spec.TargetGroupARN)
		}
		waitReady(t, ctx, k, tgb, metav1.ConditionTrue, targetgroupbinding.ReasonSuccessfullyReconciled, "")

		if err := k.Delete(ctx, byName); err != nil {
			t.Fatal(err)
		}
		waitGone(t, ctx, k, byName)
		hs, err := e.targets(ctx, byNameARN)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.State != string(elbv2types.TargetHealthStateEnumDraining) {
				t.Errorf("target %s:%d is %s after its binding by name was deleted", h.ID, h.Port, h.State)
			}
		}
	})

	t.Run("bindings are reconciled at once", func(t *testing.T) {
		// Three bindings whose reconciles each wait, in
		// DescribeTargetHealth, until all three are waiting: serialised
		// reconciles would only get there by the rendezvous giving up.
		const n = 3
		var arns []string
		var bindings []*elbv2api.TargetGroupBinding
		ipType, ipv4 := elbv2api.TargetTypeIP, elbv2api.TargetGroupIPAddressTypeIPv4
		for i := range n {
			name := fmt.Sprintf("k8s-ui-concurrent-%d", i)
			tg, err := e.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(name), Protocol: elbv2types.ProtocolEnumTcp,
				Port: aws.Int32(80), VpcId: aws.String("vpc-0ce1b000000000000"), TargetType: elbv2types.TargetTypeEnumIp})
			if err != nil {
				t.Fatal(err)
			}
			arns = append(arns, aws.ToString(tg.TargetGroups[0].TargetGroupArn))
			bindings = append(bindings, &elbv2api.TargetGroupBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: name},
				Spec: elbv2api.TargetGroupBindingSpec{TargetGroupARN: arns[i], TargetType: &ipType, IPAddressType: &ipv4,
					ServiceRef: elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromInt32(80)}},
			})
		}
		meet := newRendezvous(time.Minute, arns...)
		e.api.rendezvous.Store(meet)
		defer e.api.rendezvous.Store(nil)
		for _, b := range bindings {
			if err := k.Create(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range bindings {
			waitReady(t, ctx, k, b, metav1.ConditionTrue, targetgroupbinding.ReasonSuccessfullyReconciled, "")
		}
		if !meet.metTogether() {
			t.Errorf("the reconciles of %d bindings never waited at once: bindings are reconciled one at a time", n)
		}
		for _, b := range bindings {
			if err := k.Delete(ctx, b); err != nil {
				t.Fatal(err)
			}
			waitGone(t, ctx, k, b)
		}
	})

	t.Run("a binding whose targetGroupName names no target group says so and is released", func(t *testing.T) {
		missing := &elbv2api.TargetGroupBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "by-missing-name"},
			Spec: elbv2api.TargetGroupBindingSpec{
				TargetGroupName: "k8s-ui-nosuch",
				ServiceRef:      elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromInt32(80)},
			},
		}
		if err := k.Create(ctx, missing); err != nil {
			t.Fatal(err)
		}
		waitReady(t, ctx, k, missing, metav1.ConditionFalse, targetgroupbinding.ReasonTargetGroupNotFound, `spec.targetGroupName: no target group is named "k8s-ui-nosuch"`)
		if err := k.Delete(ctx, missing); err != nil {
			t.Fatal(err)
		}
		waitGone(t, ctx, k, missing)
	})

	t.Run("a binding with neither targetGroupARN nor targetGroupName is refused", func(t *testing.T) {
		neither := &elbv2api.TargetGroupBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ui", Name: "neither"},
			Spec:       elbv2api.TargetGroupBindingSpec{ServiceRef: elbv2api.ServiceReference{Name: "ui-nlb", Port: intstr.FromInt32(80)}},
		}
		err := k.Create(ctx, neither)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "one of targetGroupARN and targetGroupName is required") {
			t.Errorf("create: %v, want Invalid naming targetGroupARN and targetGroupName", err)
		}
	})

	t.Run("a binding whose target group is gone is released", func(t *testing.T) {
		lbs, err := e.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"k8s-ui-uinlb-ip"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.elb.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: lbs.LoadBalancers[0].LoadBalancerArn}); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "target group deleted", func() error {
			_, err := e.elb.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: &ipARN})
			return err
		})
		if err := k.Delete(ctx, tgb); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "binding gone", func() error {
			err := k.Get(ctx, client.ObjectKeyFromObject(tgb), &elbv2api.TargetGroupBinding{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there: %v", err)
		})
	})
}

// waitReady waits until the binding's Ready condition has status and
// reason, and a message containing message, and returns the binding.
func waitReady(t *testing.T, ctx context.Context, k client.Client, tgb *elbv2api.TargetGroupBinding, status metav1.ConditionStatus, reason, message string) *elbv2api.TargetGroupBinding {
	t.Helper()
	var got elbv2api.TargetGroupBinding
	poll(t, ctx, fmt.Sprintf("%s Ready %s %s", tgb.Name, status, reason), func() error {
		if err := k.Get(ctx, client.ObjectKeyFromObject(tgb), &got); err != nil {
			return err
		}
		c := meta.FindStatusCondition(got.Status.Conditions, elbv2api.ConditionReady)
		if c == nil || c.Status != status || c.Reason != reason || !strings.Contains(c.Message, message) {
			return fmt.Errorf("conditions %+v", got.Status.Conditions)
		}
		return nil
	})
	return &got
}

// waitGone waits until the binding is deleted: its finalizer released.
func waitGone(t *testing.T, ctx context.Context, k client.Client, tgb *elbv2api.TargetGroupBinding) {
	t.Helper()
	poll(t, ctx, tgb.Name+" gone", func() error {
		err := k.Get(ctx, client.ObjectKeyFromObject(tgb), &elbv2api.TargetGroupBinding{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// TestManifestsApply checks that config/default is accepted by a real API
// server, as a server-side dry run: CRDs, RBAC, the webhook configuration
// and the Deployment.
func TestManifestsApply(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not on PATH")
	}
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Config{
		Dir: t.TempDir(), BinDir: bin, Log: t.Logf,
		WithoutControllerManager: true, WithoutScheduler: true,
	})
	if err != nil {
		t.Fatalf("control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// Namespaced objects of a dry run need their namespace to exist.
	run("create", "namespace", "kelb-system")
	out := run("apply", "--dry-run=server", "-k", "../../../config/default")
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/targetgroupbindings.elbv2.k8s.aws",
		"clusterrole.rbac.authorization.k8s.io/kelb-controller",
		"mutatingwebhookconfiguration.admissionregistration.k8s.io/kelb-webhook",
		"deployment.apps/kelb-controller",
		"service/kelb-webhook-service",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply output lacks %s:\n%s", want, out)
		}
	}
}

func ptr[T any](v T) *T { return &v }
