package kubelet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
	"github.com/kelb-io/kelb/internal/devcluster/kubelet/netnstest"
)

// startCluster starts kube-apiserver (and etcd) on 127.0.0.1 and a simulated
// node 198.18.0.11 whose pods serve on 198.18.1.0/24, or skips the test when
// the binaries are missing. It must run inside a test network namespace.
func startCluster(t *testing.T) (client kubernetes.Interface, node NodeSpec, restart func()) {
	t.Helper()
	bin, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no Kubernetes binary cache: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
		t.Skipf("kube-apiserver not built in %s (kelb up builds it)", bin)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Skip("etcd not on PATH (apt-get install etcd-server)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Config{Dir: t.TempDir(), BinDir: bin, WithoutControllerManager: true, WithoutScheduler: true, Log: t.Logf})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	client = kubernetes.NewForConfigOrDie(cp.RESTConfig)
	// No controller-manager: create what its controllers would.
	for _, ns := range []string{"default", corev1.NamespaceNodeLease} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create namespace %s: %v", ns, err)
		}
	}
	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create service account: %v", err)
	}

	nodes, err := Plan(1, []string{"us-west-2a"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		stop func()
		wg   sync.WaitGroup
	)
	start := func() {
		runCtx, cancel := context.WithCancel(context.Background())
		stop = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Run(runCtx, Config{Client: client, Nodes: nodes, HeartbeatInterval: time.Second, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))}); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	start()
	t.Cleanup(func() {
		stop()
		wg.Wait()
	})
	restart = func() {
		stop()
		wg.Wait()
		start()
	}
	return client, nodes[0], restart
}

// testWriter sends log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// poll calls get until cond holds on its result, or fails the test.
func poll[T any](t *testing.T, what string, get func() (T, error), cond func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last T
	var err error
	for time.Now().Before(deadline) {
		last, err = get()
		if err == nil && cond(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within 60s (last error %v, last value %+v)", what, err, last)
	return last
}

func podCondition(p *corev1.Pod, c corev1.PodConditionType) corev1.ConditionStatus {
	if cond := findCondition(p.Status.Conditions, c); cond != nil {
		return cond.Status
	}
	return ""
}

func echoPod(name string, node NodeSpec) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName: node.Name,
			Containers: []corev1.Container{{
				Name:  "echo",
				Image: "registry.k8s.io/echoserver:1.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds:    1,
					FailureThreshold: 1,
				},
			}},
		},
	}
}

func TestNodesAndPodsAgainstAPIServer(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	client, node, restart := startCluster(t)
	ctx := t.Context()
	pods := client.CoreV1().Pods("default")

	t.Run("node registers Ready with a fresh lease", func(t *testing.T) {
		n := poll(t, "node Ready", func() (*corev1.Node, error) {
			return client.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		}, func(n *corev1.Node) bool {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return true
				}
			}
			return false
		})
		if got := n.Labels["topology.kubernetes.io/zone"]; got != "us-west-2a" {
			t.Errorf("zone label = %q", got)
		}
		if n.Spec.PodCIDR != "198.18.1.0/24" || n.Status.NodeInfo.KubeletVersion != "v1.36.3" {
			t.Errorf("podCIDR %q kubeletVersion %q", n.Spec.PodCIDR, n.Status.NodeInfo.KubeletVersion)
		}
		first := poll(t, "lease", func() (time.Time, error) {
			l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return time.Time{}, err
			}
			return l.Spec.RenewTime.Time, nil
		}, func(time.Time) bool { return true })
		poll(t, "lease renewed", func() (time.Time, error) {
			l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node.Name, metav1.GetOptions{})
			if err != nil {
				return time.Time{}, err
			}
			return l.Spec.RenewTime.Time, nil
		}, func(r time.Time) bool { return r.After(first) })
	})

	t.Run("pod runs, gets an IP of its node and serves", func(t *testing.T) {
		if _, err := pods.Create(ctx, echoPod("echo-a", node), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-a", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP != "198.18.1.2" || p.Status.HostIP != "198.18.0.11" {
			t.Errorf("phase %s podIP %s hostIP %s; want Running 198.18.1.2 198.18.0.11", p.Status.Phase, p.Status.PodIP, p.Status.HostIP)
		}
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || !cs[0].Ready || !strings.HasPrefix(cs[0].ContainerID, "kelb://") || cs[0].State.Running == nil {
			t.Errorf("container statuses %+v", cs)
		}
		poll(t, "Started event", func() (*corev1.EventList, error) {
			return client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=echo-a,reason=Started"})
		}, func(l *corev1.EventList) bool { return len(l.Items) > 0 })
		code, body := get(t, clientFrom("198.18.0.12"), "http://198.18.1.2:8080/")
		if code != 200 || !strings.Contains(body, "Hostname: echo-a\n") || !strings.Contains(body, "client_address=198.18.0.12\n") {
			t.Errorf("GET pod: %d\n%s", code, body)
		}
	})

	t.Run("fail annotation makes the pod unready, removing it recovers", func(t *testing.T) {
		annotate := func(v any) {
			t.Helper()
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{FailAnnotation: v}}})
			if _, err := pods.Patch(ctx, "echo-a", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		annotate(FailReadiness)
		poll(t, "pod unready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-a", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionFalse })
		annotate(nil)
		poll(t, "pod ready again", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-a", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
	})

	t.Run("readiness gate holds the pod unready until set", func(t *testing.T) {
		gate := corev1.PodConditionType("target-health.elbv2.k8s.aws/k8s-default-echo-0123456789")
		pod := echoPod("echo-gated", node)
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gate}}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "containers ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-gated", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.ContainersReady) == corev1.ConditionTrue })
		if got := podCondition(p, corev1.PodReady); got != corev1.ConditionFalse {
			t.Errorf("Ready = %q with the gate unset, want False", got)
		}
		if p.Status.PodIP != "198.18.1.3" {
			t.Errorf("second pod IP = %s, want 198.18.1.3", p.Status.PodIP)
		}
		patch, _ := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]any{{"type": gate, "status": "True", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}})
		if _, err := pods.Patch(ctx, "echo-gated", types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
			t.Fatal(err)
		}
		p = poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-gated", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		if podCondition(p, gate) != corev1.ConditionTrue {
			t.Errorf("the gate's condition was not kept: %+v", p.Status.Conditions)
		}
	})

	t.Run("hostNetwork pod serves on the node address", func(t *testing.T) {
		pod := echoPod("echo-host", node)
		pod.Spec.HostNetwork = true
		pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 9091}}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-host", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		if p.Status.PodIP != node.IP.String() {
			t.Errorf("hostNetwork pod IP = %s, want the node's %s", p.Status.PodIP, node.IP)
		}
		if code, body := get(t, clientFrom("198.18.0.12"), "http://"+node.IP.String()+":9091/"); code != 200 || !strings.Contains(body, "Hostname: echo-host\n") {
			t.Errorf("GET hostNetwork pod: %d\n%s", code, body)
		}
		if err := pods.Delete(ctx, "echo-host", *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("echo-basic pod waits for its Secret, then answers as the image", func(t *testing.T) {
		certPath, keyPath, files, pool := selfSignedCert(t, t.TempDir(), "abc.example.com")
		fieldEnv := func(name, path string) corev1.EnvVar {
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "tls-backend-x", Namespace: "default"},
			Spec: corev1.PodSpec{
				NodeName: node.Name,
				Volumes: []corev1.Volume{{Name: "secret-volume", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
					SecretName: "tls-checks-certificate",
					Items:      []corev1.KeyToPath{{Key: "tls.crt", Path: "crt"}, {Key: "tls.key", Path: "key"}},
				}}}},
				Containers: []corev1.Container{{
					Name:         "tls-backend",
					Image:        "registry.k8s.io/gateway-api/echo-basic:v1.5.1",
					VolumeMounts: []corev1.VolumeMount{{Name: "secret-volume", MountPath: "/etc/secret-volume"}},
					Env: []corev1.EnvVar{
						fieldEnv("POD_NAME", "metadata.name"), fieldEnv("NAMESPACE", "metadata.namespace"),
						{Name: "TLS_SERVER_CERT", Value: "/etc/secret-volume/crt"},
						{Name: "TLS_SERVER_PRIVKEY", Value: "/etc/secret-volume/key"},
					},
				}},
			},
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "a Warning event naming the missing Secret", func() (*corev1.EventList, error) {
			return client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=tls-backend-x,type=Warning"})
		}, func(l *corev1.EventList) bool {
			for _, e := range l.Items {
				if strings.Contains(e.Message, `secret "tls-checks-certificate"`) {
					return true
				}
			}
			return false
		})
		if p, err := pods.Get(ctx, "tls-backend-x", metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodPending {
			t.Fatalf("before the Secret exists: phase %v, err %v; want Pending", p.Status.Phase, err)
		}
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "tls-checks-certificate", Namespace: "default"},
			Type:       corev1.SecretTypeTLS,
			Data:       map[string][]byte{"tls.crt": files[certPath], "tls.key": files[keyPath]},
		}
		if _, err := client.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "tls-backend-x", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "abc.example.com"}}}
		for _, url := range []string{"http://" + p.Status.PodIP + ":3000/x", "https://" + p.Status.PodIP + ":8443/x"} {
			resp, err := c.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			var a echoBasicAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || a.Pod != "tls-backend-x" || a.Namespace != "default" || a.Path != "/x" || (strings.HasPrefix(url, "https") != (a.TLS != nil)) {
				t.Errorf("GET %s: %+v, %v", url, a, err)
			}
		}
		if err := pods.Delete(ctx, "tls-backend-x", *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("liveness failure restarts the container", func(t *testing.T) {
		pod := echoPod("echo-live", node)
		pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live", Port: intstr.FromInt32(8080)}},
			PeriodSeconds:    1,
			FailureThreshold: 2,
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-live", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		patch := []byte(`{"metadata":{"annotations":{"` + FailAnnotation + `":"` + FailReadiness + `"}}}`)
		if _, err := pods.Patch(ctx, "echo-live", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "restart counted", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-live", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool {
				return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
			})
		if p.Status.ContainerStatuses[0].LastTerminationState.Terminated == nil {
			t.Errorf("no last termination state after a restart: %+v", p.Status.ContainerStatuses[0])
		}
		if err := pods.Delete(ctx, "echo-live", *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("restarting the nodes keeps pod IPs", func(t *testing.T) {
		before, err := pods.Get(ctx, "echo-gated", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Free the lowest address first: a kubelet that forgot the IPs in
		// use would hand it to the gated pod after the restart.
		if err := pods.Delete(ctx, "echo-a", *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
		poll(t, "echo-a gone", func() (bool, error) {
			_, err := pods.Get(ctx, "echo-a", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}, func(gone bool) bool { return gone })
		restart()
		// A pod created after the restart must not take an address in use.
		if _, err := pods.Create(ctx, echoPod("later", node), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "new pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "later", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		if p.Status.PodIP == before.Status.PodIP {
			t.Errorf("pod created after the restart got %s, already in use", p.Status.PodIP)
		}
		after, err := pods.Get(ctx, "echo-gated", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.Status.PodIP != before.Status.PodIP {
			t.Errorf("pod IP changed across the restart: %s -> %s", before.Status.PodIP, after.Status.PodIP)
		}
		poll(t, "old pod serves again", func() (int, error) {
			resp, err := clientFrom("198.18.0.12").Get("http://" + after.Status.PodIP + ":8080/")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}, func(code int) bool { return code == 200 })
	})

	t.Run("deletion honours preStop and the grace period", func(t *testing.T) {
		pod := echoPod("echo-graceful", node)
		grace := int64(6)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		pod.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "sleep 2"}}}}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := poll(t, "pod Ready", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-graceful", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionTrue })
		url := "http://" + p.Status.PodIP + ":8080"

		inflight := make(chan error, 1)
		go func() {
			resp, err := clientFrom("198.18.0.12").Get(url + "/?delay=4s")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			inflight <- err
		}()
		time.Sleep(300 * time.Millisecond) // let the request reach the pod
		if err := pods.Delete(ctx, "echo-graceful", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "Ready False while terminating", func() (*corev1.Pod, error) { return pods.Get(ctx, "echo-graceful", metav1.GetOptions{}) },
			func(p *corev1.Pod) bool { return podCondition(p, corev1.PodReady) == corev1.ConditionFalse })
		// During preStop the pod still accepts new connections.
		if code, _ := get(t, clientFrom("198.18.0.12"), url+"/"); code != 200 {
			t.Errorf("GET during preStop: %d", code)
		}
		poll(t, "new connections refused after preStop", func() (error, error) {
			c, err := net.Dial("tcp", p.Status.PodIP+":8080")
			if err == nil {
				c.Close()
			}
			return err, nil
		}, func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) })
		if err := <-inflight; err != nil {
			t.Errorf("in-flight request during deletion: %v", err)
		}
		poll(t, "pod deleted", func() (bool, error) {
			_, err := pods.Get(ctx, "echo-graceful", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		}, func(gone bool) bool { return gone })
	})
}
