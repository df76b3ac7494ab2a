package nodeproxy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var (
	node1 = Node{Name: "ip-198-18-0-11.us-west-2.compute.internal", IP: netip.MustParseAddr("198.18.0.11")}
	node2 = Node{Name: "ip-198-18-0-12.us-west-2.compute.internal", IP: netip.MustParseAddr("198.18.0.12")}
)

func service(name string, typ corev1.ServiceType, policy corev1.ServiceExternalTrafficPolicy, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: name},
		Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: "198.18.240.10", ExternalTrafficPolicy: policy, Ports: ports},
	}
}

type ep struct {
	ip, node                    string
	ready, serving, terminating bool
}

func slice(svc string, portName string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "demo", Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			NodeName:   ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.ready), Serving: ptr.To(e.serving), Terminating: ptr.To(e.terminating)},
		})
	}
	return s
}

func aps(ss ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

func TestBuild(t *testing.T) {
	svcName := types.NamespacedName{Namespace: "demo", Name: "echo"}
	httpPort := corev1.ServicePort{Name: "http", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}
	twoNodes := slice("echo", "http", 8080,
		ep{"198.18.1.2", node1.Name, true, true, false},
		ep{"198.18.2.2", node2.Name, true, true, false},
		ep{"198.18.2.3", node2.Name, false, false, false})
	clusterFE := func(backends ...string) Frontend {
		return Frontend{Listen: netip.MustParseAddrPort("198.18.240.10:80"), Protocol: "TCP", Service: svcName, PortName: "http", Backends: aps(backends...)}
	}
	nodeFE := func(n Node, local bool, backends ...string) Frontend {
		return Frontend{Listen: netip.AddrPortFrom(n.IP, 30080), Protocol: "TCP", Service: svcName, PortName: "http", Node: n.Name, Local: local, Source: n.IP, Backends: aps(backends...)}
	}
	lb := func(policy corev1.ServiceExternalTrafficPolicy) *corev1.Service {
		s := service("echo", corev1.ServiceTypeLoadBalancer, policy, httpPort)
		s.Spec.HealthCheckNodePort = 32000
		return s
	}
	tests := []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   State
	}{
		{
			name:   "ClusterIP only",
			svc:    service("echo", corev1.ServiceTypeClusterIP, "", corev1.ServicePort{Name: "http", Port: 80}),
			slices: []*discoveryv1.EndpointSlice{twoNodes},
			want:   State{Frontends: []Frontend{clusterFE("198.18.1.2:8080", "198.18.2.2:8080")}},
		},
		{
			name:   "NodePort Cluster: every node, every ready endpoint",
			svc:    service("echo", corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster, httpPort),
			slices: []*discoveryv1.EndpointSlice{twoNodes},
			want: State{Frontends: []Frontend{
				nodeFE(node1, false, "198.18.1.2:8080", "198.18.2.2:8080"),
				nodeFE(node2, false, "198.18.1.2:8080", "198.18.2.2:8080"),
				clusterFE("198.18.1.2:8080", "198.18.2.2:8080"),
			}},
		},
		{
			name:   "LoadBalancer Local: own endpoints and health checks",
			svc:    lb(corev1.ServiceExternalTrafficPolicyLocal),
			slices: []*discoveryv1.EndpointSlice{slice("echo", "http", 8080, ep{"198.18.2.2", node2.Name, true, true, false}, ep{"198.18.2.3", node2.Name, false, false, false})},
			want: State{
				Frontends: []Frontend{nodeFE(node1, true), nodeFE(node2, true, "198.18.2.2:8080"), clusterFE("198.18.2.2:8080")},
				HealthChecks: []HealthCheck{
					{Listen: netip.MustParseAddrPort("198.18.0.11:32000"), Service: svcName, LocalEndpoints: 0},
					{Listen: netip.MustParseAddrPort("198.18.0.12:32000"), Service: svcName, LocalEndpoints: 1},
				},
			},
		},
		{
			name:   "LoadBalancer Cluster has no health check port",
			svc:    lb(corev1.ServiceExternalTrafficPolicyCluster),
			slices: []*discoveryv1.EndpointSlice{twoNodes},
			want: State{Frontends: []Frontend{
				nodeFE(node1, false, "198.18.1.2:8080", "198.18.2.2:8080"),
				nodeFE(node2, false, "198.18.1.2:8080", "198.18.2.2:8080"),
				clusterFE("198.18.1.2:8080", "198.18.2.2:8080"),
			}},
		},
		{
			name: "only terminating endpoints: serving ones are used",
			svc:  service("echo", corev1.ServiceTypeClusterIP, "", corev1.ServicePort{Name: "http", Port: 80}),
			slices: []*discoveryv1.EndpointSlice{slice("echo", "http", 8080,
				ep{"198.18.1.2", node1.Name, false, true, true},
				ep{"198.18.1.3", node1.Name, false, false, true})},
			want: State{Frontends: []Frontend{clusterFE("198.18.1.2:8080")}},
		},
		{
			name:   "port name must match",
			svc:    service("echo", corev1.ServiceTypeClusterIP, "", corev1.ServicePort{Name: "metrics", Port: 80}),
			slices: []*discoveryv1.EndpointSlice{twoNodes},
			want:   State{Frontends: []Frontend{{Listen: netip.MustParseAddrPort("198.18.240.10:80"), Protocol: "TCP", Service: svcName, PortName: "metrics"}}},
		},
		{
			name: "headless service serves nothing",
			svc: func() *corev1.Service {
				s := service("echo", corev1.ServiceTypeClusterIP, "", corev1.ServicePort{Name: "http", Port: 80})
				s.Spec.ClusterIP = corev1.ClusterIPNone
				return s
			}(),
			slices: []*discoveryv1.EndpointSlice{twoNodes},
			want:   State{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build([]Node{node1, node2}, []*corev1.Service{tt.svc}, tt.slices)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Build mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
