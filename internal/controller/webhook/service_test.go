package webhook

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func TestMutateService(t *testing.T) {
	class := "service.k8s.aws/nlb"
	other := "example.com/other"
	empty := ""
	lb := func(c *string) *corev1.Service {
		return &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: c}}
	}
	tests := []struct {
		name     string
		svc, old *corev1.Service
		want     *string
	}{
		{"create without class", lb(nil), nil, &class},
		{"create with empty class", lb(&empty), nil, &class},
		{"create with another class", lb(&other), nil, &other},
		{"create a ClusterIP Service", &corev1.Service{}, nil, nil},
		{"update that drops the class keeps it", lb(nil), lb(&other), &other},
		{"update of a Service that had none", lb(nil), lb(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MutateService(tt.svc, tt.old, class)
			got := tt.svc.Spec.LoadBalancerClass
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("class = %v, want %v", deref(got), deref(tt.want))
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// With the mutator off, a class-less Service passes unchanged: kelb's
// own rules (annotations, --default-load-balancer) judge it.
func TestServiceMutatorOff(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}})
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}}
	for _, enabled := range []bool{false, true} {
		resp := NewServiceMutator(scheme, "service.k8s.aws/nlb", enabled).Handle(context.Background(), req)
		if !resp.Allowed {
			t.Fatalf("enabled=%v: denied: %v", enabled, resp.Result)
		}
		if got := len(resp.Patches) > 0; got != enabled {
			t.Errorf("enabled=%v: patched=%v %v", enabled, got, resp.Patches)
		}
	}
}
