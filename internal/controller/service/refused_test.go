package service

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const testCert = "arn:aws:acm:us-west-2:000000000000:certificate/11111111-2222-3333-4444-555555555555"

// tlsTestService has a TCP port 443 named https, a TCP port 80 named http
// and a UDP port 53.
func tlsTestService(ann map[string]string) *corev1.Service {
	all := map[string]string{AnnotationLoadBalancerType: "external", AnnotationTargetType: "ip"}
	for k, v := range ann {
		all[k] = v
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc", UID: "1", Annotations: all},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: 30443, Protocol: corev1.ProtocolTCP},
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(5353), NodePort: 30053, Protocol: corev1.ProtocolUDP},
			},
		},
	}
}

// A Service whose annotations would make a TLS listener fails to build
// with an *AnnotationError marked Unimplemented that names ssl-cert, its
// value and the TLS ports: kelb refuses rather than give those ports a plain
// TCP listener.
func TestBuildRefusesTLSListeners(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ann   map[string]string
		ports string
	}{
		{"ssl-cert alone makes every TCP port TLS", map[string]string{AnnotationSSLCert: testCert}, "443, 80"},
		{"ssl-ports by number", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "443"}, "443"},
		{"ssl-ports by name", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "https"}, "443"},
		{"ssl-ports star", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "*"}, "443, 80"},
		{"with backend protocol ssl and policies", map[string]string{
			AnnotationSSLCert: testCert, AnnotationSSLPorts: "443", AnnotationBackendProtocol: "ssl",
			AnnotationSSLNegotiationPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06", AnnotationALPNPolicy: "HTTP2Preferred",
		}, "443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Build(tlsTestService(tc.ann), testOptions)
			var aerr *AnnotationError
			if !errors.As(err, &aerr) {
				t.Fatalf("Build = %+v, %v; want an *AnnotationError", st, err)
			}
			if aerr.Key != AnnotationSSLCert || aerr.Value != testCert || !aerr.Unimplemented {
				t.Errorf("error names %s=%q (unimplemented %v), want %s=%q unimplemented", aerr.Key, aerr.Value, aerr.Unimplemented, AnnotationSSLCert, testCert)
			}
			msg := err.Error()
			want := []string{AnnotationSSLCert, strconv.Quote(testCert), "port " + tc.ports + " would be a TLS listener", "does not implement it yet and refuses"}
			for k, v := range tc.ann {
				if k != AnnotationSSLCert {
					want = append(want, k+"="+strconv.Quote(v))
				}
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}
}

// TLS annotations that make no listener TLS change nothing, in the AWS Load
// Balancer Controller too: the Service builds as without them, and each is
// reported as ignored.
func TestBuildTLSAnnotationsWithoutTLSListener(t *testing.T) {
	plain, err := Build(tlsTestService(nil), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, ann := range []map[string]string{
		{AnnotationSSLPorts: "443"},
		{AnnotationBackendProtocol: "ssl", AnnotationSSLNegotiationPolicy: "ELBSecurityPolicy-2016-08", AnnotationALPNPolicy: "HTTP2Only"},
		{AnnotationSSLCert: testCert, AnnotationSSLPorts: "8443,dns"},
	} {
		st, err := Build(tlsTestService(ann), testOptions)
		if err != nil {
			t.Errorf("%v: Build: %v", ann, err)
			continue
		}
		if diff := cmp.Diff(plain.Listeners, st.Listeners); diff != "" {
			t.Errorf("%v: listeners differ from the Service without them (-want +got):\n%s", ann, diff)
		}
		if len(st.Warnings) != len(ann) {
			t.Errorf("%v: warnings %q, want one for each annotation", ann, st.Warnings)
		}
		for k := range ann {
			if !strings.Contains(strings.Join(st.Warnings, "\n"), k+"=") {
				t.Errorf("%v: no warning names %s: %q", ann, k, st.Warnings)
			}
		}
	}
}
