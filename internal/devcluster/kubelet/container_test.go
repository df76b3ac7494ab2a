package kubelet

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// memObjects holds Secrets and ConfigMaps in memory, answering NotFound
// for the others as the apiserver does.
type memObjects struct {
	secrets, configMaps map[string]map[string][]byte // by namespace/name
}

func (m memObjects) secret(_ context.Context, ns, name string) (map[string][]byte, error) {
	if d, ok := m.secrets[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (m memObjects) configMap(_ context.Context, ns, name string) (map[string][]byte, error) {
	if d, ok := m.configMaps[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func TestPodContainers(t *testing.T) {
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "tls-backend-1", Namespace: "infra", Labels: map[string]string{"app": "tls-backend"}},
		Spec: corev1.PodSpec{
			NodeName: "ip-198-18-0-11.us-west-2.compute.internal",
			Volumes: []corev1.Volume{
				{Name: "secret-volume", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls-checks-certificate",
					Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "crt"}, {Key: "tls.key", Path: "key"}}}}},
				{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
				{Name: "maybe", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: &yes}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			Containers: []corev1.Container{{
				Name:  "tls-backend",
				Image: "registry.k8s.io/gateway-api/echo-basic:v1.5.1",
				VolumeMounts: []corev1.VolumeMount{
					{Name: "secret-volume", MountPath: "/etc/secret-volume"},
					{Name: "conf", MountPath: "/root/Corefile", SubPath: "Corefile"},
					{Name: "scratch", MountPath: "/tmp"},
				},
				EnvFrom: []corev1.EnvFromSource{{Prefix: "CONF_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}},
				Env: []corev1.EnvVar{
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
					{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "GREETING", Value: "$(POD_NAME) at $(POD_IP), $$(POD_NAME) $(UNKNOWN)"},
					{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "tls-checks-certificate"}, Key: "token"}}},
					{Name: "OPTIONAL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Key: "x", Optional: &yes}}},
					{Name: "TLS_SERVER_CERT", Value: "/etc/secret-volume/crt"},
				},
				Ports: []corev1.ContainerPort{{ContainerPort: 9090}},
			}},
		},
	}
	src := memObjects{
		secrets:    map[string]map[string][]byte{"infra/tls-checks-certificate": {"tls.crt": []byte("CERT"), "tls.key": []byte("KEY"), "token": []byte("s3cret")}},
		configMaps: map[string]map[string][]byte{"infra/conf": {"Corefile": []byte(".:53 {}"), "mode": []byte("x")}},
	}
	info := podInfo{Name: pod.Name, Namespace: pod.Namespace, IP: netip.MustParseAddr("198.18.1.5"), HostIP: netip.MustParseAddr("198.18.0.11")}
	got, err := podContainers(context.Background(), pod, info, src)
	if err != nil {
		t.Fatal(err)
	}
	want := []container{{
		Pod:   info,
		Name:  "tls-backend",
		Image: "registry.k8s.io/gateway-api/echo-basic:v1.5.1",
		Env: map[string]string{
			"CONF_Corefile": ".:53 {}", "CONF_mode": "x",
			"POD_NAME": "tls-backend-1", "NAMESPACE": "infra", "APP": "tls-backend", "POD_IP": "198.18.1.5",
			"GREETING": "tls-backend-1 at 198.18.1.5, $(POD_NAME) $(UNKNOWN)",
			"TOKEN":    "s3cret", "TLS_SERVER_CERT": "/etc/secret-volume/crt",
		},
		Files: map[string][]byte{"/etc/secret-volume/crt": []byte("CERT"), "/etc/secret-volume/key": []byte("KEY"), "/root/Corefile": []byte(".:53 {}")},
		Ports: []portSpec{{9090, corev1.ProtocolTCP}},
	}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("podContainers (-want +got):\n%s", diff)
	}

	// Without the Secret the container cannot start, and says which.
	delete(src.secrets, "infra/tls-checks-certificate")
	_, err = podContainers(context.Background(), pod, info, src)
	if err == nil || !apierrors.IsNotFound(err) {
		t.Errorf("without the secret: err = %v, want a NotFound naming it", err)
	}
}

func TestBehaviourOf(t *testing.T) {
	for image, want := range map[string]string{
		"registry.k8s.io/gateway-api/echo-basic:v1.5.1":              "registry.k8s.io/gateway-api/echo-basic",
		"gcr.io/k8s-staging-gateway-api/echo-basic:v20240412-v1.0.0": "gcr.io/k8s-staging-gateway-api/echo-basic",
		"registry.k8s.io/gateway-api/echo-basic@sha256:0123":         "registry.k8s.io/gateway-api/echo-basic",
		"localhost:5000/echo-basic:v1":                               "localhost:5000/echo-basic",
		"localhost:5000/echo-basic":                                  "localhost:5000/echo-basic",
		"nginx":                                                      "nginx",
	} {
		if got := imageRepository(image); got != want {
			t.Errorf("imageRepository(%q) = %q, want %q", image, got, want)
		}
	}
	// An echo-basic pod listens on the image's ports, not the declared ones.
	eps, err := containerEndpoints([]container{{Image: "registry.k8s.io/gateway-api/echo-basic:v1.5.1", Ports: []portSpec{{8080, corev1.ProtocolTCP}}, Env: map[string]string{}}})
	if err != nil {
		t.Fatal(err)
	}
	var ports []int32
	for _, ep := range eps {
		ports = append(ports, ep.Port)
	}
	if diff := cmp.Diff([]int32{3000, 3001}, ports); diff != "" {
		t.Errorf("echo-basic ports (-want +got):\n%s", diff)
	}
	// Any other image answers like the echoserver on its declared ports.
	eps, err = containerEndpoints([]container{{Image: "nginx:1.27", Ports: []portSpec{{80, corev1.ProtocolTCP}, {53, corev1.ProtocolUDP}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Kind != kindEchoserver || eps[1].Datagram == nil {
		t.Errorf("nginx endpoints = %+v, want an echoserver TCP port and a UDP echo", eps)
	}
	// An image that cannot start says why.
	_, err = containerEndpoints([]container{{Name: "b", Image: "registry.k8s.io/gateway-api/echo-basic:v1.5.1", Env: map[string]string{"HTTP_PORT": "x"}}})
	if err == nil {
		t.Error("HTTP_PORT=x: no error")
	}
}
