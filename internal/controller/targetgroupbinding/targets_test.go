package targetgroupbinding

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

func ptr[T any](v T) *T { return &v }

type ep struct {
	ip, pod           string
	ready, terminated bool
	readyUnset        bool
}

func slice(family discoveryv1.AddressType, ports map[string]int32, eps ...ep) discoveryv1.EndpointSlice {
	s := discoveryv1.EndpointSlice{AddressType: family}
	for name, p := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr(name), Port: ptr(p)})
	}
	for _, e := range eps {
		cond := discoveryv1.EndpointConditions{Ready: ptr(e.ready), Terminating: ptr(e.terminated)}
		if e.readyUnset {
			cond.Ready = nil
		}
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: cond,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: e.pod},
		})
	}
	return s
}

func pod(name, node string, containersReady bool, gates ...corev1.PodConditionType) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	for _, g := range gates {
		p.Spec.ReadinessGates = append(p.Spec.ReadinessGates, corev1.PodReadinessGate{ConditionType: g})
	}
	status := corev1.ConditionFalse
	if containersReady {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: status}}
	return p
}

func node(name, ip string, ready bool, mutate ...func(*corev1.Node)) corev1.Node {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: name},
				{Type: corev1.NodeInternalIP, Address: ip},
			},
		},
	}
	for _, m := range mutate {
		m(&n)
	}
	return n
}

func TestPodTargets(t *testing.T) {
	const gate = corev1.PodConditionType(GatePrefix + "k8s-ui-uinlb-1234")
	httpPort := corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("web")}
	nodes := map[string]*corev1.Node{}
	for _, n := range []corev1.Node{node("n1", "198.18.0.11", true), node("n2", "198.18.0.12", false)} {
		nodes[n.Name] = &n
	}
	v4 := discoveryv1.AddressTypeIPv4
	tests := []struct {
		name        string
		port        corev1.ServicePort
		slices      []discoveryv1.EndpointSlice
		pods        []*corev1.Pod
		want        []Target
		wantPending bool
	}{
		{
			name: "ready endpoints on the named port, sorted, across slices",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{
				slice(v4, map[string]int32{"http": 8080, "metrics": 9090}, ep{ip: "198.18.1.5", pod: "b", ready: true}),
				slice(v4, map[string]int32{"http": 8080}, ep{ip: "198.18.1.3", pod: "a", ready: true}),
			},
			want: []Target{{ID: "198.18.1.3", Port: 8080, Pod: "a"}, {ID: "198.18.1.5", Port: 8080, Pod: "b"}},
		},
		{
			name: "an unnamed single port matches whatever the slice says",
			port: corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)},
			slices: []discoveryv1.EndpointSlice{
				slice(v4, map[string]int32{"": 8080}, ep{ip: "198.18.1.3", pod: "a", readyUnset: true}),
			},
			want: []Target{{ID: "198.18.1.3", Port: 8080, Pod: "a"}},
		},
		{
			name: "terminating endpoints are not targets, so they drain",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{slice(v4, map[string]int32{"http": 8080},
				ep{ip: "198.18.1.3", pod: "a", ready: true},
				ep{ip: "198.18.1.4", pod: "old", terminated: true},
			)},
			pods: []*corev1.Pod{pod("old", "n1", true, gate)},
			want: []Target{{ID: "198.18.1.3", Port: 8080, Pod: "a"}},
		},
		{
			name: "a pod held back only by its gate is a target; one whose containers are not ready waits",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{slice(v4, map[string]int32{"http": 8080},
				ep{ip: "198.18.1.3", pod: "gated"},
				ep{ip: "198.18.1.4", pod: "starting"},
			)},
			pods:        []*corev1.Pod{pod("gated", "n1", true, gate), pod("starting", "n1", false, gate)},
			want:        []Target{{ID: "198.18.1.3", Port: 8080, Pod: "gated"}},
			wantPending: true,
		},
		{
			name: "a not-ready pod without the gate and containers not ready neither counts nor waits",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{slice(v4, map[string]int32{"http": 8080},
				ep{ip: "198.18.1.4", pod: "starting"},
			)},
			pods: []*corev1.Pod{pod("starting", "n1", false)},
		},
		{
			name: "an unready pod on a node that is not Ready is left out",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{slice(v4, map[string]int32{"http": 8080},
				ep{ip: "198.18.2.3", pod: "far"},
			)},
			pods: []*corev1.Pod{pod("far", "n2", true, gate)},
		},
		{
			name: "a pod not in the cache yet is waited for",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{slice(v4, map[string]int32{"http": 8080},
				ep{ip: "198.18.1.9", pod: "new"},
			)},
			wantPending: true,
		},
		{
			name: "IPv6 slices are skipped for an IPv4 target group",
			port: httpPort,
			slices: []discoveryv1.EndpointSlice{
				slice(discoveryv1.AddressTypeIPv6, map[string]int32{"http": 8080}, ep{ip: "fd00::3", pod: "a", ready: true}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := map[string]*corev1.Pod{}
			for _, p := range tt.pods {
				pods[p.Name] = p
			}
			got, pending := PodTargets(PodInput{ServicePort: tt.port, Slices: tt.slices, Pods: pods, Nodes: nodes, Gate: gate})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if pending != tt.wantPending {
				t.Errorf("pending = %v, want %v", pending, tt.wantPending)
			}
		})
	}
}

func TestNodeTargets(t *testing.T) {
	nodes := []corev1.Node{
		node("n3", "198.18.0.13", true),
		node("n1", "198.18.0.11", true, func(n *corev1.Node) { n.Labels["pool"] = "edge" }),
		node("n2", "198.18.0.12", false),
		node("n4", "198.18.0.14", true, func(n *corev1.Node) { n.Spec.Unschedulable = true }),
		node("n5", "198.18.0.15", true, func(n *corev1.Node) { n.Labels[LabelExcludeFromLB] = "" }),
		node("n6", "198.18.0.16", true, func(n *corev1.Node) { n.Status.Addresses = n.Status.Addresses[:1] }),
	}
	tests := []struct {
		name string
		sel  labels.Selector
		want []Target
	}{
		{
			name: "Ready, schedulable, not excluded, with an InternalIP",
			sel:  labels.Everything(),
			want: []Target{{ID: "198.18.0.11", Port: 30080}, {ID: "198.18.0.13", Port: 30080}},
		},
		{
			name: "nodeSelector",
			sel:  labels.SelectorFromSet(labels.Set{"pool": "edge"}),
			want: []Target{{ID: "198.18.0.11", Port: 30080}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NodeTargets(nodes, tt.sel, 30080, false)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	reg := func(id string, port int32, state elbv2types.TargetHealthStateEnum) Registered {
		return Registered{Key: TargetKey{ID: id, Port: port}, Health: TargetHealth{State: state}}
	}
	tests := []struct {
		name    string
		desired []Target
		current []Registered
		owned   func(TargetKey) bool
		want    Changes
	}{
		{
			name:    "in step: nothing to do",
			desired: []Target{{ID: "198.18.1.3", Port: 8080, Pod: "a"}},
			current: []Registered{reg("198.18.1.3", 8080, elbv2types.TargetHealthStateEnumHealthy)},
		},
		{
			name:    "scale up and down",
			desired: []Target{{ID: "198.18.1.3", Port: 8080}, {ID: "198.18.1.4", Port: 8080}},
			current: []Registered{reg("198.18.1.3", 8080, elbv2types.TargetHealthStateEnumHealthy), reg("198.18.1.2", 8080, elbv2types.TargetHealthStateEnumUnhealthy)},
			want: Changes{
				Register:   []Target{{ID: "198.18.1.4", Port: 8080}},
				Deregister: []Target{{ID: "198.18.1.2", Port: 8080}},
			},
		},
		{
			name:    "a port change is a new target",
			desired: []Target{{ID: "198.18.1.3", Port: 9090}},
			current: []Registered{reg("198.18.1.3", 8080, elbv2types.TargetHealthStateEnumHealthy)},
			want: Changes{
				Register:   []Target{{ID: "198.18.1.3", Port: 9090}},
				Deregister: []Target{{ID: "198.18.1.3", Port: 8080}},
			},
		},
		{
			name:    "draining targets are not deregistered again, and come back when desired",
			desired: []Target{{ID: "198.18.1.3", Port: 8080}},
			current: []Registered{reg("198.18.1.3", 8080, elbv2types.TargetHealthStateEnumDraining), reg("198.18.1.4", 8080, elbv2types.TargetHealthStateEnumUnhealthyDraining)},
			want:    Changes{Register: []Target{{ID: "198.18.1.3", Port: 8080}}},
		},
		{
			name:    "a shared target group keeps targets this cluster does not know",
			current: []Registered{reg("198.18.1.3", 8080, elbv2types.TargetHealthStateEnumHealthy), reg("10.0.0.7", 8080, elbv2types.TargetHealthStateEnumHealthy)},
			owned:   func(k TargetKey) bool { return k.ID == "198.18.1.3" },
			want:    Changes{Deregister: []Target{{ID: "198.18.1.3", Port: 8080}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.desired, tt.current, tt.owned)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGateCondition(t *testing.T) {
	gate := GateFor("tgb")
	tests := []struct {
		name   string
		health TargetHealth
		known  bool
		want   corev1.PodCondition
	}{
		{"healthy", TargetHealth{State: elbv2types.TargetHealthStateEnumHealthy}, true, corev1.PodCondition{Type: gate, Status: corev1.ConditionTrue}},
		{"initial", TargetHealth{State: elbv2types.TargetHealthStateEnumInitial, Reason: elbv2types.TargetHealthReasonEnumInitialHealthChecking, Description: "Initial health checks in progress"}, true,
			corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "Elb.InitialHealthChecking", Message: "Initial health checks in progress"}},
		{"unhealthy", TargetHealth{State: elbv2types.TargetHealthStateEnumUnhealthy, Reason: elbv2types.TargetHealthReasonEnumTimeout, Description: "Request timed out"}, true,
			corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "Target.Timeout", Message: "Request timed out"}},
		{"just registered", TargetHealth{}, false,
			corev1.PodCondition{Type: gate, Status: corev1.ConditionFalse, Reason: "Elb.RegistrationInProgress", Message: "Target registration is in progress"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, GateCondition(gate, tt.health, tt.known)); diff != "" {
				t.Errorf("condition (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckpoint(t *testing.T) {
	a := []Target{{ID: "198.18.1.3", Port: 8080, Pod: "a"}}
	tests := []struct {
		name       string
		arn1, arn2 string
		t1, t2     []Target
		same       bool
	}{
		{"same targets, other pod names", "arn:tg/1", "arn:tg/1", a, []Target{{ID: "198.18.1.3", Port: 8080, Pod: "b"}}, true},
		{"another target group", "arn:tg/1", "arn:tg/2", a, a, false},
		{"another port", "arn:tg/1", "arn:tg/1", a, []Target{{ID: "198.18.1.3", Port: 8081}}, false},
		{"no targets", "arn:tg/1", "arn:tg/1", a, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checkpoint(tt.arn1, tt.t1) == Checkpoint(tt.arn2, tt.t2); got != tt.same {
				t.Errorf("checkpoints equal = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestFindServicePort(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}}}
	for _, ref := range []intstr.IntOrString{intstr.FromInt32(443), intstr.FromString("https")} {
		p, err := FindServicePort(svc, ref)
		if err != nil || p.Name != "https" {
			t.Errorf("FindServicePort(%v) = %v, %v", ref.String(), p, err)
		}
	}
	if _, err := FindServicePort(svc, intstr.FromInt32(8080)); err == nil {
		t.Error("FindServicePort(8080): no error")
	}
}
