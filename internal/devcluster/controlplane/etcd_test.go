package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

// TestAPIServerOnBuiltEtcd runs kube-apiserver on the etcd kelb up builds
// (k8sbin.DefaultEtcdVersion) and stores and reads an object through it.
func TestAPIServerOnBuiltEtcd(t *testing.T) {
	bin, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no cache directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
		t.Skipf("kube-apiserver not built in %s (kelb up builds it)", bin)
	}
	etcd, err := k8sbin.EtcdPath(k8sbin.Options{})
	if err != nil {
		t.Skip(err)
	}
	if _, err := os.Stat(etcd); err != nil {
		t.Skipf("etcd %s not built (kelb up --build-only builds it)", k8sbin.DefaultEtcdVersion)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Config{Dir: t.TempDir(), BinDir: bin, EtcdPath: etcd,
		WithoutControllerManager: true, WithoutScheduler: true, Log: t.Logf})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	client := kubernetes.NewForConfigOrDie(cp.RESTConfig)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kelb-etcd"}, Data: map[string]string{"etcd": k8sbin.DefaultEtcdVersion}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ConfigMap: %v", err)
	}
	got, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kelb-etcd", metav1.GetOptions{})
	if err != nil || got.Data["etcd"] != k8sbin.DefaultEtcdVersion {
		t.Fatalf("get ConfigMap = %v, %v", got.Data, err)
	}
}
