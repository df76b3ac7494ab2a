package kubelet

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestProbeTracker(t *testing.T) {
	tests := []struct {
		name    string
		probe   corev1.Probe
		initial bool
		results []bool
		want    []bool
	}{
		{"default thresholds: one success readies", corev1.Probe{}, false,
			[]bool{true, false, false, false, true},
			[]bool{true, true, true, false, true}},
		{"success threshold 2", corev1.Probe{SuccessThreshold: 2}, false,
			[]bool{true, false, true, true},
			[]bool{false, false, false, true}},
		{"failure threshold 1", corev1.Probe{FailureThreshold: 1}, true,
			[]bool{true, false, true},
			[]bool{true, false, true}},
		{"failures must be consecutive", corev1.Probe{FailureThreshold: 2}, true,
			[]bool{false, true, false, false},
			[]bool{true, true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newProbeTracker(&tt.probe, tt.initial)
			var got []bool
			for _, r := range tt.results {
				ok, _ := tr.observe(r)
				got = append(got, ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("states (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	tests := []struct {
		port    intstr.IntOrString
		want    int32
		wantErr bool
	}{
		{intstr.FromInt32(80), 80, false},
		{intstr.FromString("http"), 8080, false},
		{intstr.FromString("9090"), 9090, false},
		{intstr.FromString("metrics"), 0, true},
		{intstr.FromInt32(0), 0, true},
	}
	for _, tt := range tests {
		got, err := resolvePort(tt.port, c)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("resolvePort(%v) = %d, %v; want %d, error %v", tt.port.String(), got, err, tt.want, tt.wantErr)
		}
	}
}

func TestContainerPorts(t *testing.T) {
	c := &corev1.Container{
		Name: "app",
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: 8080},
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			{Name: "sctp", ContainerPort: 9, Protocol: corev1.ProtocolSCTP},
		},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
		LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9901)}}},
	}
	want := []portSpec{{8080, corev1.ProtocolTCP}, {53, corev1.ProtocolUDP}, {53, corev1.ProtocolTCP}, {9901, corev1.ProtocolTCP}}
	if diff := cmp.Diff(want, containerPorts(c)); diff != "" {
		t.Errorf("containerPorts (-want +got):\n%s", diff)
	}
}
