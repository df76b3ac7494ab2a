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

	"github.com/kelb-io/kelb/internal/controller/model"

	"github.com/kelb-io/kelb/internal/controller/deploy"
)

const (
	testCert  = "arn:aws:acm:us-west-2:000000000000:certificate/11111111-2222-3333-4444-555555555555"
	testCert2 = "arn:aws:acm:us-west-2:000000000000:certificate/66666666-7777-8888-9999-000000000000"
)

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

// protocols lists "<port>/<listener protocol>/<target group protocol>".
func protocols(st *Stack) []string {
	var out []string
	for i, l := range st.Listeners {
		out = append(out, strings.Join([]string{itoa(l.Port), l.Protocol, st.TargetGroups[i].Protocol}, "/"))
	}
	return out
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// The TLS annotations choose the TLS listeners and their target groups'
// protocol as the AWS Load Balancer Controller does.
func TestBuildTLSListeners(t *testing.T) {
	for _, tc := range []struct {
		name string
		ann  map[string]string
		want []string
	}{
		{"ssl-cert alone makes every TCP port TLS", map[string]string{AnnotationSSLCert: testCert},
			[]string{"443/TLS/TCP", "80/TLS/TCP", "53/UDP/UDP"}},
		{"ssl-ports by number", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "443"},
			[]string{"443/TLS/TCP", "80/TCP/TCP", "53/UDP/UDP"}},
		{"ssl-ports by name", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "http"},
			[]string{"443/TCP/TCP", "80/TLS/TCP", "53/UDP/UDP"}},
		{"ssl-ports star", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "*"},
			[]string{"443/TLS/TCP", "80/TLS/TCP", "53/UDP/UDP"}},
		{"backend protocol ssl", map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "443", AnnotationBackendProtocol: "ssl"},
			[]string{"443/TLS/TLS", "80/TCP/TCP", "53/UDP/UDP"}},
		{"a TLS Secret alone", map[string]string{AnnotationSSLCertSecrets: "web-tls", AnnotationSSLPorts: "443"},
			[]string{"443/TLS/TCP", "80/TCP/TCP", "53/UDP/UDP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Build(tlsTestService(tc.ann), testOptions)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, protocols(st)); diff != "" {
				t.Errorf("listeners (-want +got):\n%s", diff)
			}
			if len(st.Warnings) != 0 {
				t.Errorf("warnings %q", st.Warnings)
			}
		})
	}

	st, err := Build(tlsTestService(map[string]string{
		AnnotationSSLCert: testCert + "," + testCert2, AnnotationSSLCertSecrets: "a, b", AnnotationSSLPorts: "443",
		AnnotationALPNPolicy: "HTTP2Only", AnnotationSSLNegotiationPolicy: "ELBSecurityPolicy-TLS13-1-3-2021-06",
	}), testOptions)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Listeners[0]
	wantCerts := []model.Certificate{{ARN: testCert}, {ARN: testCert2}, {Secret: "ns/a"}, {Secret: "ns/b"}}
	if diff := cmp.Diff(wantCerts, l.Certificates); diff != "" {
		t.Errorf("certificates (-want +got):\n%s", diff)
	}
	if l.SSLPolicy != "ELBSecurityPolicy-TLS13-1-3-2021-06" || l.ALPNPolicy != "HTTP2Only" {
		t.Errorf("policies %q, %q", l.SSLPolicy, l.ALPNPolicy)
	}
	if p := st.Listeners[1]; p.SSLPolicy != "" || p.Certificates != nil || p.ALPNPolicy != "" {
		t.Errorf("TCP listener has TLS settings: %+v", p)
	}
	st, err = Build(tlsTestService(map[string]string{AnnotationSSLCert: testCert}), BuildOptions{DefaultSSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06"})
	if err != nil || st.Listeners[0].SSLPolicy != "ELBSecurityPolicy-TLS13-1-2-2021-06" {
		t.Errorf("controller default policy: %v, %+v", err, st)
	}
	if st, _ := Build(tlsTestService(map[string]string{AnnotationSSLCert: testCert}), testOptions); st.Listeners[0].SSLPolicy != DefaultSSLPolicy {
		t.Errorf("default policy %q, want %q", st.Listeners[0].SSLPolicy, DefaultSSLPolicy)
	}
}

// A bad TLS annotation fails the build with an *AnnotationError naming it,
// so nothing is deployed and what serves stays as it was.
func TestBuildTLSAnnotationErrors(t *testing.T) {
	withCert := func(k, v string) map[string]string {
		return map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "443", k: v}
	}
	for _, tc := range []struct {
		ann map[string]string
		key string
	}{
		{map[string]string{AnnotationSSLCert: "not-an-arn"}, AnnotationSSLCert},
		{map[string]string{AnnotationSSLCert: testCert + ",,"}, AnnotationSSLCert},
		{map[string]string{AnnotationSSLCert: testCert, AnnotationSSLPorts: "8443"}, AnnotationSSLPorts},
		{map[string]string{AnnotationSSLPorts: "https, metrics"}, AnnotationSSLPorts},
		{map[string]string{AnnotationSSLCertSecrets: "other-ns/tls"}, AnnotationSSLCertSecrets},
		{withCert(AnnotationBackendProtocol, "http"), AnnotationBackendProtocol},
		{withCert(AnnotationALPNPolicy, "HTTP3"), AnnotationALPNPolicy},
		{withCert(AnnotationSSLNegotiationPolicy, "TLS13"), AnnotationSSLNegotiationPolicy},
		{withCert(AnnotationSSLNegotiationPolicy, ""), AnnotationSSLNegotiationPolicy},
	} {
		st, err := Build(tlsTestService(tc.ann), testOptions)
		var aerr *AnnotationError
		if !errors.As(err, &aerr) || aerr.Key != tc.key {
			t.Errorf("%v: Build = %v, %v; want an *AnnotationError naming %s", tc.ann, st, err, tc.key)
		}
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
		{AnnotationBackendProtocol: "http", AnnotationSSLNegotiationPolicy: "nonsense", AnnotationALPNPolicy: "HTTP3"},
		{AnnotationSSLCert: testCert, AnnotationSSLPorts: "dns"},
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

// deploy.Diff brings a listener's TLS settings and certificates in line in place.
func TestDiffTLS(t *testing.T) {
	svc := func(ann map[string]string) *corev1.Service {
		return planService(func(s *corev1.Service) {
			s.Annotations[AnnotationSSLPorts] = "https"
			for k, v := range ann {
				s.Annotations[k] = v
			}
		})
	}
	resolved := func(st *Stack) *Stack {
		for i := range st.Listeners {
			for j, c := range st.Listeners[i].Certificates {
				if c.Secret != "" {
					st.Listeners[i].Certificates[j] = model.Certificate{ARN: "arn:secret:" + c.Secret}
				}
			}
		}
		return st
	}
	base := resolved(mustBuild(t, svc(map[string]string{AnnotationSSLCert: testCert + "," + testCert2})))
	kept := map[string]string{"shop/web:80": "arn:tg:shop/web:80", "shop/web:443": "arn:tg:shop/web:443"}
	tcp := mustBuild(t, planService(nil))
	for _, tc := range []struct {
		name    string
		desired *Stack
		actual  *deploy.Actual
		want    []deploy.ListenerChange
	}{
		{"up to date", base, deployed(base), nil},
		{"TCP becomes TLS", base, deployed(tcp), []deploy.ListenerChange{{
			ARN: "arn:listener:shop/web:443", Port: 443, Protocol: "TLS", DefaultAction: ptr(forwardTo("arn:tg:shop/web:443")),
			SSLPolicy: DefaultSSLPolicy, ALPNPolicy: "None", Certificate: testCert, AddCertificates: []string{testCert2},
		}}},
		{"TLS becomes TCP", tcp, deployed(base), []deploy.ListenerChange{{
			ARN: "arn:listener:shop/web:443", Port: 443, Protocol: "TCP", DefaultAction: ptr(forwardTo("arn:tg:shop/web:443")),
		}}},
		{"new policies and default certificate; a Secret's certificate replaces the other", resolved(mustBuild(t, svc(map[string]string{
			AnnotationSSLCert: testCert2, AnnotationSSLCertSecrets: "tls", AnnotationSSLNegotiationPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06",
			AnnotationALPNPolicy: "HTTP2Preferred",
		}))), deployed(base), []deploy.ListenerChange{{
			ARN: "arn:listener:shop/web:443", Port: 443, Protocol: "TLS", DefaultAction: ptr(forwardTo("arn:tg:shop/web:443")),
			SSLPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06", ALPNPolicy: "HTTP2Preferred", Certificate: testCert2,
			AddCertificates: []string{"arn:secret:shop/tls"},
		}}},
		{"an extra certificate goes", resolved(mustBuild(t, svc(map[string]string{AnnotationSSLCert: testCert}))), deployed(base), []deploy.ListenerChange{{
			ARN: "arn:listener:shop/web:443", Port: 443, RemoveCertificates: []string{testCert2},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := deploy.Diff(tc.desired, tc.actual)
			if diff := cmp.Diff(tc.want, p.ModifyListeners); diff != "" {
				t.Errorf("listener changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(kept, p.TargetGroupARNs); tc.name == "up to date" && diff != "" {
				t.Errorf("target groups (-want +got):\n%s", diff)
			}
		})
	}
}
