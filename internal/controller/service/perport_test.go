package service

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// perPortService has a TCP port 80, a TCP_UDP port 53 and a UDP port 5000.
func perPortService(ann map[string]string) *corev1.Service {
	all := map[string]string{
		AnnotationLoadBalancerType: "external",
		AnnotationTargetType:       "instance",
	}
	for k, v := range ann {
		all[k] = v
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", UID: "1", Annotations: all},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{
				{Name: "web", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "dns-tcp", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolTCP},
				{Name: "dns-udp", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP},
				{Name: "syslog", Port: 5000, NodePort: 30500, Protocol: corev1.ProtocolUDP},
			},
		},
	}
}

// The per-listener target group attributes accept the AWS Load Balancer
// Controller's .<port> and kelb's .<PROTOCOL>-<port>; each reaches only its
// own target group, over the Service-wide attributes.
func TestTargetGroupAttributesPerPort(t *testing.T) {
	const delay = "deregistration_delay.timeout_seconds"
	tests := []struct {
		name string
		ann  map[string]string
		// want is the delay of each target group by its port (the node
		// port, in instance mode); "" is unset.
		want map[int32]string
	}{
		{"none", nil, map[int32]string{30080: "", 30053: "", 30500: ""}},
		{"service-wide", map[string]string{AnnotationTargetGroupAttrs: delay + "=10"}, map[int32]string{30080: "10", 30053: "10", 30500: "10"}},
		{"port number", map[string]string{AnnotationTargetGroupAttrs + ".80": delay + "=5"}, map[int32]string{30080: "5", 30053: "", 30500: ""}},
		{"port number of a TCP_UDP listener", map[string]string{AnnotationTargetGroupAttrs + ".53": delay + "=7"}, map[int32]string{30080: "", 30053: "7", 30500: ""}},
		{"port number of a UDP listener", map[string]string{AnnotationTargetGroupAttrs + ".5000": delay + "=8"}, map[int32]string{30080: "", 30053: "", 30500: "8"}},
		{"kelb alias", map[string]string{AnnotationTargetGroupAttrs + ".TCP-80": delay + "=5"}, map[int32]string{30080: "5", 30053: "", 30500: ""}},
		{"kelb alias of a TCP_UDP listener", map[string]string{AnnotationTargetGroupAttrs + ".TCP_UDP-53": delay + "=7"}, map[int32]string{30080: "", 30053: "7", 30500: ""}},
		{"both forms on different listeners", map[string]string{
			AnnotationTargetGroupAttrs:               delay + "=10",
			AnnotationTargetGroupAttrs + ".80":       delay + "=5",
			AnnotationTargetGroupAttrs + ".UDP-5000": delay + "=8",
		}, map[int32]string{30080: "5", 30053: "10", 30500: "8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Build(perPortService(tt.ann), testOptions)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(st.TargetGroups) != len(tt.want) {
				t.Fatalf("%d target groups, want %d", len(st.TargetGroups), len(tt.want))
			}
			for _, tg := range st.TargetGroups {
				want, ok := tt.want[tg.Port]
				if !ok {
					t.Fatalf("target group on port %d not expected", tg.Port)
				}
				if got := tg.Attributes[delay]; got != want {
					t.Errorf("target group on port %d: %s=%q, want %q", tg.Port, delay, got, want)
				}
			}
			if len(st.Warnings) != 0 {
				t.Errorf("warnings %q, want none", st.Warnings)
			}
		})
	}
}

// A per-listener suffix that names no listener, or a listener named by both
// forms, is an error naming the annotation.
func TestTargetGroupAttributesPerPortErrors(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		key  string
		want string
	}{
		{"no such port", map[string]string{AnnotationTargetGroupAttrs + ".81": "a=1"}, AnnotationTargetGroupAttrs + ".81", "names no listener"},
		{"no such listener", map[string]string{AnnotationTargetGroupAttrs + ".UDP-80": "a=1"}, AnnotationTargetGroupAttrs + ".UDP-80", "names no listener"},
		{"protocol of a merged port", map[string]string{AnnotationTargetGroupAttrs + ".TCP-53": "a=1"}, AnnotationTargetGroupAttrs + ".TCP-53", "names no listener"},
		{"both forms", map[string]string{
			AnnotationTargetGroupAttrs + ".80":     "a=1",
			AnnotationTargetGroupAttrs + ".TCP-80": "a=2",
		}, AnnotationTargetGroupAttrs + ".TCP-80", "also set by " + AnnotationTargetGroupAttrs + ".80"},
		// The listener attributes keep the AWS Load Balancer Controller's
		// <PROTOCOL>-<port> only.
		{"listener attributes by number", map[string]string{AnnotationListenerAttrs + ".80": "tcp.idle_timeout.seconds=400"}, AnnotationListenerAttrs + ".80", "names no listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(perPortService(tt.ann), testOptions)
			var aerr *AnnotationError
			if !errors.As(err, &aerr) {
				t.Fatalf("Build error %v, want an *AnnotationError", err)
			}
			if aerr.Key != tt.key {
				t.Errorf("error names %s, want %s", aerr.Key, tt.key)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q does not name %s and say %q", err, tt.key, tt.want)
			}
		})
	}
}

// An aws-load-balancer- annotation kelb does not read is reported as
// ignored, never dropped silently; annotations kelb reads, and other
// prefixes, are not.
func TestUnknownAnnotationsReported(t *testing.T) {
	tests := []struct {
		key     string
		warning bool
	}{
		{AnnotationPrefix + "aws-load-balancer-target-control-port", true},
		{AnnotationPrefix + "aws-load-balancer-connection-idle-timeout", true},
		{AnnotationPrefix + "aws-load-balancer-some-future-setting", true},
		{AnnotationPrefix + "aws-load-balancer-eip-allocations", true},
		{AnnotationPrefix + "aws-load-balancer-healthcheck-path", false},
		{AnnotationTargetGroupAttrs + ".80", false},
		{AnnotationListenerAttrs + ".TCP-80", false},
		{AnnotationPrefix + "other-controller-setting", false},
		{"example.com/aws-load-balancer-note", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			value := "x=1"
			if tt.key == AnnotationPrefix+"aws-load-balancer-healthcheck-path" {
				value = "/healthz"
			}
			st, err := Build(perPortService(map[string]string{tt.key: value}), testOptions)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got := strings.Join(st.Warnings, "\n")
			named := strings.Contains(got, tt.key+"=") && strings.Contains(got, "is ignored")
			if named != tt.warning {
				t.Errorf("warnings %q: reported=%v, want %v", st.Warnings, named, tt.warning)
			}
		})
	}
}
