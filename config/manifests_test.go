package config_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"

	"github.com/kelb-io/kelb/internal/devcluster/controlplane"
	"github.com/kelb-io/kelb/internal/devcluster/k8sbin"
)

// kubectlPath is kubectl on PATH, else the one kelb up builds with the
// Kubernetes binaries.
func kubectlPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	if dir, err := k8sbin.BinDir(k8sbin.Options{}); err == nil {
		if p := filepath.Join(dir, "kubectl"); exists(p) {
			return p
		}
	}
	t.Skip("kubectl neither on PATH nor built in the Kubernetes binary cache (kelb up --build-only)")
	return ""
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// kustomize builds a kustomization directory with kubectl's kustomize and
// returns its objects by kind/name.
func kustomize(t *testing.T, kubectl, dir string) map[string][]byte {
	t.Helper()
	out, err := exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, exitStderr(err))
	}
	objs := map[string][]byte{}
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(string(out)), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break
		}
		var meta struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		objs[meta.Kind+"/"+meta.Metadata.Name] = raw
	}
	return objs
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// serverDaemonSet returns the kelb-server DaemonSet of objs.
func serverDaemonSet(t *testing.T, objs map[string][]byte) *appsv1.DaemonSet {
	t.Helper()
	raw, ok := objs["DaemonSet/kelb-server"]
	if !ok {
		t.Fatalf("no DaemonSet kelb-server among %v", keys(objs))
	}
	var ds appsv1.DaemonSet
	if err := json.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	return &ds
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestServerManifests checks what config/server puts on a node: kelb server
// in the node's network namespace with the capabilities the kernel plane,
// BGP and ARP need, on the labelled nodes, with the fleet's flags; and that
// config/fleet adds the controller pointed at the server's Service.
func TestServerManifests(t *testing.T) {
	kubectl := kubectlPath(t)
	server := kustomize(t, kubectl, "server")
	ds := serverDaemonSet(t, server)
	pod := ds.Spec.Template.Spec
	if !pod.HostNetwork || pod.NodeSelector["kelb.io/load-balancer"] != "true" {
		t.Errorf("hostNetwork %v, node selector %v: want the node's network on kelb.io/load-balancer=true nodes", pod.HostNetwork, pod.NodeSelector)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	for _, want := range []string{"server", "--store=etcd", "--announce=bgp", "--snat-source=node",
		"--node-name=$(KELB_NODE_NAME)", "--node-zones=$(KELB_NODE_ZONE)", "--flags-file=/etc/kelb/server/flags",
		"--credentials-file=/etc/kelb/credentials/credentials", "--etcd-cert=/etc/kelb/etcd/tls.crt"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["KELB_NODE_NAME"] != "spec.nodeName" || env["KELB_NODE_ZONE"] != "metadata.labels['topology.kubernetes.io/zone']" {
		t.Errorf("env from the downward API %v", env)
	}
	caps := c.SecurityContext.Capabilities
	for _, want := range []corev1.Capability{"NET_ADMIN", "NET_RAW"} {
		if !slices.Contains(caps.Add, want) {
			t.Errorf("capabilities %v lack %s", caps.Add, want)
		}
	}
	if !slices.Contains(caps.Drop, "ALL") {
		t.Errorf("capabilities drop %v, want ALL", caps.Drop)
	}
	// The flags ConfigMap is generated (named for its content) and mounted.
	var flagsCM string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			flagsCM = v.ConfigMap.Name
		}
	}
	raw, ok := server["ConfigMap/"+flagsCM]
	if !ok || !strings.HasPrefix(flagsCM, "kelb-server-") {
		t.Fatalf("the flags volume names ConfigMap %q, not one of %v", flagsCM, keys(server))
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["flags"], "--bgp-peer=") || !strings.Contains(cm.Data["flags"], "--zone=") {
		t.Errorf("ConfigMap %s flags lack zones or BGP peers:\n%s", flagsCM, cm.Data["flags"])
	}
	if _, ok := server["Service/kelb-server"]; !ok {
		t.Errorf("no Service kelb-server among %v", keys(server))
	}

	fleet := kustomize(t, kubectl, "fleet")
	var ctrl appsv1.Deployment
	if err := json.Unmarshal(fleet["Deployment/kelb-controller"], &ctrl); err != nil {
		t.Fatalf("config/fleet's controller: %v", err)
	}
	cenv := map[string]corev1.EnvVar{}
	for _, e := range ctrl.Spec.Template.Spec.Containers[0].Env {
		cenv[e.Name] = e
	}
	if got := cenv["AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"].Value; got != "http://kelb-server.kelb-system.svc:9400" {
		t.Errorf("controller endpoint %q, want the kelb-server Service", got)
	}
	if ref := cenv["AWS_SECRET_ACCESS_KEY"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "kelb-credentials" {
		t.Errorf("controller secret key from %+v, want the Secret kelb-credentials", ref)
	}
	serverDaemonSet(t, fleet)
}

// TestServerManifestsApply: a real kube-apiserver accepts config/server and
// config/fleet (server-side dry run, then for real), and the node's zone
// reaches the server's --node-zones: a pod of the DaemonSet bound to a node
// gets the node's topology.kubernetes.io/zone label, which the env var
// KELB_NODE_ZONE reads.
func TestServerManifestsApply(t *testing.T) {
	kubectl := kubectlPath(t)
	bin, err := k8sbin.BinDir(k8sbin.Options{})
	if err != nil {
		t.Skipf("no Kubernetes binary cache: %v", err)
	}
	if !exists(filepath.Join(bin, "kube-apiserver")) {
		t.Skipf("kube-apiserver not built in %s (kelb up builds it)", bin)
	}
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
		out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", cp.KubeconfigPath}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("create", "namespace", "kelb-system")
	for dir, want := range map[string][]string{
		"server": {"daemonset.apps/kelb-server", "service/kelb-server", "serviceaccount/kelb-server", "configmap/kelb-server-"},
		"fleet": {"daemonset.apps/kelb-server", "service/kelb-server", "deployment.apps/kelb-controller",
			"customresourcedefinition.apiextensions.k8s.io/targetgroupbindings.elbv2.k8s.aws", "mutatingwebhookconfiguration.admissionregistration.k8s.io/kelb-webhook"},
	} {
		out := run("apply", "--dry-run=server", "-k", dir)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("kubectl apply --dry-run=server -k config/%s lacks %s:\n%s", dir, w, out)
			}
		}
	}
	run("apply", "-k", "fleet")

	k, err := kubernetes.NewForConfig(cp.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "lb-1", Labels: map[string]string{
		"kelb.io/load-balancer": "true", "topology.kubernetes.io/zone": "us-west-2b"}}}
	if _, err := k.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ds, err := k.AppsV1().DaemonSets("kelb-system").Get(ctx, "kelb-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The pod the DaemonSet controller would make, bound as the scheduler
	// binds it.
	pod := &corev1.Pod{ObjectMeta: ds.Spec.Template.ObjectMeta, Spec: ds.Spec.Template.Spec}
	pod.Name, pod.Namespace = "kelb-server-lb-1", "kelb-system"
	if _, err := k.CoreV1().Pods("kelb-system").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a pod of the DaemonSet: %v", err)
	}
	if err := k.CoreV1().Pods("kelb-system").Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name},
		Target: corev1.ObjectReference{Kind: "Node", Name: node.Name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind the pod: %v", err)
	}
	got, err := k.CoreV1().Pods("kelb-system").Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z := got.Labels["topology.kubernetes.io/zone"]; z != "us-west-2b" || got.Spec.NodeName != node.Name {
		t.Errorf("bound pod: node %q, zone label %q; want %s and its zone us-west-2b (labels %v)", got.Spec.NodeName, z, node.Name, got.Labels)
	}
}
