package controlplane

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

// binDir returns the cached Kubernetes binaries or skips the test.
func binDir(t *testing.T) string {
	t.Helper()
	dir, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no cache directory: %v", err)
	}
	if m := k8sbin.Missing(dir); len(m) > 0 {
		t.Skipf("Kubernetes binaries %v not built in %s (kelb up builds them)", m, dir)
	}
	if _, err := defaultEtcd(); err != nil {
		t.Skipf("no etcd: %v", err)
	}
	return dir
}

func TestStart(t *testing.T) {
	bin := binDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Config{Dir: t.TempDir(), BinDir: bin, Log: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
		for _, p := range cp.Processes {
			if !p.Exited() {
				t.Errorf("%s (pid %d) still running after Stop", p.Name, p.PID)
			}
		}
	})

	client := kubernetes.NewForConfigOrDie(cp.RESTConfig)
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if v.GitVersion != k8sbin.DefaultVersion {
		t.Errorf("server version = %q, want %q", v.GitVersion, k8sbin.DefaultVersion)
	}

	// The controller-manager turns a Deployment into a ReplicaSet and pods;
	// only the real one does.
	ns := "default"
	replicas := int32(2)
	labels := map[string]string{"app": "echo"}
	_, err = client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "echoserver"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	for {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err == nil && len(pods.Items) == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pods of the deployment never appeared: %v (last error %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// RBAC is on: a user outside system:masters is forbidden.
	path, err := cp.IssueKubeconfig("nobody.kubeconfig", "nobody")
	if err != nil {
		t.Fatalf("IssueKubeconfig: %v", err)
	}
	kubectl := exec.CommandContext(ctx, bin+"/kubectl", "--kubeconfig", path, "get", "pods")
	out, err := kubectl.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Forbidden") {
		t.Errorf("kubectl as an unprivileged user: err=%v output=%s, want Forbidden", err, out)
	}
	kubectl = exec.CommandContext(ctx, bin+"/kubectl", "--kubeconfig", cp.KubeconfigPath, "get", "deploy", "echo", "-o", "name")
	out, err = kubectl.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "deployment.apps/echo" {
		t.Errorf("kubectl as admin: err=%v output=%s", err, out)
	}
	if _, err := os.Stat(cp.CAKeyPath); err != nil {
		t.Errorf("CA key: %v", err)
	}
}
