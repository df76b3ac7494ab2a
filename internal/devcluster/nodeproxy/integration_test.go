package nodeproxy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// startEnvironment starts etcd, kube-apiserver and kube-controller-manager
// (for EndpointSlices) on 127.0.0.1, then two simulated nodes with their
// node proxies, as kelb nodes runs them. It skips when the binaries are
// missing and must run inside a test network namespace.
func startEnvironment(t *testing.T, nodes []kubelet.NodeSpec) kubernetes.Interface {
	t.Helper()
	bin, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no Kubernetes binary cache: %v", err)
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Skipf("%s not built in %s (kelb up builds it)", b, bin)
		}
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd not on PATH (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Config{Dir: t.TempDir(), BinDir: bin, WithoutScheduler: true, Log: t.Logf})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig)
	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service account: %v", err)
	}

	log := slog.New(slog.NewTextHandler(logWriter{t}, nil))
	proxyNodes := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		proxyNodes = append(proxyNodes, Node{Name: n.Name, IP: n.IP})
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := kubelet.Run(runCtx, kubelet.Config{Client: client, Nodes: nodes, HeartbeatInterval: time.Second, Log: log}); err != nil {
			t.Errorf("kubelet: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := Run(runCtx, Config{Client: client, Nodes: proxyNodes, Options: Options{Log: log}}); err != nil {
			t.Errorf("node proxy: %v", err)
		}
	}()
	t.Cleanup(func() {
		stop()
		wg.Wait()
	})
	return client
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls f until it returns nil, or fails the test with its last
// error.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func TestNodePortsAgainstAPIServer(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	nodes, err := kubelet.Plan(2, []string{"us-west-2a", "us-west-2b"})
	if err != nil {
		t.Fatal(err)
	}
	client := startEnvironment(t, nodes)
	ctx := t.Context()

	// One pod, on the second node.
	_, err = client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   nodes[1].Name,
			Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/echoserver:1.10", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newService := func(name string, policy corev1.ServiceExternalTrafficPolicy) *corev1.Service {
		svc, err := client.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{
				Type:                  corev1.ServiceTypeLoadBalancer,
				Selector:              map[string]string{"app": "web"},
				ExternalTrafficPolicy: policy,
				Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	cluster := newService("web-cluster", corev1.ServiceExternalTrafficPolicyCluster)
	local := newService("web-local", corev1.ServiceExternalTrafficPolicyLocal)
	if local.Spec.HealthCheckNodePort == 0 {
		t.Fatal("the apiserver allocated no healthCheckNodePort")
	}
	const client1 = "198.18.0.99"
	url := func(n kubelet.NodeSpec, port int32) string { return fmt.Sprintf("http://%s:%d/", n.IP, port) }
	expect := func(u, hostname, clientAddr string) func() error {
		return func() error {
			code, body, err := fetch(client1, u)
			if err != nil {
				return err
			}
			if code != 200 || !strings.Contains(body, "Hostname: "+hostname+"\n") || !strings.Contains(body, "client_address="+clientAddr+"\n") {
				return fmt.Errorf("GET %s: %d\n%s", u, code, body)
			}
			return nil
		}
	}

	t.Run("Cluster: any node forwards, from its own address", func(t *testing.T) {
		port := cluster.Spec.Ports[0].NodePort
		eventually(t, "via node 1", expect(url(nodes[0], port), "web", nodes[0].IP.String()))
		eventually(t, "via node 2", expect(url(nodes[1], port), "web", nodes[1].IP.String()))
		eventually(t, "via the cluster IP", func() error {
			code, body, err := fetch(client1, "http://"+cluster.Spec.ClusterIP+"/")
			if err != nil || code != 200 || !strings.Contains(body, "Hostname: web\n") {
				return fmt.Errorf("GET cluster IP: %d %v\n%s", code, err, body)
			}
			return nil
		})
	})

	t.Run("Local: only the pod's node forwards, keeping the client address", func(t *testing.T) {
		port := local.Spec.Ports[0].NodePort
		eventually(t, "via node 2", expect(url(nodes[1], port), "web", client1))
		if code, body, err := fetch(client1, url(nodes[0], port)); err == nil {
			t.Errorf("node 1 without the pod answered %d:\n%s", code, body)
		}
	})

	t.Run("healthCheckNodePort", func(t *testing.T) {
		hc := local.Spec.HealthCheckNodePort
		for _, tt := range []struct {
			node kubelet.NodeSpec
			code int
			want string
		}{
			{nodes[0], 503, `"localEndpoints":0`},
			{nodes[1], 200, `"localEndpoints":1`},
		} {
			eventually(t, "health of "+tt.node.Name, func() error {
				code, body, err := fetch(client1, fmt.Sprintf("http://%s:%d/healthz", tt.node.IP, hc))
				if err != nil {
					return err
				}
				if code != tt.code || !strings.Contains(body, tt.want) || !strings.Contains(body, `"name":"web-local"`) {
					return fmt.Errorf("status %d body %s; want %d and %s", code, body, tt.code, tt.want)
				}
				return nil
			})
		}
	})
}
