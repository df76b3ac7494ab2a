package service

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testOptions = BuildOptions{
	ClusterName: "kelb",
	DefaultTags: map[string]string{"owner": "platform", "Environment": "default"},
}

// loadService reads a Service manifest and fills in what the API server
// would on creation: protocols, target ports, node ports and the health
// check node port.
func loadService(t *testing.T, path string) *corev1.Service {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict(raw, &svc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	allocate(&svc)
	return &svc
}

func allocate(svc *corev1.Service) {
	nodePorts := svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort
	byNumber := map[int32]int32{}
	next := int32(30080)
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
		if nodePorts && p.NodePort == 0 {
			// The API server gives a TCP and a UDP port of the same number
			// the same node port.
			if np, ok := byNumber[p.Port]; ok {
				p.NodePort = np
			} else {
				p.NodePort = next
				next++
			}
			byNumber[p.Port] = p.NodePort
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = 32456
	}
}

func TestBuildGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no test cases in testdata")
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			svc := loadService(t, path)
			st, err := Build(svc, testOptions)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(path, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("stack differs from %s (-want +got):\n%s", golden, diff)
			}
			// Building twice gives the same stack.
			again, err := Build(svc, testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st, again); diff != "" {
				t.Errorf("Build is not deterministic:\n%s", diff)
			}
		})
	}
}

// The generated names follow the AWS Load Balancer Controller: the seeds
// find the load balancer by its "k8s-ui-uinlb" prefix.
func TestGeneratedNames(t *testing.T) {
	tests := []struct {
		namespace, name string
		uid             string
		wantPrefix      string
	}{
		{"ui", "ui-nlb", "", "k8s-ui-uinlb-"},
		{"game-2048", "service-2048", "x", "k8s-game2048-service2-"},
		{"a-very-long-namespace", "a.very.long.service.name", "y", "k8s-averylon-averylon-"},
	}
	for _, tt := range tests {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: tt.namespace, Name: tt.name, UID: types.UID(tt.uid)},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30000, Protocol: corev1.ProtocolTCP}}},
		}
		st, err := Build(svc, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{st.LoadBalancer.Name, st.TargetGroups[0].Name, st.TargetGroupBindings[0].Name} {
			if !strings.HasPrefix(name, tt.wantPrefix) || len(name) != len(tt.wantPrefix)+10 || len(name) > 32 {
				t.Errorf("name %q: want %q and 10 hex digits, at most 32 characters", name, tt.wantPrefix)
			}
		}
	}
}

// The load balancer name depends on the scheme, as in the AWS controller, but
// a target group keeps its name across health check changes, which kelb
// server modifies in place.
func TestNameStability(t *testing.T) {
	base := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", UID: "1", Annotations: map[string]string{
			AnnotationLoadBalancerType: "external", AnnotationTargetType: "ip",
		}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP}}},
	}
	build := func(extra map[string]string) *Stack {
		t.Helper()
		svc := base.DeepCopy()
		for k, v := range extra {
			svc.Annotations[k] = v
		}
		st, err := Build(svc, testOptions)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := build(nil)
	b := build(map[string]string{AnnotationHCInterval: "1", AnnotationHCProtocol: "HTTP", AnnotationProxyProtocol: "*"})
	if a.LoadBalancer.Name != b.LoadBalancer.Name || a.TargetGroups[0].Name != b.TargetGroups[0].Name {
		t.Errorf("health check change renamed resources: %s/%s -> %s/%s", a.LoadBalancer.Name, a.TargetGroups[0].Name, b.LoadBalancer.Name, b.TargetGroups[0].Name)
	}
	c := build(map[string]string{AnnotationScheme: "internet-facing"})
	if a.LoadBalancer.Name == c.LoadBalancer.Name {
		t.Errorf("scheme change kept load balancer name %s", a.LoadBalancer.Name)
	}
	d := build(map[string]string{AnnotationTargetType: "instance"})
	if len(d.TargetGroups) == 1 && a.TargetGroups[0].Name == d.TargetGroups[0].Name {
		t.Errorf("target type change kept target group name %s", a.TargetGroups[0].Name)
	}
}

func TestBuildMalformedAnnotations(t *testing.T) {
	tests := []struct {
		key, value string
		// ip builds the Service in ip mode rather than instance mode.
		ip bool
	}{
		{key: AnnotationTargetType, value: "pod"},
		{key: AnnotationTargetType, value: "IP"},
		{key: AnnotationScheme, value: "public"},
		{key: AnnotationInternal, value: "yes please"},
		{key: AnnotationName, value: "this-name-is-far-too-long-for-elbv2-names"},
		{key: AnnotationName, value: "under_score"},
		{key: AnnotationName, value: "-leading"},
		{key: AnnotationName, value: "internal-lb"},
		{key: AnnotationIPAddressType, value: "ipv6"},
		{key: AnnotationProxyProtocol, value: "true"},
		{key: AnnotationProxyProtocol, value: "v2"},
		{key: AnnotationTargetGroupAttrs, value: "deregistration_delay.timeout_seconds"},
		{key: AnnotationTargetGroupAttrs, value: "a=1,,b=2"},
		{key: AnnotationTargetGroupAttrs, value: "a=1,a=2"},
		{key: AnnotationTargetGroupAttrs, value: "proxy_protocol_v2.enabled=maybe"},
		{key: AnnotationTargetGroupAttrs, value: "preserve_client_ip.enabled=2"},
		{key: AnnotationTargetGroupAttrs + ".TCP-82", value: "a=1"},
		{key: AnnotationTargetGroupAttrs + ".UDP-80", value: "a=1"},
		{key: AnnotationTargetGroupAttrs + ".TCP-80", value: "=1"},
		{key: AnnotationAttributes, value: "load_balancing.cross_zone.enabled"},
		{key: AnnotationCrossZone, value: "on"},
		{key: AnnotationListenerAttrs + ".TCP-8080", value: "tcp.idle_timeout.seconds=400"},
		{key: AnnotationListenerAttrs + ".tcp-80", value: "tcp.idle_timeout.seconds=400"},
		{key: AnnotationListenerAttrs + ".TCP-80", value: "tcp.idle_timeout.seconds"},
		{key: AnnotationAdditionalTags, value: "Team"},
		{key: AnnotationAdditionalTags, value: "Team=a,"},
		{key: AnnotationTargetNodeLabels, value: "role"},
		{key: AnnotationSubnets, value: "subnet-1,,subnet-2"},
		{key: AnnotationSourceRanges, value: "10.0.0.0/33"},
		{key: AnnotationSourceRanges, value: "everyone"},
		{key: AnnotationHCProtocol, value: "UDP"},
		{key: AnnotationHCPort, value: "0"},
		{key: AnnotationHCPort, value: "70000"},
		{key: AnnotationHCPort, value: "no-such-port"},
		{key: AnnotationHCPort, value: "named", ip: true},
		{key: AnnotationHCPath, value: "healthz"},
		{key: AnnotationHCInterval, value: "ten"},
		{key: AnnotationHCInterval, value: "0"},
		{key: AnnotationHCInterval, value: "-5"},
		{key: AnnotationHCTimeout, value: "1.5"},
		{key: AnnotationHCHealthyThreshold, value: "x"},
		{key: AnnotationHCUnhealthyThreshold, value: "99999999999"},
		{key: AnnotationHCSuccessCodes, value: "ok"},
		{key: AnnotationHCSuccessCodes, value: "100"},
		{key: AnnotationHCSuccessCodes, value: "399-200"},
		{key: AnnotationHCSuccessCodes, value: "200,abc"},
		{key: AnnotationSSLCert, value: "arn:aws:acm:us-west-2:000000000000:certificate/a,,b"},
		{key: AnnotationSSLCert, value: ""},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.key, AnnotationPrefix)+"="+tt.value, func(t *testing.T) {
			targetType := "instance"
			if tt.ip {
				targetType = "ip"
			}
			ann := map[string]string{
				AnnotationLoadBalancerType: "external",
				AnnotationTargetType:       targetType,
				AnnotationHCProtocol:       "HTTP",
			}
			ann[tt.key] = tt.value
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", UID: "1", Annotations: ann},
				Spec: corev1.ServiceSpec{
					Type: corev1.ServiceTypeLoadBalancer,
					Ports: []corev1.ServicePort{
						{Name: "web", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
						{Name: "named", Port: 81, TargetPort: intstr.FromString("metrics"), NodePort: 30081, Protocol: corev1.ProtocolTCP},
					},
				},
			}
			st, err := Build(svc, testOptions)
			if err == nil {
				t.Fatalf("Build succeeded, want an error naming %s; stack:\n%+v", tt.key, st)
			}
			var aerr *AnnotationError
			if !errors.As(err, &aerr) {
				t.Fatalf("error %v is not an *AnnotationError", err)
			}
			if aerr.Key != tt.key || aerr.Value != tt.value {
				t.Errorf("error names %s=%q, want %s=%q", aerr.Key, aerr.Value, tt.key, tt.value)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.key) || !strings.Contains(msg, tt.value) {
				t.Errorf("message %q does not name the annotation and its value", msg)
			}
		})
	}
}

func TestBuildInvalidService(t *testing.T) {
	tests := []struct {
		name string
		svc  func(*corev1.Service)
		want string
	}{
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, "has no ports"},
		{"SCTP", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolSCTP }, "SCTP is not supported"},
		{"no node port in instance mode", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 0 }, "has no nodePort"},
		{"port listed twice", func(s *corev1.Service) { s.Spec.Ports = append(s.Spec.Ports, s.Spec.Ports[0]) }, "listed twice"},
		{"bad source range", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.1"} }, "spec.loadBalancerSourceRanges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"},
				Spec: corev1.ServiceSpec{
					Type:  corev1.ServiceTypeLoadBalancer,
					Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}},
				},
			}
			tt.svc(svc)
			_, err := Build(svc, testOptions)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
